"""Manual link decisions: the one place ``link``/``unlink``/``review`` and the PM's page decide.

A decision is a *manual* link, accepted or rejected. It beats every automatic
link on every later run (``Store.replace_auto_links`` keeps manual rows) and
counts in the next sync. Items are named ``SOURCE:ITEM_ID`` or by their short,
shell-safe handle ``SOURCE:CODE`` (:mod:`demandsync.handles`) everywhere (the command
line, ``links export``/``import``, the page's JSON API), so one reference works in all
of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from demandsync.domain import ACCEPTED, REJECTED, LinkState
from demandsync.errors import ConfigError
from demandsync.handles import looks_like_code
from demandsync.sync.store.store import Store

#: What a PM says -> the link state stored.
DECISIONS: dict[str, LinkState] = {"accept": ACCEPTED, "reject": REJECTED}


class DecisionError(ConfigError):
    """A decision names an item or epic that does not exist, or is malformed (a usage error: exit 2)."""


class NotFound(DecisionError):
    """The item or the epic a decision names does not exist (the page's API answers 404)."""


@dataclass(frozen=True, slots=True)
class ItemRef:
    """``SOURCE:ITEM_ID`` (the id may itself contain ':')."""

    source: str
    item_id: str

    @classmethod
    def parse(cls, text: str) -> ItemRef:
        source, sep, item = str(text).partition(":")
        if not sep or not source or not item:
            raise DecisionError(f"{text!r}: write it as SOURCE:CODE (the handle `explain` and `suggest` show, "
                                "e.g. exit-survey:k3f9q2ab) or SOURCE:ITEM_ID")
        return cls(source, item)

    def __str__(self) -> str:
        return f"{self.source}:{self.item_id}"


def item_ref(source: str, external_id: str) -> str:
    """The reference of an item, as the API and ``links export`` show it."""
    return f"{source}:{external_id}"


def find_item(store: Store, source: str, item: str) -> tuple[int | None, str | None]:
    """The item's row id, by its full id or by a handle code (a unique prefix of 4+ characters
    will do); else ``(None, why)``."""
    found = store.find_item(source, item)
    if found is not None or not looks_like_code(item):
        return found, None if found is not None else f"no item {item!r} in source {source!r}"
    matches = store.find_by_code(source, item)
    if len(matches) == 1:
        return matches[0][0], None
    if not matches:
        return None, f"no item {item!r} in source {source!r} (neither an id nor a handle code there)"
    shown = ", ".join(repr(e) for _, e in matches[:5])
    return None, f"{source}:{item} is ambiguous: it matches {len(matches)} items ({shown}); type more of it or the full id"


def resolve_item(store: Store, ref: ItemRef | str) -> int:
    """The store's row id of an item, or a :class:`DecisionError` saying where to find handles."""
    ref = ref if isinstance(ref, ItemRef) else ItemRef.parse(ref)
    found, why = find_item(store, ref.source, ref.item_id)
    if found is None:
        raise NotFound(f"{why} (see `demandsync explain KEY` or `suggest KEY` for handles)")
    return found


def check_epic(store: Store, key: str, selection_key: str = "the config's epic selection") -> None:
    if store.epic_row(key) is None:
        raise NotFound(f"{key} is not an epic demandsync has seen ({selection_key} selects the epics)")


#: One decision as stored: the item's row id, the epic, the state.
Decided = tuple[int, str, LinkState]


def planned(store: Store, ref: ItemRef | str, epic_key: str, state: LinkState,
            selection_key: str = "the config's epic selection") -> list[Decided]:
    """A decision checked against the store (item and epic exist) but not yet stored."""
    if state not in DECISIONS.values():
        raise DecisionError(f"decision {state!r}: use accepted or rejected")
    item = resolve_item(store, ref)
    check_epic(store, epic_key, selection_key)
    return [(item, epic_key, state)]


def planned_move(store: Store, ref: ItemRef | str, from_key: str, to_key: str) -> list[Decided]:
    """A move, checked: the item stops counting for ``from_key`` and counts for ``to_key``."""
    if from_key == to_key:
        raise DecisionError(f"{ref} is already linked to {to_key}")
    item = resolve_item(store, ref)
    check_epic(store, from_key)
    check_epic(store, to_key)
    return [(item, from_key, REJECTED), (item, to_key, ACCEPTED)]


def decide(store: Store, ref: ItemRef | str, epic_key: str, state: LinkState, note: str,
           selection_key: str = "the config's epic selection") -> int:
    """Store one manual decision (``accepted`` or ``rejected``); returns the item's row id."""
    decided = planned(store, ref, epic_key, state, selection_key)
    store.decide_links(decided, note=note)
    return decided[0][0]


def move(store: Store, ref: ItemRef | str, from_key: str, to_key: str, note: str) -> int:
    """The item stops counting for ``from_key`` and counts for ``to_key`` (two manual decisions,
    stored together: never rejected from one epic without being accepted for the other)."""
    decided = planned_move(store, ref, from_key, to_key)
    store.decide_links(decided, note=note)
    return decided[0][0]


def decide_many(store: Store, refs: Sequence[str], epic: str, kind: str, from_key: str | None, note: str) -> int:
    """One PM choice (``accept``, ``reject`` or ``move`` from ``from_key``) over several items, all
    or nothing: every item and epic is checked before anything is stored, then all are stored in one
    transaction, so an unknown item in a selection leaves the others undecided (the error says which).
    Returns how many items were decided."""
    if not refs:
        raise DecisionError("name the item(s): item = SOURCE:ITEM_ID")
    if not epic:
        raise DecisionError("name the epic: epic = KEY")
    if kind != "move" and kind not in DECISIONS:
        raise DecisionError(f"decision {kind!r}: use accept or reject (or move, with from)")
    decided: list[Decided] = []
    for ref in refs:
        decided += (planned_move(store, ref, from_key or "", epic) if kind == "move"
                    else planned(store, ref, epic, DECISIONS[kind]))
    store.decide_links(decided, note=note)
    return len(refs)
