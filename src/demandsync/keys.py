"""Jira issue keys in free text: the strongest link signal there is.

One definition for the whole package: the mapping engine (an ``epic`` column),
the API connectors (linked issues, URLs) and the linker (keys typed anywhere in
an item's text) must agree on what a key is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

#: A Jira key: project key (a letter, then at least one more letter, digit or
#: ``_``: Jira's own minimum is two characters), a dash, a number without a
#: leading zero. Bounded by non-word characters, so ``xPROD-7`` or ``PROD-7x``
#: are not keys, while ``(PROD-7)``, ``/browse/PROD-7`` and ``PROD-7,`` are.
ISSUE_KEY = re.compile(r"(?<![A-Za-z0-9_])([A-Z][A-Z0-9_]{1,19}-[1-9][0-9]{0,9})(?![A-Za-z0-9_])")


def find_issue_keys(text: str | None) -> list[str]:
    """Every distinct issue key in ``text``, in order of appearance."""
    if not text:
        return []
    return list(dict.fromkeys(ISSUE_KEY.findall(text)))


def keys_in(values: Iterable[Any]) -> list[str]:
    """Every distinct issue key in the strings among ``values`` (others are ignored), in order."""
    return list(dict.fromkeys(k for v in values if isinstance(v, str) for k in ISSUE_KEY.findall(v)))


def is_issue_key(value: str) -> bool:
    return ISSUE_KEY.fullmatch(value) is not None
