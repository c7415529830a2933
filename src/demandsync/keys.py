"""Tracker keys in free text: the strongest link signal there is.

One definition for the whole package: the mapping engine (an ``epic`` column),
the API connectors (linked issues, URLs) and the linker (keys typed anywhere in
an item's text) must agree on what a key is.

Two trackers' keys share one pattern: a Jira issue key (``PROD-7``) and an
Aha! reference number, which is the same shape for a feature (``APP-12``) and
carries one capital letter between prefix and number for other records
(``APP-E-3`` an epic, ``APP-I-7`` an idea, ``APP-R-2`` a release). Aha!'s own
OpenAPI document shows these in ``reference_num``, ``epic_reference_num`` and
``release_reference_num`` of ``GET /features/{id}`` (https://www.aha.io/openapi.json,
``paths["/features/{id}"].get`` example). Jira never has a one-letter middle part
(a Jira project key is at least two characters), so ``PROD-E-3`` was no Jira key
before and only adds a candidate that matches no Jira epic now: the linker keeps
a key only when a selected epic has it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

#: A Jira key: project key (a letter, then at least one more letter, digit or
#: ``_``: Jira's own minimum is two characters), a dash, a number without a
#: leading zero. Bounded by non-word characters, so ``xPROD-7`` or ``PROD-7x``
#: are not keys, while ``(PROD-7)``, ``/browse/PROD-7`` and ``PROD-7,`` are.
#: An Aha! reference may have ``-E``/``-I``/… (one capital letter) before the number.
ISSUE_KEY = re.compile(r"(?<![A-Za-z0-9_])([A-Z][A-Z0-9_]{1,19}(?:-[A-Z])?-[1-9][0-9]{0,9})(?![A-Za-z0-9_])")


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
