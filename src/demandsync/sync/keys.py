"""Jira issue keys in free text: the strongest link signal there is."""

from __future__ import annotations

import re

#: A Jira key: project key (letter, then letters/digits/_), dash, number.
#: Bounded by non-word characters so "ABC-12x" or "xPROD-7" are not keys.
ISSUE_KEY = re.compile(r"(?<![A-Za-z0-9_])([A-Z][A-Z0-9_]{0,19}-[1-9][0-9]{0,9})(?![A-Za-z0-9_])")


def find_issue_keys(text: str | None) -> list[str]:
    """Every distinct issue key in ``text``, in order of appearance."""
    if not text:
        return []
    return list(dict.fromkeys(ISSUE_KEY.findall(text)))


def is_issue_key(value: str) -> bool:
    return ISSUE_KEY.fullmatch(value) is not None
