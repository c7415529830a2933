"""Closing the loop: who asked for an epic (listing, CSV) and which epics shipped."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import pytest

from demandsync.connectors.http import FatalAPIError
from demandsync.connectors.jira.tracker import JiraTracker
from demandsync.domain import Epic, FeedbackItem
from demandsync.sync.demand import DemandRules, count_demand
from demandsync.sync.requesters import (
    CSV_COLUMNS,
    SHIPPED_META,
    newly_shipped,
    requesters_csv,
    requesters_for,
    shipped_epics,
)
from demandsync.sync.store.store import Store


def at(day: int) -> datetime:
    return datetime(2026, 10, day, 9, 0, tzinfo=UTC)


ITEMS = [
    # (source, id, requester, account, day, votes, epic, url)
    ("survey", "1", "Ann@Acme.com", "Acme", 3, 1, "PROD-1", "https://s.example.com/1"),
    ("sales", "2", "ann@acme.com ", "ACME", 9, 2, "PROD-1", None),
    ("sales", "3", "bob@globex.com", "Globex", 5, 1, "PROD-1", None),
    ("canny", "4", "user-77", "=cmd|' /C calc'!A0", 7, 1, "PROD-1", None),
    ("survey", "5", None, None, 8, 1, "PROD-1", None),
    ("survey", "6", None, None, 2, 1, "PROD-1", None),
    ("survey", "7", "cy@initech.com", "Initech", 4, 1, "PROD-2", None),
    ("survey", "8", "dee@hooli.com", None, 6, 1, "PROD-3", None),
]


@pytest.fixture
def filled(store: Store) -> Store:
    store.save_epics([
        Epic("PROD-1", "10001", "Single sign-on", status_category="indeterminate", project="PROD"),
        Epic("PROD-2", "10002", "CSV export", status_category="done", project="PROD"),
        Epic("PROD-3", "10003", "Dark mode", status_category="done", project="PROD"),
    ])
    for source in {i[0] for i in ITEMS}:
        rows = [FeedbackItem(s, ext, f"text {ext}", requester=who, account=acct, created_at=at(day), votes=votes,
                             url=url)
                for s, ext, who, acct, day, votes, _, url in ITEMS if s == source]
        store.upsert_items(rows, store.item_hashes(source))
    for s, ext, *_, epic, _url in ITEMS:
        store.decide_link(store.find_item(s, ext), epic, "accepted")
    return store


def test_one_row_per_requester_as_demand_counts_them(filled: Store) -> None:
    people = requesters_for(filled, "PROD-1")
    demand = count_demand(filled.linked_items(), ["PROD-1"], DemandRules(), at(20))["PROD-1"]
    assert len(people) == demand.requesters == 5  # ann, bob, user-77, two anonymous items
    ann = people[0]
    # The person as they last gave it, trimmed; the contact normalised.
    # votes: her two requests give 1 + 2 (votes sum over requests, see README "How it counts")
    assert (ann.person, ann.contact, ann.items, ann.votes) == ("ann@acme.com", "ann@acme.com", 2, 3)
    assert ann.account in ("Acme", "ACME") and ann.sources == ["sales", "survey"]
    assert (ann.first_asked, ann.last_asked) == (at(3), at(9))
    assert ann.urls == ["https://s.example.com/1"]
    by_person = {p.person: p for p in people}
    assert by_person["user-77"].contact is None  # not an e-mail: nobody to write to
    anonymous = [p for p in people if p.person is None]
    assert len(anonymous) == 2 and all(p.contact is None and p.items == 1 for p in anonymous)
    # Most items first, then the latest request first.
    assert [p.person for p in people[1:3]] == [None, "user-77"]


def test_unknown_epic_has_no_requesters(filled: Store) -> None:
    assert requesters_for(filled, "NOPE-9") == []


def test_csv_export(filled: Store) -> None:
    text = requesters_csv(requesters_for(filled, "PROD-1"))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["contact"] == "ann@acme.com" and rows[0]["items"] == "2"
    assert rows[0]["first_asked"] == "2026-10-03" and rows[0]["last_asked"] == "2026-10-09"
    assert rows[0]["sources"] == "sales survey"
    formula = next(r for r in rows if r["person"] == "user-77")
    assert formula["account"].startswith("'=")  # a spreadsheet must not run it
    assert sum(r["person"] == "(anonymous)" for r in rows) == 2
    assert requesters_csv([]) == ",".join(CSV_COLUMNS) + "\r\n"  # RFC 4180 line ends


def test_shipped_when_done(filled: Store) -> None:
    shipped = shipped_epics(filled)
    assert [(s.key, s.summary, s.requesters, s.requests, s.accounts) for s in shipped] == [
        ("PROD-2", "CSV export", 1, 1, 1), ("PROD-3", "Dark mode", 1, 1, 0)]
    assert [s.key for s in shipped_epics(filled, keys=["PROD-1", "PROD-3"])] == ["PROD-3"]


def test_an_epic_the_jql_no_longer_selects_still_ships_with_its_stored_summary(filled: Store) -> None:
    """A done epic dropped from the selection (its project left the JQL, say) is still one the
    store knows: the digest names it, with the summary and status last read, and without counts
    when none are asked for."""
    filled.save_epics([Epic("PROD-1", "10001", "Single sign-on", status_category="done", project="PROD")])
    assert [(s.key, s.summary) for s in shipped_epics(filled, with_counts=False)] == [
        ("PROD-1", "Single sign-on"), ("PROD-2", "CSV export"), ("PROD-3", "Dark mode")]


class FakeJira:
    """``search`` as JiraTracker has it; answers fixVersions per key, 400 for a key that is gone."""

    def __init__(self, versions: dict[str, list[dict[str, Any]]], gone: set[str] = frozenset()) -> None:
        self.versions, self.gone, self.queries = versions, gone, []

    def search(self, jql: str, fields: list[str]):
        self.queries.append(jql)
        keys = [k.strip() for k in jql.removeprefix("key in (").removesuffix(")").split(",")]
        if any(k in self.gone for k in keys):
            raise FatalAPIError("HTTP 400", method="POST", url="x", status=400, body={})
        for k in keys:
            yield {"key": k, "fields": {"fixVersions": self.versions.get(k, [])}}

    # JiraTracker's own fix-version logic, over this fake search
    released = JiraTracker.released
    _released = JiraTracker._released


def test_shipped_when_released(filled: Store) -> None:
    jira = FakeJira({
        "PROD-1": [{"name": "1.0", "released": True}],
        "PROD-2": [{"name": "1.0", "released": True}, {"name": "2.0", "released": False}],
        "PROD-3": [],
    }, gone={"PROD-2"})
    shipped = shipped_epics(filled, shipped_when="released", tracker=jira)
    assert [s.key for s in shipped] == ["PROD-1"]
    assert shipped[0].requesters == 5
    assert jira.queries[0] == "key in (PROD-1, PROD-2, PROD-3)" and len(jira.queries) == 4  # then one by one
    with pytest.raises(ValueError, match="tracker"):
        shipped_epics(filled, shipped_when="released")
    with pytest.raises(ValueError, match="shipped_when"):
        shipped_epics(filled, shipped_when="closed")  # type: ignore[arg-type]


def test_newly_shipped_records_a_baseline_first(filled: Store) -> None:
    shipped = shipped_epics(filled)
    assert newly_shipped(filled, shipped) == []  # first time: baseline, no announcement
    assert filled.get_meta(SHIPPED_META) == {"keys": ["PROD-2", "PROD-3"]}
    assert newly_shipped(filled, shipped) == []
    filled.save_epics([Epic("PROD-1", "10001", "Single sign-on", status_category="done", project="PROD"),
                       Epic("PROD-2", "10002", "CSV export", status_category="done", project="PROD"),
                       Epic("PROD-3", "10003", "Dark mode", status_category="done", project="PROD")])
    now = shipped_epics(filled)
    assert [s.key for s in newly_shipped(filled, now, remember=False)] == ["PROD-1"]
    assert [s.key for s in newly_shipped(filled, now)] == ["PROD-1"]
    assert newly_shipped(filled, now) == []
