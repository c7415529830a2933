"""The Aha! connectors at unit level (HTTP with respx): tracker reads and writes, the summary's HTML,
the Ideas source's counting rules."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from demandsync.connectors.aha.render import html_to_text, summary_html
from demandsync.connectors.aha.source import AhaIdeasOptions, AhaIdeasSource
from demandsync.connectors.aha.tracker import AhaTracker
from demandsync.connectors.base import SourceContext, WriteRejected
from demandsync.connectors.http import RateLimiter
from demandsync.domain import FeedbackItem, Quarantined, Record, SummaryContent, SummaryRequest, find_marker
from demandsync.mappings.engine import build_mapper

SITE = "https://acme.aha.io"
API = f"{SITE}/api/v1"
BIG = "6776881149488625529"  # a 19-digit id: beyond a double's exact integers


def _tracker(**kw: Any) -> AhaTracker:
    now = [0.0]
    limiter = RateLimiter([(20, 1.0)], clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    return AhaTracker(SITE, api_key="k-123", product="APP", page_size=2, rate_limiter=limiter,
                      sleep=lambda s: None, **kw)


def _definitions() -> None:
    respx.get(f"{API}/custom_field_definitions").mock(return_value=httpx.Response(200, json={
        "custom_field_definitions": [
            {"id": "1", "key": "customer_requests", "name": "Customer requests",
             "type": "CustomFieldDefinitions::NumberField", "custom_fieldable_type": "Feature"},
            {"id": "2", "key": "customer_requests", "name": "Customer requests",
             "type": "CustomFieldDefinitions::NumberField", "custom_fieldable_type": "Epic"},
            {"id": "3", "key": "priority", "name": "Priority", "type": "CustomFieldDefinitions::SelectConstant",
             "custom_fieldable_type": "Feature"},
            {"id": "4", "key": "last_requested", "name": "Last requested", "type": "CustomFieldDefinitions::DateField",
             "custom_fieldable_type": "Feature"}]}))


def _feature(ref: str, rid: str, value: Any = None, *, complete: bool = False) -> dict[str, Any]:
    fields = [] if value is None else [{"id": 1, "key": "customer_requests", "name": "Customer requests",
                                        "updatedAt": "2019-01-01T00:00:00Z", "type": "number", "value": value}]
    return {"id": rid, "reference_num": ref, "name": f"Feature {ref}", "product_id": "131414752",
            "description": {"id": "9", "body": "<p>Log in with <b>SAML</b></p>"}, "tags": ["Engineering"],
            "workflow_status": {"id": "1", "name": "Shipped" if complete else "New", "complete": complete},
            "custom_fields": fields}


@respx.mock
def test_features_are_read_with_fields_paged_and_numbers_compared_as_values() -> None:
    _definitions()
    calls: list[httpx.Request] = []

    def features(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        page = int(request.url.params["page"])
        rows = [[_feature("APP-1", BIG, "3.0", complete=True), _feature("APP-2", "1007868956", "2.5")],
                [_feature("APP-3", "1007868957")]][page - 1]
        return httpx.Response(200, json={"features": rows, "pagination": {"total_records": 3, "total_pages": 2,
                                                                          "current_page": page}})

    respx.get(f"{API}/products/APP/features").mock(side_effect=features)
    epics = list(_tracker().epics("APP", ["customer_requests"]))
    assert [(e.key, e.id, e.values, e.status_category) for e in epics] == [
        ("APP-1", BIG, {"customer_requests": 3}, "done"), ("APP-2", "1007868956", {"customer_requests": 2.5}, "new"),
        ("APP-3", "1007868957", {"customer_requests": None}, "new")]
    assert (epics[0].summary, epics[0].description, epics[0].labels, epics[0].project) == (
        "Feature APP-1", "Log in with SAML", ["Engineering"], "APP")
    assert [c.url.params["page"] for c in calls] == ["1", "2"]
    assert calls[0].url.params["per_page"] == "2"
    assert set(calls[0].url.params["fields"].split(",")) >= {"reference_num", "custom_fields", "workflow_status"}
    assert calls[0].headers["Authorization"] == "Bearer k-123"


@respx.mock
def test_a_list_that_ignores_fields_is_read_record_by_record() -> None:
    _definitions()
    compact = {"id": "1007868956", "name": "Feature 1", "reference_num": "APP-2", "product_id": "131414752"}
    respx.get(f"{API}/products/APP/features").mock(return_value=httpx.Response(200, json={
        "features": [compact], "pagination": {"total_records": 1, "total_pages": 1, "current_page": 1}}))
    one = respx.get(f"{API}/features/APP-2").mock(return_value=httpx.Response(200, json={
        "feature": _feature("APP-2", "1007868956", "14.0")}))
    (epic,) = _tracker().epics("APP", ["customer_requests"])
    assert epic.values == {"customer_requests": 14} and one.call_count == 1


@respx.mock
def test_fields_are_the_record_types_custom_fields_with_their_value_types() -> None:
    _definitions()
    assert [(f.id, f.name, f.type) for f in _tracker().fields()] == [
        ("customer_requests", "Customer requests", "number"), ("priority", "Priority", "option"),
        ("last_requested", "Last requested", "date")]
    assert [f.id for f in _tracker(records="epics").fields()] == ["customer_requests"]


@respx.mock
def test_writes_put_custom_fields_on_the_record_type() -> None:
    feature = respx.put(f"{API}/features/APP-1").mock(return_value=httpx.Response(200, json={"feature": {}}))
    epic = respx.put(f"{API}/epics/APP-E-3").mock(return_value=httpx.Response(200, json={"epic": {}}))
    _tracker().update("APP-1", {"customer_requests": 4, "last_requested": "2026-11-05"})
    _tracker(records="epics").update("APP-E-3", {"customer_requests": 2})
    assert json.loads(feature.calls[0].request.content) == {
        "feature": {"custom_fields": {"customer_requests": 4, "last_requested": "2026-11-05"}}}
    assert json.loads(epic.calls[0].request.content) == {"epic": {"custom_fields": {"customer_requests": 2}}}


@respx.mock
def test_refused_writes_name_the_record_and_what_aha_said() -> None:
    respx.put(f"{API}/features/APP-9").mock(return_value=httpx.Response(404, json={"error": "Record not found"}))
    respx.put(f"{API}/features/APP-1").mock(return_value=httpx.Response(422, json={"error": "votes must be a number"}))
    with pytest.raises(WriteRejected) as missing:
        _tracker().update("APP-9", {"votes": 1})
    assert missing.value.status == 404 and "APP-9 does not exist in Aha!" in str(missing.value)
    with pytest.raises(WriteRejected) as bad:
        _tracker().update("APP-1", {"votes": "x"})
    assert "Aha! refused the write: votes must be a number" in str(bad.value)


@respx.mock
def test_a_429_is_retried_after_the_wait_aha_asks_for() -> None:
    route = respx.get(f"{API}/me").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={"user": {"name": "Mary"}})])
    waits: list[float] = []
    now = [0.0]
    tracker = AhaTracker(SITE, api_key="k", product="APP", sleep=waits.append,
                         rate_limiter=RateLimiter([(20, 1.0)], clock=lambda: now[0], sleep=lambda s: None))
    assert tracker.whoami() == "Mary" and route.call_count == 2 and waits == [7.0]


@respx.mock
def test_released_lists_the_releases_once_and_reads_each_release_once() -> None:
    respx.get(f"{API}/products/APP/features").mock(return_value=httpx.Response(200, json={"features": [
        {"id": "1", "reference_num": "APP-1", "release": {"id": "5", "reference_num": "APP-R-1"}},
        {"id": "2", "reference_num": "APP-2", "release": {"id": "6", "reference_num": "APP-R-2"}},
        {"id": "4", "reference_num": "APP-4", "release": {"id": "5", "reference_num": "APP-R-1"}},
        {"id": "5", "reference_num": "APP-5"}],
        "pagination": {"total_records": 4, "total_pages": 1, "current_page": 1}}))
    r1 = respx.get(f"{API}/releases/APP-R-1").mock(return_value=httpx.Response(200, json={"release": {"released": True}}))
    respx.get(f"{API}/releases/APP-R-2").mock(return_value=httpx.Response(200, json={"release": {"released": False}}))
    assert _tracker().released(["APP-4", "APP-1", "APP-2", "APP-3", "APP-5"]) == ["APP-4", "APP-1"]
    assert r1.call_count == 1


# -- the summary's HTML --------------------------------------------------------------------------------


def _content(quote: str, url: str | None) -> SummaryContent:
    return SummaryContent(epic_key="APP-E-3", requests=2, requesters=1, accounts=1, votes=3,
                          last_requested="2026-11-05", requests_30d=1, requests_90d=2, sources="ideas 1 · <b>x</b> 1",
                          top=(SummaryRequest(quote, "ann@acme.com", "Acme & Co", url, 3),))


def test_summary_html_escapes_untrusted_text_and_keeps_a_findable_marker() -> None:
    content = _content('<script>alert(1)</script> "quoted"', 'https://x.io/?a=1&b="2"')
    html = summary_html(content, date(2026, 11, 5))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Acme &amp; Co" in html and "ideas 1 · &lt;b&gt;x&lt;/b&gt; 1" in html
    assert '<a href="https://x.io/?a=1&amp;b=&quot;2&quot;">source</a>' in html
    text = html_to_text(html)
    assert text.splitlines()[:2] == ["Customer demand", "2 requests · 1 requester · 1 account · 3 votes"]
    assert find_marker(text) == ("APP-E-3", content.digest())


# -- the Ideas source --------------------------------------------------------------------------------


def _person(pid: str, email: str) -> dict[str, Any]:
    return {"id": pid, "name": email.split("@")[0].title(), "email": email}


def _idea(iid: str, num: int, **extra: Any) -> dict[str, Any]:
    return {"id": iid, "reference_num": f"APP-I-{num}", "name": f"Idea {num}", "product_id": "131414752",
            "description": {"body": f"<p>Body {num}</p>"}, "created_at": "2026-10-01T00:00:00.000Z",
            "url": f"{SITE}/ideas/ideas/APP-I-{num}", "created_by_idea_user": _person("u1", "Ann@Acme.com"),
            "duplicates": [], "tags": ["sso"], **extra}


def _vote(who: dict[str, Any], org: str | None = None, *, portal_only: bool = False) -> dict[str, Any]:
    v: dict[str, Any] = {"id": "1", "weight": 1, "endorsed_by_portal_user": who}
    if not portal_only:
        v["endorsed_by_idea_user"] = who
    if org:
        v["idea_organization"] = {"id": "7", "name": org}
    return v


def _mock_ideas(ideas: list[dict[str, Any]], votes: dict[str, list[dict[str, Any]]]) -> list[httpx.Request]:
    seen: list[httpx.Request] = []

    def listing(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ideas": ideas, "pagination": {"total_records": len(ideas),
                                                                        "total_pages": 1, "current_page": 1}})

    def endorsements(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        iid = request.url.path.split("/")[-2]
        return httpx.Response(200, json={"idea_endorsements": votes.get(iid, []),
                                         "pagination": {"total_records": 1, "total_pages": 1, "current_page": 1}})

    def features(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"features": [
            {"id": "1", "reference_num": "APP-12", "epic": {"id": "9", "reference_num": "APP-E-3"}},
            {"id": "2", "reference_num": "APP-13"}], "pagination": {"total_records": 2, "total_pages": 1,
                                                                    "current_page": 1}})

    respx.get(f"{API}/products/APP/ideas").mock(side_effect=listing)
    respx.get(f"{API}/products/APP/features").mock(side_effect=features)
    respx.get(url__regex=rf"{API}/ideas/[^/]+/endorsements").mock(side_effect=endorsements)
    return seen


def _pull(tmp_path: Path, cursor: dict[str, Any] | None = None, full: bool = False) -> tuple[
        list[Record | Quarantined], AhaIdeasSource]:
    opts = AhaIdeasOptions.model_validate({"url": SITE, "api_key": "k-123", "product": "APP"})
    now = [0.0]
    source = AhaIdeasSource(opts, SourceContext("ideas", tmp_path, full=full), sleep=lambda s: None,
                            rate_limiter=RateLimiter([(20, 1.0)], clock=lambda: now[0], sleep=lambda s: None))
    return list(source.pull(cursor or {})), source


@respx.mock
def test_one_record_per_idea_with_its_voters_and_no_merged_or_spam_idea(tmp_path: Path) -> None:
    ann, bob = _person("u1", "Ann@Acme.com"), _person("p2", "bob@globex.com")
    _mock_ideas([
        _idea(BIG, 1, duplicates=[{"id": "58", "reference_num": "APP-I-2"}],
              feature={"id": "1", "reference_num": "APP-12"}),
        _idea("58", 2),                                     # merged into APP-I-1
        _idea("59", 3, duplicate_of={"id": BIG}),           # merged (the read-side name the issue uses)
        _idea("60", 4, spam=True),
        _idea("61", 5, endorsements_count=0, created_by_idea_user=None, created_by_portal_user=bob,
              description={"body": "<p>see APP-E-3</p>"}),
    ], {BIG: [_vote(ann, "Acme"), _vote(bob, "Globex", portal_only=True), _vote(bob, "Globex", portal_only=True),
              {"id": "x", "weight": 1}]})
    records, source = _pull(tmp_path)
    good = [r for r in records if isinstance(r, Record)]
    bad = [r for r in records if isinstance(r, Quarantined)]
    assert [r.data["reference_num"] for r in good] == ["APP-I-1", "APP-I-5"]
    assert [(q.locator, q.reason) for q in bad] == [
        ("aha idea APP-I-1 vote x", "Aha! returned a vote without a portal user, idea user or e-mail")]
    first = good[0].data
    # promoted to APP-12, which belongs to the epic APP-E-3: the idea counts on either
    assert first["id"] == BIG and first["epic_keys"] == ["APP-12", "APP-E-3"] and first["votes_total"] == 3
    assert first["voters"] == [
        {"id": "u1", "email": "ann@acme.com", "name": "Ann", "account": "Acme", "weight": 1},
        {"id": "p2", "email": "bob@globex.com", "name": "Bob", "account": "Globex", "weight": 1},
        {"id": "p2", "email": "bob@globex.com", "name": "Bob", "account": "Globex", "weight": 1}]
    assert first["creator"]["email"] == "ann@acme.com" and first["creator_account"] == "Acme"
    assert source.cursor["runs_since_full"] == 0 and source.cursor["updated_since"]

    mapped = [build_mapper("ideas", "aha-ideas", {}).map(r) for r in good]
    items = [i for i in mapped if isinstance(i, FeedbackItem)]
    assert len(items) == 2
    one, five = items
    assert (one.external_id, one.requester, one.account, one.epic_hint) == (
        BIG, "ann@acme.com", "Acme", ["APP-12", "APP-E-3"])
    assert one.people is not None and sum(p.weight for p in one.people if p.role == "voter") == 3  # its votes
    assert one.text == "Idea 1\n\nBody 1" and one.url == f"{SITE}/ideas/ideas/APP-I-1" and one.tags == ["sso"]
    assert (five.requester, five.account, five.epic_hint) == ("bob@globex.com", None, [])
    assert [(p.identity, p.role, p.weight) for p in five.people or ()] == [("bob@globex.com", "author", 0)]
    assert "APP-E-3" in five.text  # linked explicitly when the tracker carries epics


@respx.mock
def test_ideas_with_no_votes_cost_no_request_and_later_runs_ask_only_for_updates(tmp_path: Path) -> None:
    seen = _mock_ideas([_idea("61", 5, endorsements_count=0)], {})
    records, source = _pull(tmp_path)
    assert len(records) == 1 and [r.url.path for r in seen] == ["/api/v1/products/APP/ideas"]
    assert "updated_since" not in seen[0].url.params
    assert set(seen[0].url.params["fields"].split(",")) >= {"reference_num", "feature", "duplicates", "description"}
    _pull(tmp_path, cursor=source.cursor)
    assert seen[-1].url.params["updated_since"] == source.cursor["updated_since"]
    _pull(tmp_path, cursor={**source.cursor, "runs_since_full": 6})  # every 7th run reads everything
    assert "updated_since" not in seen[-1].url.params


@respx.mock
def test_a_full_read_takes_the_votes_from_the_account_list_when_that_is_fewer_requests(tmp_path: Path) -> None:
    ann, bob = _person("u1", "ann@acme.com"), _person("u2", "bob@globex.com")
    ideas = [_idea(str(i), i) for i in (1, 2, 3)]
    seen = _mock_ideas(ideas, {})
    account = respx.get(f"{API}/ideas/endorsements").mock(return_value=httpx.Response(200, json={
        "idea_endorsements": [{**_vote(ann), "idea_id": "1"}, {**_vote(bob), "idea_id": "3"},
                              {**_vote(bob), "idea_id": "3"}, {**_vote(ann), "idea_id": "999"}],  # another product
        "pagination": {"total_records": 4, "total_pages": 1, "current_page": 1}}))
    records, _ = _pull(tmp_path)
    assert {r.data["id"]: r.data["votes_total"] for r in records if isinstance(r, Record)} == {"1": 1, "2": 0, "3": 2}
    assert account.call_count == 1 and not [r for r in seen if r.url.path.endswith("/endorsements")]


@respx.mock
def test_votes_are_asked_per_idea_when_the_account_list_is_longer(tmp_path: Path) -> None:
    ann = _person("u1", "ann@acme.com")
    seen = _mock_ideas([_idea("1", 1), _idea("2", 2)], {"1": [_vote(ann)], "2": [_vote(ann), _vote(ann)]})
    account = respx.get(f"{API}/ideas/endorsements").mock(return_value=httpx.Response(200, json={
        "idea_endorsements": [], "pagination": {"total_records": 900, "total_pages": 9, "current_page": 1}}))
    records, _ = _pull(tmp_path)
    assert {r.data["id"]: r.data["votes_total"] for r in records if isinstance(r, Record)} == {"1": 1, "2": 2}
    assert account.call_count == 1  # its first page said 9 pages: two per-idea requests are cheaper
    assert sorted(r.url.path for r in seen if r.url.path.endswith("/endorsements")) == [
        "/api/v1/ideas/1/endorsements", "/api/v1/ideas/2/endorsements"]


@respx.mock
def test_ideas_are_read_again_without_undocumented_fields_if_aha_refuses_them(tmp_path: Path) -> None:
    asked: list[str] = []

    def listing(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["fields"])
        if "duplicate_of" in request.url.params["fields"]:
            return httpx.Response(422, json={"error": "Unknown field duplicate_of"})
        return httpx.Response(200, json={"ideas": [_idea("61", 5, endorsements_count=0)],
                                         "pagination": {"total_records": 1, "total_pages": 1, "current_page": 1}})

    respx.get(f"{API}/products/APP/ideas").mock(side_effect=listing)
    records, _ = _pull(tmp_path)
    assert [r.data["reference_num"] for r in records if isinstance(r, Record)] == ["APP-I-5"]
    assert len(asked) == 2 and "spam" in asked[0] and "spam" not in asked[1] and "feature" in asked[1]


@respx.mock
def test_a_full_read_says_so_so_ideas_gone_upstream_stop_counting(tmp_path: Path) -> None:
    """The first run (no cursor) and every `full_every`-th run read every idea and report the pull
    complete, so ideas deleted, merged or marked spam since stop counting; an incremental run does not."""
    _mock_ideas([_idea("1", 1)], {})
    _, first = _pull(tmp_path)
    assert first.complete() is True
    _, incremental = _pull(tmp_path, cursor=first.cursor)
    assert incremental.complete() is False and incremental.cursor["runs_since_full"] == 1
    _, seventh = _pull(tmp_path, cursor={**first.cursor, "runs_since_full": 6})  # full_every = 7
    assert seventh.complete() is True and seventh.cursor["runs_since_full"] == 0
