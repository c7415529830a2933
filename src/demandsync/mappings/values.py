"""A record's values as the text a mapping reads.

A file row's cells are text already; a JSON record's values are read at column references
that may be dotted paths (``fields.reporter.emailAddress``), walking dicts and mapping over
lists (``tags.name``), and numbers, booleans and lists become text the way every mapped
field, a person's fields and a quarantined row's ``raw`` read them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any


def value_at(data: Mapping[str, Any], ref: str) -> str:
    """The cell or JSON value as text; dotted paths walk dicts and map over lists."""
    if type(data) is dict:  # a JSON record: no KeyError raised and caught for each dotted path
        value = data.get(ref, _ABSENT)
        if value is not _ABSENT:
            return value if type(value) is str else text_of(value)
        node: Any = data
        for part in _parts(ref):  # the usual path, dicts down to its end, walked here
            if type(node) is not dict:
                break  # a list (or another object) on the way: the general walk below
            node = node.get(part)
            if node is None:
                return ""  # a key on the way is missing or null: the walk below finds nothing either
        else:
            # The end is one value whatever it is (the walk below would give its text_of too): a
            # Jira issue's fields.labels list reads in 0.7 us, 2.0 through that walk (2026-11-29).
            return node if type(node) is str else text_of(node)
    else:
        try:
            value = data[ref]  # one lookup, not `in` + `[]`: this runs ~10 times per row
        except KeyError:
            pass
        else:
            return value if type(value) is str else text_of(value)
    current: list[Any] = [data]
    for part in ref.split("."):
        nxt: list[Any] = []
        for node in current:
            items = node if isinstance(node, list) else [node]
            for each in items:
                if isinstance(each, Mapping) and part in each and each[part] is not None:
                    nxt.append(each[part])
        current = nxt
    return "\n".join(text_of(v) for v in current if text_of(v))


#: What a JSON record's ``dict.get`` gives for a key it lacks (``None`` is a value there).
_ABSENT = object()


@functools.lru_cache(maxsize=256)
def _parts(ref: str) -> tuple[str, ...]:
    """A dotted path's keys, split once per path rather than once per record."""
    return tuple(ref.split("."))


def text_of(value: Any) -> str:
    """A JSON value as the text every mapped field reads (a list one entry a line, null as nothing)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(text_of(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def raw_text(data: Mapping[str, Any]) -> str:
    """The record's values as ``key=value; …`` (500 characters at most): a quarantined row's ``raw``, for the admin."""
    text = "; ".join(f"{k}={text_of(v)}" for k, v in data.items() if text_of(v))
    return text[:500]
