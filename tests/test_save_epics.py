"""Saving the epics a run selected: what changed is stored, and the epics the JQL no longer
selects are marked not present (their links kept). A re-run with nothing changed writes no row."""

from __future__ import annotations

from demandsync.domain import Epic
from demandsync.sync.store.store import Store


def test_only_changed_epics_are_written_and_dropped_ones_leave(store: Store) -> None:
    epics = [Epic("PROD-1", "1", "SSO", values={"f": 1}), Epic("PROD-2", "2", "CSV", labels=["a"]),
             Epic("PROD-3", "3", "Dark mode")]
    store.save_epics(epics)
    seen = {e: store.epic_row(e)["seen_at"] for e in ("PROD-1", "PROD-2", "PROD-3")}  # type: ignore[index]
    stamp = store.links_stamp()
    store.save_epics(epics)
    assert {e: store.epic_row(e)["seen_at"] for e in seen} == seen  # type: ignore[index]
    assert store.links_stamp() == stamp

    store.save_epics([Epic("PROD-1", "1", "SSO", values={"f": 1.5}), Epic("PROD-2", "2", "CSV", labels=["a", "b"])])
    assert [(e.key, e.values, e.labels) for e in store.epics()] == [("PROD-1", {"f": 1.5}, []),
                                                                   ("PROD-2", {}, ["a", "b"])]
    assert store.links_stamp() != stamp
    assert store.epic_row("PROD-3")["present"] is False  # type: ignore[index]

    store.save_epics(epics)  # selected again
    assert [(e.key, e.values) for e in store.epics()] == [("PROD-1", {"f": 1}), ("PROD-2", {}), ("PROD-3", {})]
    assert isinstance(store.epics()[0].values["f"], int)
