"""Who gave a piece of feedback: the requester cell, a voting tool's people, anonymous placeholders.

A requester is kept as written except that an e-mail is trimmed and lowercased, so one person
is one identity across sources; a placeholder the map lists as ``anonymous`` (or an all-zero id,
as consent-less Hotjar users get) means nobody in particular and becomes None. A voting tool's
record lists its people as plain dicts (docs/writing-a-connector.md); each becomes a
:class:`~demandsync.domain.Person` keyed by e-mail, else by ``<source>:<id>``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from demandsync.domain import PERSON_ROLES, Person
from demandsync.mappings.values import text_of

_ALL_ZERO = re.compile(r"^[0\-]+$")


def is_anonymous(value: str, placeholders: Sequence[str]) -> bool:
    """Whether a requester or id cell says "we do not know who": a placeholder of the map, or all zeros."""
    v = value.strip()
    # The regex only when it can match (a leading 0 or -): this runs twice per row.
    return v.casefold() in _folded(tuple(placeholders)) or (v[:1] in ("0", "-") and bool(_ALL_ZERO.match(v)))


@functools.lru_cache(maxsize=64)
def _folded(placeholders: tuple[str, ...]) -> frozenset[str]:
    """Case-folded placeholders, computed once per mapping rather than once per row."""
    return frozenset(p.casefold() for p in placeholders)


def anonymous_check(placeholders: Sequence[str]) -> Callable[[str], bool]:
    """:func:`is_anonymous` for one map and a value already stripped, made once per plan: the
    compiled row function (``engine._compile_rows``) asks it of every row. Built here, where the
    regex is this module's own name (why that matters: ``engine._SPACE``)."""
    folded = _folded(tuple(placeholders))

    def anonymous(value: str) -> bool:  # is_anonymous on a stripped value
        return value.casefold() in folded or (value[:1] in ("0", "-") and _ALL_ZERO.match(value) is not None)

    return anonymous


def normalised_requester(value: str, placeholders: Sequence[str]) -> str | None:
    """Emails trimmed and lowercased; anonymous placeholders become None."""
    value = value.strip()
    if is_anonymous(value, placeholders):
        return None
    return value.lower() if "@" in value else value


def person_from_entry(entry: Any, source: str, placeholders: Sequence[str]) -> Person | None:
    """A :class:`Person` from a connector's ``{id, email, name, account, weight, role}``; None if unusable."""
    if not isinstance(entry, Mapping):
        return None
    email = normalised_requester(text_of(entry.get("email")), placeholders)
    email = email if email and "@" in email else None
    uid = text_of(entry.get("id")).strip()
    if not email and not uid:
        return None
    weight, role = entry.get("weight", 1), entry.get("role", "voter")
    if type(weight) is not int or weight < 0 or role not in PERSON_ROLES:
        return None
    name = text_of(entry.get("name")).strip() or None
    account = text_of(entry.get("account")).strip() or None
    return Person(identity=email or f"{source}:{uid}", name=name, email=email, account=account,
                  weight=weight, role=role)
