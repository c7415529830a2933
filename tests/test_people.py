"""A voting tool's request carries its people: mapped, stored, re-imported and forgotten exactly."""

from __future__ import annotations

from datetime import UTC, datetime

from demandsync.domain import Epic, FeedbackItem, Person, Record
from demandsync.mappings.engine import build_mapper
from demandsync.sync.demand import DemandRules, count_demand
from demandsync.sync.requesters import requesters_for
from demandsync.sync.store.store import Store

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def post(people: list[dict[str, object]], ext: str = "p1") -> Record:
    return Record({"record_id": ext, "title": "CSV export", "people": people}, locator=f"test post {ext}")


MAP = {"id": "record_id", "text": "title", "people": "people"}


def test_mapping_builds_people_keyed_by_email_else_source_id_and_dedupes() -> None:
    mapper = build_mapper("canny", None, MAP)
    item = mapper.map(post([
        {"id": "u1", "email": " Ann@Acme.com", "name": "Ann", "account": "Acme", "role": "author", "weight": 0},
        {"id": "u1", "email": "ann@acme.com", "name": "Ann", "account": "Acme"},  # her own vote
        {"id": "u2", "email": None, "name": "Bob"},
    ]))
    assert isinstance(item, FeedbackItem)
    assert item.people == [Person("ann@acme.com", "Ann", "ann@acme.com", "Acme", 1, "voter"),
                           Person("canny:u2", "Bob", None, None, 1, "voter")]


def test_a_person_without_id_or_email_quarantines_the_request_naming_the_key() -> None:
    result = build_mapper("canny", None, MAP).map(post([{"name": "Nobody"}]))
    assert not isinstance(result, FeedbackItem) and result is not None
    assert "'people' holds a person without an id or e-mail" in result.reason


def _stored(store: Store, *people: Person, ext: str = "p1") -> None:
    item = FeedbackItem("canny", ext, "CSV export", people=list(people))
    store.upsert_items([item], store.item_hashes("canny"))


def test_reimporting_replaces_voters_and_never_double_counts(store: Store) -> None:
    store.save_epics([Epic("PROD-1", "1", "CSV export")])
    ann, bob, cy = Person("ann@acme.com", account="Acme"), Person("canny:u2"), Person("cy@globex.com", account="Globex")
    _stored(store, ann, bob)
    store.decide_link(store.find_item("canny", "p1"), "PROD-1", "accepted")
    _stored(store, ann, bob)  # the same post again: unchanged
    _stored(store, ann, bob, cy)  # a new voter upstream
    d = count_demand(store.linked_items(), ["PROD-1"], DemandRules(), NOW)["PROD-1"]
    assert (d.requests, d.requesters, d.votes, d.accounts) == (1, 3, 3, 2)
    assert [p.person for p in requesters_for(store, "PROD-1")] == ["ann@acme.com", "canny:u2", "cy@globex.com"]


def test_forget_removes_a_voter_but_keeps_the_request(store: Store) -> None:
    store.save_epics([Epic("PROD-1", "1", "CSV export")])
    _stored(store, Person("ann@acme.com", email="ann@acme.com"), Person("canny:u2"))
    store.decide_link(store.find_item("canny", "p1"), "PROD-1", "accepted")
    assert store.forget_requester(" ANN@acme.com") == 1
    d = count_demand(store.linked_items(), ["PROD-1"], DemandRules(), NOW)["PROD-1"]
    assert (d.requests, d.requesters, d.votes) == (1, 1, 1)


def test_a_request_whose_voters_all_left_counts_as_a_request_with_no_one(store: Store) -> None:
    store.save_epics([Epic("PROD-1", "1", "CSV export")])
    _stored(store)
    store.decide_link(store.find_item("canny", "p1"), "PROD-1", "accepted")
    d = count_demand(store.linked_items(), ["PROD-1"], DemandRules(), NOW)["PROD-1"]
    assert (d.requests, d.requesters, d.votes) == (1, 0, 0)
