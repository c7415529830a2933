"""HotjarSource: OAuth client credentials, cursor paging, incremental stop, identity like the CSV preset."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from demandsync.connectors.base import Record, SourceContext
from demandsync.connectors.hotjar import HotjarOptions, HotjarSource
from demandsync.connectors.http import FatalAPIError
from demandsync.domain import FeedbackItem, Quarantined
from demandsync.mappings.engine import build_mapper

API = "https://api.hotjar.io/v1"
TOKEN_URL = f"{API}/oauth/token"
RESPONSES = f"{API}/sites/123/surveys/456/responses"
SECRET = "hj-client-secret-xyz"
ZERO = "00000000-0000-0000-0000-000000000000"


def _response(rid: str, created: str, user: str | None = "a1b2c3d4-0000-4000-8000-000000000001", **extra: Any) -> dict[str, Any]:
    return {"id": rid, "created_time": created, "user_id": user,
            "answers": [{"question_id": "q1", "question": "What is stopping you?", "answer": f"Price ({rid})"},
                        {"question_id": "q2", "answer": ""}],
            "tags": [{"name": "pricing"}], **extra}


PAGE1 = {"results": [_response("r3", "2024-06-03T10:17:29Z"), _response("r2", "2024-06-02T08:00:00Z", user=ZERO)],
         "next_cursor": "c2"}
PAGE2 = {"results": [_response("r1", "2024-06-01T09:00:00Z"), {"answers": []}], "next_cursor": None}


def _mock(pages: dict[str | None, dict[str, Any]], tokens: list[str] | None = None) -> tuple[list[httpx.Request], list[dict[str, list[str]]]]:
    calls: list[httpx.Request] = []
    forms: list[dict[str, list[str]]] = []
    tokens = tokens or ["tok-1", "tok-2", "tok-3"]

    def token(request: httpx.Request) -> httpx.Response:
        forms.append(parse_qs(request.content.decode()))
        return httpx.Response(200, json={"access_token": tokens[len(forms) - 1], "token_type": "Bearer", "expires_in": 3600})

    def responses(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=pages[request.url.params.get("cursor")])

    respx.post(TOKEN_URL).mock(side_effect=token)
    respx.get(RESPONSES).mock(side_effect=responses)
    return calls, forms


def _source(tmp_path: Path, full: bool = False, **kwargs: Any) -> HotjarSource:
    opts = HotjarOptions(client_id="cid", client_secret=SECRET, site_id="123", survey_id="456", page_size=2)
    return HotjarSource(opts, SourceContext("hotjar-exit", tmp_path, full=full), sleep=lambda s: None, **kwargs)


@respx.mock
def test_token_then_cursor_pages_and_identity(tmp_path: Path) -> None:
    calls, forms = _mock({None: PAGE1, "c2": PAGE2})
    source = _source(tmp_path, full=True)
    out = list(source.pull({}))
    assert forms == [{"grant_type": ["client_credentials"], "client_id": ["cid"], "client_secret": [SECRET]}]
    assert [c.headers["Authorization"] for c in calls] == ["Bearer tok-1", "Bearer tok-1"]
    assert [dict(c.url.params) for c in calls] == [{"limit": "2"}, {"limit": "2", "cursor": "c2"}]
    records = [r for r in out if isinstance(r, Record)]
    assert [r.data["identity"] for r in records] == [
        "a1b2c3d4-0000-4000-8000-000000000001|2024-06-03 10:17:29", "response:r2",
        "a1b2c3d4-0000-4000-8000-000000000001|2024-06-01 09:00:00"]
    bad = [r for r in out if isinstance(r, Quarantined)]
    assert len(bad) == 1 and "without an id" in bad[0].reason
    assert source.cursor == {"created": "2024-06-03T10:17:29Z"} and source.complete()


@respx.mock
def test_records_map_through_the_preset(tmp_path: Path) -> None:
    _mock({None: PAGE1, "c2": PAGE2})
    records = [r for r in _source(tmp_path, full=True).pull({}) if isinstance(r, Record)]
    mapper = build_mapper("hotjar-exit", "hotjar-api", {})
    first, anonymous, _ = (mapper.map(r) for r in records)
    assert isinstance(first, FeedbackItem) and isinstance(anonymous, FeedbackItem)
    assert first.text == "What is stopping you?: Price (r3)"
    assert first.requester == "a1b2c3d4-0000-4000-8000-000000000001" and first.votes == 1
    assert first.tags == ["pricing"] and first.epic_hint == [] and first.account is None
    assert first.external_id == "a1b2c3d4-0000-4000-8000-000000000001|2024-06-03 10:17:29"
    assert anonymous.requester is None and anonymous.external_id == "response:r2"


@respx.mock
def test_incremental_stops_at_the_saved_time(tmp_path: Path) -> None:
    calls, _ = _mock({None: PAGE1, "c2": PAGE2})
    source = _source(tmp_path)
    out = [r.data["id"] for r in source.pull({"created": "2024-06-02T12:00:00Z"}) if isinstance(r, Record)]
    assert out == ["r3"] and len(calls) == 1
    assert source.cursor == {"created": "2024-06-03T10:17:29Z"} and not source.complete()


@respx.mock
def test_token_is_refreshed_before_expiry_and_after_a_401(tmp_path: Path) -> None:
    now = [0.0]
    calls, forms = _mock({None: {"results": [], "next_cursor": None}})
    source = _source(tmp_path, token_clock=lambda: now[0])
    list(source.pull({}))
    now[0] = 3600 - 30  # inside the 60 s leeway: fetch a new one first
    list(source.pull({}))
    assert len(forms) == 2 and calls[-1].headers["Authorization"] == "Bearer tok-2"

    respx.get(RESPONSES).mock(side_effect=[httpx.Response(401), httpx.Response(200, json={"results": []})])
    list(source.pull({}))
    assert len(forms) == 3  # revoked token: one more token request, then the retry succeeded


@respx.mock
def test_429_with_retry_after_is_retried(tmp_path: Path) -> None:
    waits: list[float] = []
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(200, json={"access_token": "t", "expires_in": 3600}))
    respx.get(RESPONSES).mock(side_effect=[httpx.Response(429, headers={"Retry-After": "7"}),
                                           httpx.Response(200, json={"results": [], "next_cursor": None})])
    opts = HotjarOptions(client_id="cid", client_secret=SECRET, site_id="123", survey_id="456")
    assert list(HotjarSource(opts, SourceContext("h", tmp_path), sleep=waits.append).pull({})) == []
    assert waits == [7.0]


@respx.mock
def test_refused_credentials_are_a_clear_error_without_the_secret(tmp_path: Path) -> None:
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(401, json={"error": "invalid_client",
                                                                      "client_secret": SECRET}))
    with pytest.raises(FatalAPIError) as caught:
        list(_source(tmp_path).pull({}))
    assert "401" in str(caught.value) and "invalid_client" in str(caught.value)
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value.body)
