"""What an admin (or a preset) writes to say which column means what.

These are the pydantic models for ``[sources.map]`` and for the preset TOML
files; unknown keys are errors so a typo (``requestor``) is named, not ignored.

Column references, in every key:

* ``"Date Submitted"``            the column with that name (case-insensitive if unique);
* ``"Other#2"``                   the second column called ``Other``;
* ``"#12"``                       the 12th column, counting from 1;
* ``"fields.reporter.emailAddress"``  a dotted path into a JSON record;
* ``"?Email"``                    a leading ``?`` makes a column optional: when the file
                                  has no such column the key is just empty (presets use
                                  this for columns not every export has; a trailing ``?``
                                  would clash with questions, which end in one);
* a list                          ``text``/``id``/``tags``/``epic`` use every entry;
                                  the other keys take the first non-empty one;
* ``{ questions = true }``        (``text``, ``tags``, ``identity.if_anonymous``) every
                                  column that is not the preset's ``meta``, not used by
                                  another key and not matched by ``exclude``;
* ``{ match = "regex" }``         every column whose name (or alias, e.g. a Qualtrics
                                  ImportId) matches.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Requester values that mean "we do not know who": consent-less Hotjar users,
#: anonymous Typeform/Qualtrics respondents. Any all-zero id counts too.
DEFAULT_ANONYMOUS = ["", "00000000", "00000000-0000-0000-0000-000000000000", "anonymous"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Select(_Strict):
    """A set of columns chosen by rule instead of by name (see module docstring)."""

    questions: bool = False
    match: str | None = None
    #: Regexes; a column whose name matches one is left out.
    exclude: list[str] = Field(default_factory=list)
    #: Prefix each answer with its question (off: the text is the answer alone).
    label: bool = False
    #: Tell open answers from names, companies, scores and choices by header and
    #: content (``mappings/columns.py``); those become requester, account, attributes.
    content: bool = True

    @field_validator("match")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            re.compile(value)
        return value

    @field_validator("exclude")
    @classmethod
    def _regexes(cls, value: list[str]) -> list[str]:
        for item in value:
            re.compile(item)
        return value


Ref = str | list[str]
Refs = str | list[str] | Select


class FieldMapping(_Strict):
    """Our FeedbackItem field -> the source's column(s), plus how to read values."""

    id: Ref | None = None
    text: Refs | None = None
    requester: Ref | None = None
    account: Ref | None = None
    created_at: Ref | None = None
    url: Ref | None = None
    tags: Refs | None = None
    epic: Ref | None = None
    votes: Ref | None = None
    #: JSON records only: the key holding the request's people, a list of
    #: ``{id, email, name, account, weight, role}`` dicts (see ``domain.Person``).
    #: Set for a voting tool's request; its requesters and votes then come from it.
    people: str | None = None
    #: Our attribute name (plan, arr, country, …) -> column.
    extra: dict[str, Ref] = Field(default_factory=dict)

    #: strftime format(s) tried in order; default: ISO and common export formats.
    date_format: str | list[str] | None = None
    #: For ``03/04/2024``: True = 3 April, False = 4 March, None = refuse to guess.
    dayfirst: bool | None = None
    #: Zone of dates that carry none (IANA name).
    timezone: str = "UTC"
    anonymous: list[str] = Field(default_factory=lambda: list(DEFAULT_ANONYMOUS))
    #: Column -> values (case-insensitive) that mean "this response does not count"
    #: (Qualtrics previews and unfinished responses); such rows are skipped, not
    #: quarantined. ``skip = {}`` counts them all. A leading ``?`` makes the column optional.
    skip: dict[str, list[str]] = Field(default_factory=dict)
    #: Longest item text (all text columns joined); a longer record is quarantined, so
    #: one pasted log or hostile blob never reaches linking. About 15,000 words.
    max_text_chars: int = Field(default=100_000, ge=1)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like 'Europe/Berlin')") from exc
        return value


#: Keys of FieldMapping that name columns (the rest are reading options).
COLUMN_KEYS = ("id", "text", "requester", "account", "created_at", "url", "tags", "epic", "votes", "extra")


class Identity(_Strict):
    """Extra identity rules beyond ``map.id``.

    ``if_anonymous``: when the first id column holds an anonymous placeholder
    (e.g. Hotjar's all-zero user id without consent), these columns' values are
    hashed into the id too, so two anonymous answers in the same second differ.
    """

    if_anonymous: list[str | Select] = Field(default_factory=list)


HeaderStyle = Literal["single", "combine", "aliases"]


class Detect(_Strict):
    """How to recognise an export from its first rows, and how to read its header."""

    #: Column names that must all be in the first row.
    required: list[str] = Field(default_factory=list)
    #: Regexes that must each match some cell of the first row.
    patterns: list[str] = Field(default_factory=list)
    #: Regex the first cell of the first row must match.
    first_column: str | None = None
    #: Row number (1-based) -> regex some cell of that row must match.
    rows: dict[int, str] = Field(default_factory=dict)
    header_rows: int = Field(default=1, ge=1, le=5)
    header: HeaderStyle = "single"
    #: For ``header = "aliases"``: which header row gives the column names.
    name_row: int = Field(default=1, ge=1)
    #: Added to the score: for a layout that is a superset of another's (Hotjar
    #: feedback carries the survey export's metadata columns plus its own).
    priority: int = 0

    def conditions(self) -> int:
        """How many rules there are; a preset with none is never detected."""
        return len(self.required) + len(self.patterns) + len(self.rows) + (self.first_column is not None)

    def score(self) -> int:
        """How specific this rule is: the highest-scoring matching preset wins."""
        return self.conditions() + self.priority


class Preset(_Strict):
    """One ``mappings/presets/<name>.toml``."""

    preset: str
    description: str
    #: Columns that describe the response rather than answer a question.
    meta: list[str] = Field(default_factory=list)
    detect: Detect | None = None
    map: FieldMapping = Field(default_factory=FieldMapping)
    identity: Identity = Field(default_factory=Identity)

    def map_dict(self) -> dict[str, Any]:
        """The map keys this preset sets, ready to have an admin's overrides merged over."""
        return self.map.model_dump(exclude_unset=True)
