"""CannySource beyond the shared contract: statuses asked for explicitly, a post = one request with
its people, companies from users/retrieve, merges, the incremental cursor.

Fixtures follow the documented shapes (tests/vendor_fakes.py; sources in connectors/canny.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import retire_unseen
from vendor_fakes import CannyFake, canny_post, canny_user

from demandsync.connectors.apisource import UnexpectedShape
from demandsync.connectors.base import Record, SourceContext
from demandsync.connectors.canny import CannySource
from demandsync.domain import FeedbackItem, Person
from demandsync.mappings.engine import build_mapper
from demandsync.sync.store.store import Store

API = "https://canny.io/api/v1"


def source(fake: CannyFake, tmp_path: Path, *, full: bool = False, **options: Any) -> CannySource:
    opts = CannySource.Options.model_validate({"url": API, "api_key": fake.key, **options})
    return CannySource(opts, SourceContext("canny", tmp_path, full=full), transport=fake.transport())


def items(fake: CannyFake, tmp_path: Path, **options: Any) -> list[FeedbackItem]:
    mapper = build_mapper("canny", "canny", {})
    out = [mapper.map(r) for r in source(fake, tmp_path, **options).pull({}) if isinstance(r, Record)]
    return [i for i in out if isinstance(i, FeedbackItem)]


def test_statuses_are_asked_for_so_shipped_posts_keep_their_demand(tmp_path: Path) -> None:
    fake = CannyFake()
    for pid, status in [("p1", "open"), ("p2", "complete"), ("p3", "closed"), ("p4", "in progress")]:
        fake.add_post(canny_post(pid, "2024-06-01T00:00:00.000Z", author=None, status=status),
                      [canny_user("u1", "ann@acme.com")])
    assert sorted(i.external_id for i in items(fake, tmp_path, companies=False)) == ["p1", "p2", "p4"]
    assert fake.calls("posts/list")[0]["body"]["status"] == "open,under review,planned,in progress,complete"
    assert sorted(i.external_id for i in items(fake, tmp_path, companies=False, statuses=["closed"])) == ["p3"]


def test_a_post_is_one_request_with_author_and_voters_and_companies_from_users(tmp_path: Path) -> None:
    fake = CannyFake()
    ann, bob = canny_user("u-ann", "Ann@Acme.com"), canny_user("u-bob", None)
    staff = canny_user("u-pm", "pm@vendor.example", admin=True)
    fake.add_post(canny_post("p1", "2024-06-01T00:00:00.000Z", author=ann, jira=["PROD-7"]), [ann, bob, staff])
    fake.add_post(canny_post("p2", "2024-06-02T00:00:00.000Z", author=bob), [bob])
    fake.companies = {"u-ann": [{"id": "c1", "name": "Acme", "monthlySpend": 499.0}]}  # bob: lookup refused
    got = {i.external_id: i for i in items(fake, tmp_path)}
    assert got["p1"].people == [Person("ann@acme.com", "U-Ann", "ann@acme.com", "Acme", 1, "voter"),
                                Person("canny:u-bob", "U-Bob", None, None, 1, "voter")]
    assert got["p1"].epic_hint == ["PROD-7"] and got["p1"].requester == "ann@acme.com"
    assert got["p2"].people == [Person("canny:u-bob", "U-Bob", None, None, 1, "voter")]
    # one users/retrieve per distinct person, never the admin who voted for themselves
    assert sorted(c["body"]["id"] for c in fake.calls("users/retrieve")) == ["u-ann", "u-bob"]


def test_a_vote_an_admin_cast_for_a_customer_counts_the_customer(tmp_path: Path) -> None:
    fake = CannyFake()
    fake.add_post(canny_post("p1", "2024-06-01T00:00:00.000Z", author=None), [canny_user("u-cy", "cy@initech.com")],
                  by=canny_user("u-pm", "pm@vendor.example", admin=True))
    (item,) = items(fake, tmp_path, companies=False)
    assert [p.identity for p in item.people or []] == ["cy@initech.com"]


def test_a_merged_post_folds_into_its_survivor(tmp_path: Path) -> None:
    fake = CannyFake()
    merged = canny_post("old", "2024-05-01T00:00:00.000Z", author=None)
    survivor = canny_post("new", "2024-06-01T00:00:00.000Z", author=None, mergeHistory=[
        {"created": "2024-06-02T00:00:00.000Z", "post": {"id": "old", "title": "Post old", "details": "",
                                                         "created": "2024-05-01T00:00:00.000Z", "imageURLs": []}}])
    fake.add_post(merged, [canny_user("u1", "ann@acme.com")])
    fake.add_post(survivor, [canny_user("u1", "ann@acme.com"), canny_user("u2", "bob@globex.com")])
    (item,) = items(fake, tmp_path, companies=False)
    assert item.external_id == "new" and len(item.people or []) == 2


def test_incremental_run_stops_at_the_cursor_and_full_every_forces_a_reread(tmp_path: Path) -> None:
    fake = CannyFake()
    for day in (1, 2, 3):
        fake.add_post(canny_post(f"p{day}", f"2024-06-0{day}T00:00:00.000Z", author=None), [canny_user("u", "a@x.io")])
    first = source(fake, tmp_path, companies=False, full_every=2)
    assert len(list(first.pull({}))) == 3
    assert first.cursor == {"newest_created": "2024-06-03T00:00:00Z", "runs_since_full": 0, "version": 2}
    fake.add_post(canny_post("p4", "2024-06-04T00:00:00.000Z", author=None), [canny_user("u", "a@x.io")])
    second = source(fake, tmp_path, companies=False, full_every=2)
    assert [r.locator for r in second.pull(first.cursor)] == ["canny post p4", "canny post p3"]  # p3: the boundary
    third = source(fake, tmp_path, companies=False, full_every=2)
    assert len(list(third.pull(second.cursor))) == 4  # every 2nd run after a full one re-reads everything
    assert third.cursor["runs_since_full"] == 0


def test_an_error_body_with_a_200_fails_instead_of_reading_no_boards(tmp_path: Path) -> None:
    fake = CannyFake()
    original = fake.route
    fake.route = lambda method, path, query, body: (  # type: ignore[method-assign]
        __import__("httpx").Response(200, json={"error": "account suspended"}) if path.endswith("boards/list")
        else original(method, path, query, body))
    with pytest.raises(UnexpectedShape, match="account suspended"):
        list(source(fake, tmp_path, full=True).pull({}))


def test_unknown_board_is_named(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match="no board with id nope"):
        list(source(CannyFake(), tmp_path, board_ids=["nope"]).pull({}))


def test_the_first_run_after_the_upgrade_reads_everything_and_retires_per_voter_items(
        tmp_path: Path, store: Store) -> None:
    """Earlier versions stored one item per (post, voter) as ``<post>:<voter>``; left alone they
    would count next to the new per-post items. An old cursor (no version) forces a complete read."""
    store.upsert_items([FeedbackItem("canny", "p1:u1", "Post p1", requester="a@x.io")], {})
    fake = CannyFake()
    fake.add_post(canny_post("p1", "2024-06-01T00:00:00.000Z", author=None), [canny_user("u1", "a@x.io")])
    canny = source(fake, tmp_path, companies=False)
    seen = {r.data["record_id"] for r in canny.pull({"newest_created": "2024-06-01T00:00:00Z", "runs_since_full": 0})
            if isinstance(r, Record)}
    assert canny.complete() is True and seen == {"p1"}
    assert retire_unseen(store, "canny", seen) == 1
    later = source(fake, tmp_path, companies=False)
    list(later.pull(canny.cursor))
    assert later.complete() is False  # an ordinary incremental run reconciles nothing
