"""One contract every API source keeps, run against a fake of each vendor (in the spirit of the
Singer SDK's ``get_tap_test_class``): refused credentials, 429 with Retry-After, paging past a
server page cap, an incremental re-run that reads nothing new, an item deleted upstream with
``--full``, a malformed record quarantined, and ``check()``.

Each :class:`Case` seeds its fake with five requests (documented shapes only, tests/vendor_fakes.py)
and says how to delete one upstream and how to break one. The store is real.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import retire_unseen
from vendor_fakes import (
    CannyFake,
    FakeAPI,
    HotjarFake,
    PendoFake,
    ProductboardFake,
    UserVoiceFake,
    canny_post,
    canny_user,
    hj_response,
    pb_note,
    pendo_feature,
    uv_suggestion,
)

from demandsync.connectors.apisource import ApiSource, SourceCheckFailed
from demandsync.connectors.base import SourceContext
from demandsync.connectors.canny import CannySource
from demandsync.connectors.hotjar import HotjarSource
from demandsync.connectors.http import FatalAPIError
from demandsync.connectors.pendo_feedback import PendoFeedbackSource
from demandsync.connectors.productboard import ProductboardSource
from demandsync.connectors.uservoice import UserVoiceSource
from demandsync.domain import FeedbackItem, Quarantined
from demandsync.mappings.engine import build_mapper
from demandsync.sync.store.store import Store, UpsertCounts

N = 5


@dataclass
class Case:
    name: str
    cls: type[ApiSource]
    url: str
    fake: Callable[[], FakeAPI]
    options: Callable[[str, str], dict[str, Any]]
    #: remove one request upstream; its external id
    delete_one: Callable[[Any], str]
    #: add one malformed record; the locator its quarantine names
    break_one: Callable[[Any], str]
    #: the list call a throttle hits first
    main_path: str
    #: what the vendor says when it refuses the key
    refusal_text: str
    #: add one new request upstream, newer than everything there (what an incremental run must find)
    add_one: Callable[[Any], None]


def _canny() -> CannyFake:
    fake = CannyFake()
    for i in range(N):
        fake.add_post(canny_post(f"p{i}", f"2024-06-0{i + 1}T00:00:00.000Z", author=canny_user(f"a{i}", f"a{i}@acme.com")),
                      [canny_user(f"u{i}", f"u{i}@globex.com")])
    return fake


def _canny_break(fake: CannyFake) -> str:
    fake.posts.append({**canny_post("x", "2024-07-01T00:00:00.000Z", author=None), "id": None})
    return "canny board b1 post ?"


def _canny_delete(fake: CannyFake) -> str:
    fake.posts = [p for p in fake.posts if p["id"] != "p2"]
    return "p2"


def _after_the_last_pull() -> str:
    """A change made upstream after the previous pull started (time cursors start from there)."""
    return (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _canny_add(fake: CannyFake) -> None:
    fake.add_post(canny_post("p-new", "2024-07-02T00:00:00.000Z", author=canny_user("a-new", "new@acme.com")),
                  [canny_user("u-new", "new@globex.com")])


def _pb() -> ProductboardFake:
    fake = ProductboardFake()
    fake.notes = [pb_note(f"n{i}", f"Need thing {i}") for i in range(N)]
    return fake


def _pb_break(fake: ProductboardFake) -> str:
    fake.notes.append({"id": "n-bad", "type": "textNote", "fields": None})
    return "productboard note n-bad"


def _pb_delete(fake: ProductboardFake) -> str:
    fake.notes = [n for n in fake.notes if n["id"] != "n2"]
    return "n2"


def _pb_add(fake: ProductboardFake) -> None:
    fake.notes.append(pb_note("n-new", "Need the new thing", updated=_after_the_last_pull()))


def _pendo() -> PendoFake:
    fake = PendoFake()
    fake.features = [pendo_feature(100 + i, f"Feature {i}") for i in range(N)]
    for i in range(N):
        fake.user(500 + i, f"u{i}@acme.com", "Acme")
        fake.vote(500 + i, 100 + i)
    return fake


def _pendo_break(fake: PendoFake) -> str:
    fake.features.append({"id": 999, "title": None})
    return "pendo feedback feature 999"


def _pendo_delete(fake: PendoFake) -> str:
    fake.features = [f for f in fake.features if f["id"] != 102]
    return "102"


def _pendo_add(fake: PendoFake) -> None:
    fake.features.append(pendo_feature(199, "Feature new"))
    fake.user(599, "new@acme.com", "Acme")
    fake.vote(599, 199)


def _uv() -> UserVoiceFake:
    fake = UserVoiceFake()
    fake.suggestions = [uv_suggestion(3000 + i, f"Idea {i}", created_by=40 + i) for i in range(N)]
    for i in range(N):
        fake.user(40 + i, f"u{i}@acme.com")
        fake.supporters[3000 + i] = [40 + i]
    return fake


def _uv_break(fake: UserVoiceFake) -> str:
    fake.suggestions.append({"title": "no id"})
    return "uservoice suggestion ?"


def _uv_delete(fake: UserVoiceFake) -> str:
    fake.suggestions = [s for s in fake.suggestions if s["id"] != 3002]
    return "3002"


def _uv_add(fake: UserVoiceFake) -> None:
    fake.suggestions.append(uv_suggestion(3099, "Idea new", created_by=99, updated=_after_the_last_pull()))
    fake.user(99, "new@acme.com")
    fake.supporters[3099] = [99]


def _hj() -> HotjarFake:
    fake = HotjarFake()
    fake.responses = [hj_response(f"r{i}", f"I need thing {i}") for i in reversed(range(N))]
    return fake


def _hj_break(fake: HotjarFake) -> str:
    fake.responses.insert(2, {"answers": [], "comment": "who am I"})
    return "hotjar survey 22 response ?"


def _hj_add(fake: HotjarFake) -> None:
    fake.responses.insert(0, hj_response("r-new", "I need the new thing"))  # the API lists newest first


def _hj_delete(fake: HotjarFake) -> str:
    fake.responses = [r for r in fake.responses if r["id"] != "r2"]
    return "response:r2"


CASES = [
    Case("canny", CannySource, "https://canny.io/api/v1", _canny,
         lambda url, key: {"url": url, "api_key": key, "companies": False}, _canny_delete, _canny_break,
         "/api/v1/posts/list", "invalid api key", _canny_add),
    Case("productboard", ProductboardSource, "https://api.productboard.com/v2", _pb,
         lambda url, key: {"url": url, "token": key, "jira_integration_ids": []}, _pb_delete, _pb_break,
         "/v2/notes", "The access token is invalid", _pb_add),
    Case("pendo_feedback", PendoFeedbackSource, "https://api.feedback.us.pendo.io", _pendo,
         lambda url, key: {"url": url, "api_key": key}, _pendo_delete, _pendo_break,
         "/features", "Invalid auth-token", _pendo_add),
    Case("uservoice", UserVoiceSource, "https://acme.uservoice.com/api/v2/admin", _uv,
         lambda url, key: {"url": url, "token": key, "accounts": False}, _uv_delete, _uv_break,
         "/api/v2/admin/suggestions", "token is invalid", _uv_add),
    Case("hotjar", HotjarSource, "https://api.hotjar.io/v1", _hj,
         lambda url, key: {"url": url, "client_id": "cid", "client_secret": key, "site_id": "11", "survey_id": "22"},
         _hj_delete, _hj_break, "/v1/sites/11/surveys/22/responses", "Client authentication failed", _hj_add),
]


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]


class Harness:
    """Builds a case's source against its fake and pulls the way the engine does."""

    def __init__(self, case: Case, tmp_path: Path) -> None:
        self.case = case
        self.fake = case.fake()
        self.tmp_path = tmp_path
        self.sleeps: list[float] = []

    def source(self, *, full: bool = False, key: str | None = None) -> ApiSource:
        opts = self.case.cls.Options.model_validate(self.case.options(self.case.url, key or self.fake.key))
        return self.case.cls(opts, SourceContext(self.case.name, self.tmp_path, full=full),
                             transport=self.fake.transport(), sleep=self.sleeps.append)

    def pull(self, cursor: dict[str, Any], *, full: bool = False) -> tuple[list[FeedbackItem], list[Quarantined],
                                                                             dict[str, Any], ApiSource]:
        source = self.source(full=full)
        mapper = build_mapper(self.case.name, self.case.cls.default_preset, {})
        items: list[FeedbackItem] = []
        bad: list[Quarantined] = []
        for record in source.pull(cursor):
            out = record if isinstance(record, Quarantined) else mapper.map(record)
            if isinstance(out, Quarantined):
                bad.append(out)
            elif out is not None:
                items.append(out)
        source.close()
        return items, bad, source.cursor, source


@pytest.fixture
def h(case: Case, tmp_path: Path) -> Harness:
    return Harness(case, tmp_path)


def test_refused_credentials_fail_the_pull_naming_the_vendors_message(h: Harness) -> None:
    source = h.source(key="wrong-key")
    with pytest.raises(FatalAPIError) as exc:
        list(source.pull({}))
    assert exc.value.status == 401
    assert h.case.refusal_text in str(exc.value)
    assert "wrong-key" not in str(exc.value)


def test_check_reads_one_page_or_names_the_source_and_the_vendors_error(h: Harness) -> None:
    assert "credentials accepted" in h.source().check()
    with pytest.raises(SourceCheckFailed) as exc:
        h.source(key="wrong-key").check()
    assert str(exc.value).startswith(f"source {h.case.name!r} (")
    assert h.case.refusal_text in str(exc.value) and "wrong-key" not in str(exc.value)


def test_429_waits_as_long_as_retry_after_says_then_reads_everything(h: Harness) -> None:
    h.fake.throttle.add(h.case.main_path)
    items, bad, _, _ = h.pull({})
    assert h.sleeps == [7.0]
    assert (len(items), bad) == (N, [])


def test_a_server_page_cap_below_the_asked_size_loses_nothing(h: Harness) -> None:
    h.fake.page_cap = 2
    items, bad, _, _ = h.pull({})
    assert (len(items), bad) == (N, [])
    assert len({i.external_id for i in items}) == N


def test_an_incremental_rerun_reads_nothing_new_and_finds_what_is_new(h: Harness, store: Store) -> None:
    items, _, cursor, _ = h.pull({})
    assert store.upsert_items(items, store.item_hashes(h.case.name)) == UpsertCounts(new=N)
    again, bad, cursor, _ = h.pull(cursor)
    assert bad == []
    assert store.upsert_items(again, store.item_hashes(h.case.name)) == UpsertCounts(unchanged=len(again))
    h.case.add_one(h.fake)  # a cursor that skips past new data must fail here
    third, bad, _, _ = h.pull(cursor)
    assert bad == []
    assert store.upsert_items(third, store.item_hashes(h.case.name)) == UpsertCounts(new=1, unchanged=len(third) - 1)


def test_full_run_retires_an_item_deleted_upstream(h: Harness, store: Store) -> None:
    items, _, _, _ = h.pull({}, full=True)
    store.upsert_items(items, store.item_hashes(h.case.name))
    gone = h.case.delete_one(h.fake)
    items, _, _, source = h.pull({}, full=True)
    assert source.complete() is True
    seen = {i.external_id for i in items}
    assert gone not in seen and len(seen) == N - 1
    assert retire_unseen(store, h.case.name, seen) == 1
    assert store.item_hashes(h.case.name)[gone] == ""  # deleted: it stops counting


def test_a_malformed_record_is_quarantined_and_the_rest_still_count(h: Harness) -> None:
    locator = h.case.break_one(h.fake)
    items, bad, _, _ = h.pull({})
    assert len(items) == N
    assert [q.locator for q in bad] == [locator]
    assert bad[0].source == h.case.name and bad[0].reason
