"""Manual link decisions: the one place ``link``/``unlink``/``review`` and the PM's page decide.

A decision is a *manual* link, accepted or rejected. It beats every automatic
link on every later run (``Store.replace_auto_links`` keeps manual rows) and
counts in the next sync. Items are named ``SOURCE:ITEM_ID`` everywhere (the
command line, ``links export``, the page's JSON API), so one reference works in
all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from demandsync.errors import ConfigError
from demandsync.sync.store.store import Store

#: What a PM says -> the link state stored.
DECISIONS = {"accept": "accepted", "reject": "rejected"}


class DecisionError(ConfigError):
    """A decision names an item or epic that does not exist, or is malformed (a usage error: exit 2)."""


@dataclass(frozen=True, slots=True)
class ItemRef:
    """``SOURCE:ITEM_ID`` (the id may itself contain ':')."""

    source: str
    item_id: str

    @classmethod
    def parse(cls, text: str) -> ItemRef:
        source, sep, item = str(text).partition(":")
        if not sep or not source or not item:
            raise DecisionError(f"{text!r}: write it as SOURCE:ITEM_ID, e.g. exit-survey:1234")
        return cls(source, item)

    def __str__(self) -> str:
        return f"{self.source}:{self.item_id}"


def item_ref(source: str, external_id: str) -> str:
    """The reference of an item, as the API and ``links export`` show it."""
    return f"{source}:{external_id}"


def resolve_item(store: Store, ref: ItemRef | str) -> int:
    """The store's row id of an item, or a :class:`DecisionError` saying where to find ids."""
    ref = ref if isinstance(ref, ItemRef) else ItemRef.parse(ref)
    found = store.find_item(ref.source, ref.item_id)
    if found is None:
        raise DecisionError(f"no item {ref.item_id!r} in source {ref.source!r} "
                            "(see `demandsync explain KEY` or `links export` for ids)")
    return found


def check_epic(store: Store, key: str) -> None:
    if store.epic_row(key) is None:
        raise DecisionError(f"{key} is not an epic demandsync has seen (jira.epics selects the epics)")


def decide(store: Store, ref: ItemRef | str, epic_key: str, state: str, note: str) -> int:
    """Store one manual decision (``accepted`` or ``rejected``); returns the item's row id."""
    if state not in DECISIONS.values():
        raise DecisionError(f"decision {state!r}: use accepted or rejected")
    item = resolve_item(store, ref)
    check_epic(store, epic_key)
    store.decide_link(item, epic_key, state, note=note)
    return item


def move(store: Store, ref: ItemRef | str, from_key: str, to_key: str, note: str) -> int:
    """The item stops counting for ``from_key`` and counts for ``to_key`` (two manual decisions)."""
    if from_key == to_key:
        raise DecisionError(f"{ref} is already linked to {to_key}")
    item = resolve_item(store, ref)
    check_epic(store, from_key)
    check_epic(store, to_key)
    store.decide_link(item, from_key, "rejected", note=note)
    store.decide_link(item, to_key, "accepted", note=note)
    return item
