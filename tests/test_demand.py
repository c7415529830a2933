"""Demand semantics, exactly as the README and the PM read them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from conftest import retire_unseen

from demandsync.domain import Person
from demandsync.sync.demand import DemandRules, count_demand
from demandsync.sync.store.store import LinkedItem, Store

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def item(i: int, epic: str = "PROD-1", *, who: str | None = None, acct: str | None = None, source: str = "survey",
         days_ago: float | None = 1, votes: int = 1, extra: dict[str, object] | None = None,
         people: tuple[Person, ...] | None = None) -> LinkedItem:
    created = NOW - timedelta(days=days_ago) if days_ago is not None else None
    return LinkedItem(epic, i, source, str(i), f"text {i}", who, acct, created, None, votes, extra or {},
                      "explicit", 1.0, "accepted", people)


def test_requesters_compare_emails_case_insensitively_and_anonymous_count_alone() -> None:
    items = [item(1, who="Ann@Acme.com "), item(2, who="ann@acme.com"), item(3), item(4), item(5, who="bob@x.io")]
    d = count_demand(items, ["PROD-1"], DemandRules(), NOW)["PROD-1"]
    assert d.requests == 5
    assert d.requesters == 4  # ann once, two anonymous items, bob


def test_item_linked_to_two_epics_counts_once_for_each_and_repeats_do_not_double() -> None:
    items = [item(1, "PROD-1"), item(1, "PROD-2"), item(1, "PROD-1")]
    demand = count_demand(items, ["PROD-1", "PROD-2", "PROD-3"], DemandRules(), NOW)
    assert (demand["PROD-1"].requests, demand["PROD-2"].requests, demand["PROD-3"].requests) == (1, 1, 0)


def test_accounts_by_name_and_optionally_by_email_domain_never_free_mail() -> None:
    items = [item(1, acct="Globex"), item(2, acct="globex "), item(3, who="a@initech.com"), item(4, who="b@gmail.com")]
    assert count_demand(items, ["PROD-1"], DemandRules(), NOW)["PROD-1"].accounts == 1
    rules = DemandRules(email_domain_accounts=True)
    assert count_demand(items, ["PROD-1"], rules, NOW)["PROD-1"].accounts == 2


def test_votes_of_one_person_feedback_sum_over_requests() -> None:
    items = [item(1, who="a@x.io", votes=3), item(2, who="a@x.io", votes=1), item(3, votes=2), item(4, who="b@x.io")]
    d = count_demand(items, ["PROD-1"], DemandRules(), NOW)["PROD-1"]
    assert (d.requests, d.requesters, d.votes) == (4, 3, 3 + 1 + 2 + 1)


def _voter(ident: str, account: str | None = None, weight: int = 1, role: str = "voter") -> Person:
    return Person(ident, email=ident if "@" in ident else None, account=account, weight=weight, role=role)


def test_a_voting_post_is_one_request_its_voters_requesters_and_votes() -> None:
    """The issue's worked example: a person voting for two posts of one epic gives two votes, one requester;
    a survey answer by the same person adds a request but no new requester."""
    post_a = item(1, source="canny", people=(_voter("ann@acme.com", "Acme"), _voter("canny:u_bob"),
                                             _voter("cy@globex.com", "Globex")))
    post_b = item(2, source="canny", people=(_voter("ann@acme.com", "Acme"),
                                             _voter("pm@vendor.com", role="author", weight=0)))
    survey = item(3, who="ANN@acme.com", source="survey")
    d = count_demand([post_a, post_b, survey], ["PROD-1"], DemandRules(), NOW)["PROD-1"]
    assert (d.requests, d.requesters, d.votes, d.accounts) == (3, 4, 3 + 1 + 1, 2)


def test_weighted_votes_count_their_weight_and_an_empty_request_counts_nothing_but_itself() -> None:
    feature = item(1, source="pendo", people=(_voter("ann@acme.com", weight=3), _voter("pendo:7", weight=0)))
    nobody = item(2, source="pendo", people=())
    d = count_demand([feature, nobody], ["PROD-1"], DemandRules(), NOW)["PROD-1"]
    assert (d.requests, d.requesters, d.votes) == (2, 2, 3)


def test_windows_last_requested_and_source_breakdown() -> None:
    items = [item(1, days_ago=2, source="canny"), item(2, days_ago=45, source="canny"),
             item(3, days_ago=200, source="hotjar"), item(4, days_ago=None, source="jira")]
    d = count_demand(items, ["PROD-1"], DemandRules(), NOW)["PROD-1"]
    assert (d.requests_30d, d.requests_90d) == (1, 2)
    assert d.last_requested == date(2026, 11, 20)
    assert d.sources == "canny 2 · hotjar 1 · jira 1"


def test_score_weights_by_source_attribute_and_recency() -> None:
    items = [item(1, source="canny", extra={"plan": "Enterprise"}), item(2, source="survey", days_ago=0)]
    rules = DemandRules(source_weights={"canny": 2.0}, attribute_weights={"plan": {"enterprise": 3.0}})
    assert count_demand(items, ["PROD-1"], rules, NOW)["PROD-1"].score == 7.0
    decayed = DemandRules(half_life_days=1)
    assert count_demand([item(1, days_ago=1)], ["PROD-1"], decayed, NOW)["PROD-1"].score == 0.5


def test_a_rerun_reuses_figures_only_while_they_are_exactly_what_counting_gives(store: Store) -> None:
    """The stored figures are reused when nothing changed, and never once anything counting reads
    did: a new or removed link, a changed item, a forgotten voter, an item leaving the last 30
    days, other rules."""
    from demandsync.domain import Epic, FeedbackItem
    from demandsync.sync.demand import stored_demand

    keys = ["PROD-1", "PROD-2", *(f"PROD-{n}" for n in range(3, 11))]  # few changed: recounted alone
    store.save_epics([Epic(k, k, k) for k in keys])
    items = [FeedbackItem("s", "a", "one", requester="ann@acme.com", created_at=NOW - timedelta(days=29, hours=12)),
             FeedbackItem("s", "b", "two", requester="bob@globex.com", account="Globex",
                          created_at=NOW - timedelta(days=5)),
             FeedbackItem("canny", "p", "post", people=[Person("cy@initech.com", account="Initech"),
                                                        Person("di@initech.com", email="di@initech.com", weight=3)])]
    store.upsert_items(items[:2], {})
    store.upsert_items(items[2:], {})
    for ext, key in (("a", "PROD-1"), ("b", "PROD-1"), ("p", "PROD-2")):
        store.decide_link(store.find_item("canny" if ext == "p" else "s", ext) or 0, key, "accepted")

    def check(rules: DemandRules | None = None, at: datetime = NOW) -> dict[str, dict[str, object]]:
        rules = rules or DemandRules()
        fresh = count_demand(store.iter_linked_items(with_text=False), keys, rules, at)
        got = stored_demand(store, keys, rules, at)
        assert got == fresh
        return {k: d.as_dict() for k, d in got.items()}

    first = check()
    assert first["PROD-1"]["requests_30d"] == 1 + 1 and first["PROD-2"]["votes"] == 4
    assert check() == first  # reused, and still right
    assert check(at=NOW + timedelta(days=1))["PROD-1"]["requests_30d"] == 1  # "a" left the last 30 days
    assert check(DemandRules(source_weights={"s": 2.0}), NOW + timedelta(days=1))["PROD-1"]["score"] == 4.0
    store.decide_link(store.find_item("s", "b") or 0, "PROD-2", "accepted")
    assert check(at=NOW + timedelta(days=1))["PROD-2"]["requests"] == 2
    store.decide_link(store.find_item("s", "b") or 0, "PROD-1", "rejected")
    assert check(at=NOW + timedelta(days=1))["PROD-1"]["requests"] == 1
    store.upsert_items([FeedbackItem("s", "a", "one", requester="eve@acme.com",
                                     created_at=NOW - timedelta(days=29, hours=12))], store.item_hashes("s"))
    assert check(at=NOW + timedelta(days=1))["PROD-1"]["requesters"] == 1
    store.forget_requester("di@initech.com")
    assert check(at=NOW + timedelta(days=1))["PROD-2"]["votes"] == 1 + 1
    assert retire_unseen(store, "canny", set()) == 1
    assert check(at=NOW + timedelta(days=1))["PROD-2"]["requests"] == 1


def test_the_stamp_gives_the_items_latest_change_as_reading_it_does(store: Store) -> None:
    """A count remembers when items last changed (a re-run recounts the epics of items changed since)
    from the stamp it read: the same instant reading it anew gives, none for an empty store."""
    from demandsync.domain import FeedbackItem

    assert store.stamped_item_change(store.demand_stamp()) is None is store.latest_item_change()
    store.upsert_items([FeedbackItem("s", "a", "one", created_at=NOW)], {})
    got = store.stamped_item_change(store.demand_stamp())
    assert got is not None and got == store.latest_item_change() and got.utcoffset() == timedelta(0)
    assert got.isoformat() == (store.latest_item_change() or NOW).isoformat()  # as the cache writes it


def test_counting_reads_exactly_the_linked_items_fields_in_their_order(store: Store) -> None:
    """``Store.counted_items`` (what a run counts from) is ``iter_linked_items`` narrowed to what counting
    reads: the same accepted links of live items, the same fields, each epic's in the same order (a
    tally's float score adds in that order; the epics' links may interleave), for all epics or some;
    dates read back as the same aware UTC instants."""
    from demandsync.domain import Epic, FeedbackItem

    keys = ["PROD-1", "PROD-2", "PROD-3"]
    store.save_epics([Epic(k, k, k) for k in keys])
    east = timezone(timedelta(hours=5, minutes=30))
    items = [FeedbackItem("s", str(n), f"text {n}", requester=[None, "Ann@Acme.com ", "u7"][n % 3],
                          account=[None, "Acme", " globex "][n % 3], votes=n % 4,
                          created_at=None if n % 5 == 0 else datetime(2026, 1 + n % 9, 1 + n % 7, n % 24, 7, 3, n * 1000,
                                                                      tzinfo=east if n % 2 else UTC),
                          extra={"plan": ["pro", "free"][n % 2]}) for n in range(24)]
    items.append(FeedbackItem("canny", "p", "post", people=[Person("cy@initech.com", account="Initech"),
                                                             Person("di@initech.com", email="di@initech.com", weight=3)]))
    store.upsert_items(items, {})
    states = ["accepted", "accepted", "suggested", "rejected"]
    for n, it in enumerate(items):
        item_id = store.find_item(it.source, it.external_id) or 0
        store.decide_link(item_id, keys[n % 3], states[n % 4])  # type: ignore[arg-type]
        if n % 2:
            store.decide_link(item_id, keys[(n + 1) % 3], "accepted")
    assert retire_unseen(store, "s", {str(n) for n in range(24) if n != 3}) == 1  # a deleted item counts nowhere

    def narrowed(linked: list[LinkedItem]) -> list[tuple[object, ...]]:
        return [(i.epic_key, i.item_id, i.source, i.requester, i.account, i.created_at, i.votes, i.extra, i.people)
                for i in linked]

    seen: list[list[tuple[object, ...]]] = []
    for epics, with_extra in ((None, False), (None, True), (["PROD-3", "PROD-1"], True), ([], False)):
        want = narrowed(store.linked_items(epics, with_extra=with_extra, with_text=False))
        streamed = [tuple(c) for c in store.counted_items(epics, with_extra=with_extra, chunk=4)]
        got = sorted(streamed, key=lambda t: str(t[0]))  # a stable sort: each epic's links keep their order
        assert got == want
        assert [str(t[5]) for t in got] == [str(t[5]) for t in want]  # UTC as such, not merely the same instant
        seen.append(got)
    everything = seen[1]
    assert len(everything) == 24 and not seen[3]
    assert any(t[5] is None for t in everything) and any(t[8] for t in everything) and everything[0][7]
    assert len({t[1] for t in seen[2]}) < len({t[1] for t in everything})


def test_stored_time_text_reads_as_utc_as_before_whatever_its_form() -> None:
    """SQLite's text is naive UTC; the quick read (``+00:00`` appended) gives what the old one
    (``fromisoformat(...).replace(tzinfo=UTC)``) gave for every form, other ones included."""
    from demandsync.sync.store.store import _read_time

    for raw in ("2026-03-05 05:27:11.000120", "2026-03-05 05:27:11", "2026-03-05T05:27", "2026-03-05",
                "2026-03-05 05:27:11+05:30", "2026-03-05T05:27:11Z", "2026-03-05 05", "20260305T052711"):
        got = _read_time(raw)
        assert got == datetime.fromisoformat(raw).replace(tzinfo=UTC) and got is not None and got.tzinfo is UTC
    assert _read_time(None) is None


def test_counting_pauses_the_cycle_collector_and_gives_it_back(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting makes no cycles (a tuple per link, the tallies' sets): the collector is off while it
    reads the links (full collections of everything alive freed nothing) and as it was afterwards."""
    import gc

    from demandsync.domain import Epic, FeedbackItem
    from demandsync.sync.demand import stored_demand

    store.save_epics([Epic("PROD-1", "1", "one")])
    store.upsert_items([FeedbackItem("s", "a", "one", requester="ann@acme.com", created_at=NOW)], {})
    store.decide_link(store.find_item("s", "a") or 0, "PROD-1", "accepted")
    seen: list[bool] = []
    counted_items = Store.counted_items

    def watched(self: Store, *args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        yield from counted_items(self, *args, **kwargs)  # type: ignore[arg-type]
        seen.append(gc.isenabled())

    monkeypatch.setattr(Store, "counted_items", watched)
    was = gc.isenabled()
    try:
        gc.enable()
        assert stored_demand(store, ["PROD-1"], DemandRules(), NOW)["PROD-1"].requests == 1
        assert seen == [False, False] and gc.isenabled()
        gc.disable()
        stored_demand(store, ["PROD-1"], DemandRules(half_life_days=3), NOW)  # (a half-life counts afresh)
        assert seen[2:] == [False, False] and not gc.isenabled()
    finally:
        (gc.enable if was else gc.disable)()
