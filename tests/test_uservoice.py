"""UserVoiceSource: suggestions × supporters, page-number paging, side-loaded users/accounts, cursor, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
import respx

from demandsync.connectors.base import Record, SourceContext
from demandsync.connectors.http import FatalAPIError
from demandsync.connectors.uservoice import UserVoiceOptions, UserVoiceSource
from demandsync.domain import FeedbackItem, Quarantined
from demandsync.mappings.engine import build_mapper

API = "https://acme.uservoice.com/api/v2/admin"
TOKEN = "uv-token-999"


def _suggestion(sid: int, creator: int) -> dict[str, Any]:
    return {"id": sid, "title": f"Suggestion {sid}", "body": "Please add dark mode", "state": "approved",
            "portal_url": f"https://acme.uservoice.com/forums/1/suggestions/{sid}", "votes_count": 3,
            "created_at": "2024-05-01T10:00:00Z", "updated_at": "2024-06-01T10:00:00Z",
            "links": {"forum": 1, "created_by": creator}}


def _mock() -> list[httpx.Request]:
    calls: list[httpx.Request] = []

    def suggestions(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        page = int(request.url.params["page"])
        rows = [[_suggestion(1, 50)], [_suggestion(2, 51), {"title": "no id"}]][page - 1]
        return httpx.Response(200, json={"suggestions": rows, "users": [{"id": 51, "email_address": "cara@x.io"}],
                                         "pagination": {"page": page, "per_page": 1, "total_pages": 2}})

    def supporters(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.params["suggestion"] == "2":
            return httpx.Response(200, json={"supporters": [], "pagination": {"page": 1, "total_pages": 1}})
        page = int(request.url.params["page"])
        body = [
            {"supporters": [{"id": 900, "created_at": "2024-05-02T00:00:00Z", "links": {"user": 7, "suggestion": 1}}],
             "users": [{"id": 7, "email_address": "Dan@Initech.com", "links": {"crm_accounts": [300]}}],
             "crm_accounts": [{"id": 300, "name": "Initech"}]},
            {"supporters": [{"id": 901, "links": {"user": 8}}, {"id": 902, "links": {}}, {"id": 903, "links": {"user": 7}}],
             "users": [{"id": 8, "email_address": None}]},
        ][page - 1]
        return httpx.Response(200, json={**body, "pagination": {"page": page, "per_page": 1, "total_pages": 2}})

    respx.get(f"{API}/suggestions").mock(side_effect=suggestions)
    respx.get(f"{API}/supporters").mock(side_effect=supporters)
    return calls


def _source(tmp_path: Path, full: bool = False, **options: Any) -> UserVoiceSource:
    opts = UserVoiceOptions(subdomain="acme", token=TOKEN, page_size=1, **options)
    return UserVoiceSource(opts, SourceContext("uv", tmp_path, full=full), sleep=lambda s: None)


@respx.mock
def test_pages_suggestions_and_supporters(tmp_path: Path) -> None:
    calls = _mock()
    source = _source(tmp_path, full=True)
    out = list(source.pull({}))
    records = [r for r in out if isinstance(r, Record)]
    assert [r.data["record_id"] for r in records] == ["1:7", "1:8", "2:51"]  # 2 has no supporters: its creator
    assert [r.locator for r in out if isinstance(r, Quarantined)] == [
        "uservoice suggestion 1 supporter 902", "uservoice suggestion ?"]
    assert {c.headers["Authorization"] for c in calls} == {f"Bearer {TOKEN}"}
    first = calls[0].url.params
    assert (first["page"], first["per_page"], first["includes"]) == ("1", "1", "users")
    assert "engagement_since" not in first
    sup = [c.url.params for c in calls if c.url.path.endswith("/supporters") and c.url.params["suggestion"] == "1"]
    assert [p["page"] for p in sup] == ["1", "2"] and sup[0]["includes"] == "users,crm_accounts"
    assert source.complete()


@respx.mock
def test_records_map_through_the_preset(tmp_path: Path) -> None:
    _mock()
    dan, anon, cara = [r for r in _source(tmp_path, full=True).pull({}) if isinstance(r, Record)]
    mapper = build_mapper("uv", "uservoice", {})
    a, b, c = mapper.map(dan), mapper.map(anon), mapper.map(cara)
    assert isinstance(a, FeedbackItem) and isinstance(b, FeedbackItem) and isinstance(c, FeedbackItem)
    assert a.text == "Suggestion 1\n\nPlease add dark mode"
    assert (a.requester, a.account, a.votes, a.epic_hint) == ("dan@initech.com", "Initech", 1, [])
    assert a.created_at is not None and a.created_at.isoformat() == "2024-05-02T00:00:00+00:00"
    assert (b.requester, b.account) == ("8", None)
    assert (c.requester, c.external_id) == ("cara@x.io", "2:51")


@respx.mock
def test_incremental_sends_engagement_since(tmp_path: Path) -> None:
    calls = _mock()
    source = _source(tmp_path)
    list(source.pull({"since": "2024-06-01T00:00:00Z"}))
    assert calls[0].url.params["engagement_since"] == "2024-06-01T00:00:00Z"
    assert source.cursor["since"] > "2024-06-01" and not source.complete()


@respx.mock
def test_key_and_secret_fetch_a_token_on_the_same_host(tmp_path: Path) -> None:
    token = respx.post("https://acme.uservoice.com/api/v2/oauth/token").mock(
        return_value=httpx.Response(200, json={"access_token": "tok"}))
    respx.get(f"{API}/suggestions").mock(return_value=httpx.Response(200, json={"suggestions": [], "pagination": {"total_pages": 1}}))
    opts = UserVoiceOptions(subdomain="acme", client_id="key", client_secret="shh")
    assert list(UserVoiceSource(opts, SourceContext("uv", tmp_path)).pull({})) == []
    assert token.called and b"grant_type=client_credentials" in token.calls[0].request.content


@respx.mock
def test_429_with_retry_after_is_retried(tmp_path: Path) -> None:
    waits: list[float] = []
    respx.get(f"{API}/suggestions").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "4"}),
        httpx.Response(200, json={"suggestions": [], "pagination": {"total_pages": 1}})])
    source = UserVoiceSource(UserVoiceOptions(subdomain="acme", token=TOKEN), SourceContext("uv", tmp_path), sleep=waits.append)
    assert list(source.pull({})) == [] and waits == [4.0]


@respx.mock
def test_401_is_a_clear_error_without_the_token(tmp_path: Path) -> None:
    respx.get(f"{API}/suggestions").mock(return_value=httpx.Response(401, json={"errors": {"message": "token invalid"}}))
    with pytest.raises(FatalAPIError) as caught:
        list(UserVoiceSource(UserVoiceOptions(subdomain="acme", token=TOKEN), SourceContext("uv", tmp_path)).pull({}))
    assert "HTTP 401" in str(caught.value) and TOKEN not in str(caught.value)


def test_options_need_one_kind_of_credentials() -> None:
    with pytest.raises(pydantic.ValidationError, match="either token"):
        UserVoiceOptions(subdomain="acme")
    with pytest.raises(pydantic.ValidationError, match="subdomain"):
        UserVoiceOptions(token=TOKEN)


def test_page_number_paginator_without_a_page_count_stops_on_an_empty_page() -> None:
    from demandsync.connectors.http import ApiClient, iter_items
    from demandsync.connectors.http.paginators import PageNumberPaginator

    rows = list(range(3))

    def handler(request: httpx.Request) -> httpx.Response:
        page, size = int(request.url.params["page"]), int(request.url.params["per_page"])
        return httpx.Response(200, json={"suggestions": rows[(page - 1) * size:page * size]})

    client = ApiClient("https://acme.uservoice.com", transport=httpx.MockTransport(handler))
    got = list(iter_items(client, "GET", "/api/v2/admin/suggestions", PageNumberPaginator(per_page=2, items_key="suggestions"),
                          items_key="suggestions"))
    assert got == [0, 1, 2] and client.request_counts[("GET", "/api/v2/admin/suggestions")] == 3
