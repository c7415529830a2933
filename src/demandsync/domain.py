"""The domain objects every stage passes around.

They are plain dataclasses on purpose: pydantic lives at the edges (config,
API payloads), and inside the pipeline a newcomer should see data, not magic.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, Literal, get_args

# How an item came to be linked to an epic, strongest first. A manual decision
# always wins; the rest are recomputed on every run.
LinkMethod = Literal["manual", "explicit", "rule", "similarity"]
MANUAL: Final[LinkMethod] = "manual"
EXPLICIT: Final[LinkMethod] = "explicit"
RULE: Final[LinkMethod] = "rule"
SIMILARITY: Final[LinkMethod] = "similarity"
LINK_METHODS: tuple[LinkMethod, ...] = get_args(LinkMethod)

# Only accepted links count. Suggested ones wait for a person (``demandsync review``);
# rejected ones are manual decisions that an item is *not* about an epic.
LinkState = Literal["accepted", "suggested", "rejected"]
ACCEPTED: Final[LinkState] = "accepted"
SUGGESTED: Final[LinkState] = "suggested"
REJECTED: Final[LinkState] = "rejected"
LINK_STATES: tuple[LinkState, ...] = get_args(LinkState)


def link_state(text: str) -> LinkState | None:
    """``text`` as a link state (as typed on a command line or in an export), or None."""
    wanted = text.strip().lower()
    return next((s for s in LINK_STATES if s == wanted), None)


@dataclass(slots=True)
class ItemToLink:
    """What the linker needs of one stored item (the store hands them out in batches).

    Not frozen: a frozen dataclass sets each field through ``object.__setattr__``, and the store
    builds one per item to link (100,000 on a first link: 0.13 -> 0.08 s); it holds a list, so it
    was never hashable either."""

    item_id: int
    source: str
    text: str
    epic_hint: list[str]
    #: Known to get no key or rule link: unchanged since a linker with the same epic keys and rules
    #: found none (and no manual decision on it), so the linker goes straight to similarity.
    unclaimed: bool = False
    #: The fingerprint of the linker that last linked it (None: never linked, or changed since).
    link_fp: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """Item ↔ epic: how it was linked, how sure, and whether it counts."""

    item_id: int
    epic_key: str
    method: LinkMethod
    state: LinkState
    score: float
    #: Why, for a person: the rule keyword that matched (``keyword 'sso'``), ``cli``, ``review``.
    note: str | None = None


#: A person's part in a request: who raised it, or who voted for it.
PERSON_ROLES = ("author", "voter")


@dataclass(frozen=True, slots=True)
class Person:
    """Someone behind a request: its author or one of its voters.

    A voting tool's post/feature/suggestion is *one* request carrying many
    people (see README "How it counts"); a survey answer or a ticket carries
    none and keeps its single ``FeedbackItem.requester`` instead.

    - ``identity``: how demand tells people apart across sources: the e-mail
      (lower-cased) when the source knows it, else ``"<source>:<the tool's user id>"``.
      The mapping engine builds it; a connector only says ``id``/``email``.
    - ``weight``: the votes this person gives the request (1, or the tool's own
      weight such as a Pendo Feedback ``quantity``). Only voters' weights count.
    - ``role``: ``"voter"`` (counts a requester and ``weight`` votes) or
      ``"author"`` (a requester who cast no counted vote). Staff who typed a
      request in on a customer's behalf are left out by the connector.

    Connectors put people in a record as a list of plain dicts under
    ``people`` (keys ``id``, ``email``, ``name``, ``account``, ``weight``,
    ``role``), and the preset maps it with ``people = "people"``.
    """

    identity: str
    name: str | None = None
    email: str | None = None
    account: str | None = None
    weight: int = 1
    role: str = "voter"

    @property
    def votes(self) -> int:
        return self.weight if self.role == "voter" else 0


@dataclass(slots=True)
class FeedbackItem:
    """One piece of customer feedback, as the mapping engine made it.

    Identity is ``(source, external_id)``: re-importing the same row or API
    object updates this item instead of adding a second one.

    ``people`` is None for feedback given by one person (``requester``); a
    list (possibly empty: a request nobody stands behind any more) for a
    voting tool's request, whose requesters and votes come from it.
    """

    source: str
    external_id: str
    text: str
    requester: str | None = None
    account: str | None = None
    created_at: datetime | None = None
    url: str | None = None
    tags: list[str] = field(default_factory=list)
    epic_hint: list[str] = field(default_factory=list)
    votes: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    people: list[Person] | None = None


@dataclass(slots=True)
class Epic:
    """A Jira epic as demandsync needs it: text to link against, and the
    current values of the fields it writes."""

    key: str
    id: str
    summary: str
    description: str = ""
    labels: list[str] = field(default_factory=list)
    status_category: str | None = None
    project: str | None = None
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Quarantined:
    """A record that could not become a FeedbackItem, kept with a reason an
    admin can act on. ``locator`` says where it came from (file and row, or
    API object id)."""

    source: str
    locator: str
    reason: str
    raw: str = ""


#: A connector's resume point, saved in the store after a successful pull.
#: Opaque to the engine; must be JSON-serialisable.
Cursor = dict[str, Any]


@dataclass(slots=True)
class Record:
    """One raw record, keyed the way its system names things.

    ``data`` maps column names (files; duplicate names made unique as
    ``Other``, ``Other#2``) or JSON keys (APIs; the mapping engine follows dotted
    paths) to values. ``locator`` tells an admin where it came from:
    ``"exit-survey.csv row 17"`` or ``"canny post 5f3a…"``.
    """

    data: Mapping[str, Any]
    locator: str
    #: Set by a source that knows the record's format (e.g. a file whose header
    #: matched a preset); the engine uses it when the config names no preset.
    preset: str | None = None


@dataclass(slots=True)
class TrackerField:
    """A Jira field as ``GET /rest/api/3/field`` describes it."""

    id: str
    name: str
    #: ``schema.type``: number, string, date, datetime, array, option, … ("" when absent)
    type: str = ""
    custom: bool = False
    items: str = ""
    custom_type: str = ""


@dataclass(slots=True)
class FieldError:
    """Why Jira refused one field of a write, in words an admin can act on."""

    field: str
    message: str


# -- the managed summary: what it says, shared by the engine (which decides) and each
#    tracker (which renders it in its own format) ---------------------------------------

SUMMARY_FOOTER = "Managed by demandsync — edits will be overwritten."
MARKER_RE = re.compile(r"demandsync/summary/([A-Za-z][A-Za-z0-9_]*-(?:[A-Z]-)?\d+)/([0-9a-f]{12})")


def marker(epic_key: str, digest: str) -> str:
    return f"demandsync/summary/{epic_key}/{digest}"


def find_marker(text: str) -> tuple[str, str] | None:
    """``(epic key, content hash)`` of the marker in a comment's or field's text, if any."""
    m = MARKER_RE.search(text or "")
    return (m.group(1), m.group(2)) if m else None


@dataclass(frozen=True, slots=True)
class SummaryRequest:
    quote: str
    who: str | None
    account: str | None
    url: str | None
    votes: int


@dataclass(frozen=True, slots=True)
class SummaryContent:
    """Everything shown except the date: its hash decides whether Jira is touched."""

    epic_key: str
    requests: int
    requesters: int
    accounts: int
    votes: int
    last_requested: str | None
    requests_30d: int
    requests_90d: int
    sources: str
    top: tuple[SummaryRequest, ...]

    def digest(self) -> str:
        doc = json.dumps(
            [self.requests, self.requesters, self.accounts, self.votes, self.last_requested, self.requests_30d,
             self.requests_90d, self.sources, [[r.quote, r.who, r.account, r.url, r.votes] for r in self.top]],
            ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(doc.encode()).hexdigest()[:12]


def figure_line(c: SummaryContent) -> list[tuple[str, bool]]:
    """``(text, bold)`` runs of the headline."""
    def n(count: int, word: str) -> str:
        return f"{count} {word}{'' if count == 1 else 's'}"
    return [(n(c.requests, "request"), True),
            (" · " + " · ".join([n(c.requesters, "requester"), n(c.accounts, "account"), n(c.votes, "vote")]), False)]


def recency_line(c: SummaryContent) -> str:
    last = f"Last requested {c.last_requested}" if c.last_requested else "Never requested"
    return f"{last} · last 30 days {c.requests_30d} · last 90 days {c.requests_90d}"


def requester_line(r: SummaryRequest) -> str:
    return ", ".join(p for p in (r.who, r.account) if p) or "anonymous"


def footer(changed_on: date) -> str:
    return f"Last changed by demandsync on {changed_on.isoformat()}. {SUMMARY_FOOTER}"
