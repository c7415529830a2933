"""PendoFeedbackSource: features by offset, per-requester records, Jira keys, header auth, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from demandsync.connectors.base import Record, SourceContext
from demandsync.connectors.http import FatalAPIError
from demandsync.connectors.pendo_feedback import PendoFeedbackOptions, PendoFeedbackSource
from demandsync.domain import FeedbackItem, Quarantined
from demandsync.mappings.engine import build_mapper

API = "https://api.feedback.us.pendo.io"
KEY = "pendo-feedback-key-42"
FEATURES = [
    {"id": 11, "title": "Bulk export", "description": "CSV export of all reports", "status": "planned",
     "vote_count": 12, "jira_url": "https://acme.atlassian.net/browse/PROD-12", "created_at": "2024-03-01T00:00:00Z"},
    {"id": 12, "title": "SAML SSO", "vote_count": 4},
    {"id": 13},  # malformed: no title
]


def _mock() -> list[httpx.Request]:
    calls: list[httpx.Request] = []

    def features(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        start, limit = int(request.url.params["start"]), int(request.url.params["limit"])
        return httpx.Response(200, json=FEATURES[start:start + limit])

    respx.get(f"{API}/features").mock(side_effect=features)
    return calls


def _source(tmp_path: Path, **options: Any) -> PendoFeedbackSource:
    opts = PendoFeedbackOptions(api_key=KEY, page_size=2, **options)
    return PendoFeedbackSource(opts, SourceContext("pendo", tmp_path, full=True), sleep=lambda s: None)


@respx.mock
def test_features_are_paged_by_offset_with_the_key_in_a_header(tmp_path: Path) -> None:
    calls = _mock()
    source = _source(tmp_path)
    out = list(source.pull({}))
    assert [dict(c.url.params) for c in calls] == [{"start": "0", "limit": "2"}, {"start": "2", "limit": "2"}]
    assert {c.headers["auth-token"] for c in calls} == {KEY} and all("auth-token" not in str(c.url) for c in calls)
    assert [r.data["record_id"] for r in out if isinstance(r, Record)] == ["11", "12"]
    assert [r.locator for r in out if isinstance(r, Quarantined)] == ["pendo feedback feature 13"]
    assert source.cursor == {} and source.complete()


@respx.mock
def test_per_feature_records_map_with_votes_and_jira_key(tmp_path: Path) -> None:
    _mock()
    records = [r for r in _source(tmp_path).pull({}) if isinstance(r, Record)]
    item = build_mapper("pendo", "pendo-feedback", {}).map(records[0])
    assert isinstance(item, FeedbackItem)
    assert item.text == "Bulk export\n\nCSV export of all reports"
    assert (item.votes, item.epic_hint, item.requester, item.account) == (12, ["PROD-12"], None, None)
    assert item.url == "https://feedback.us.pendo.io/app/#/case/11"


@respx.mock
def test_requesters_path_gives_one_record_per_requester(tmp_path: Path) -> None:
    _mock()
    respx.get(f"{API}/features/11/requests").mock(return_value=httpx.Response(200, json=[
        {"user": {"id": "u1", "email": "Eve@Umbrella.com"}, "account": {"id": "a1", "name": "Umbrella"},
         "created_at": "2024-03-05T00:00:00Z"},
        {"note": "nobody"}]))
    respx.get(f"{API}/features/12/requests").mock(return_value=httpx.Response(200, json={"items": []}))
    out = list(_source(tmp_path, requesters_path="features/{id}/requests").pull({}))
    records = [r for r in out if isinstance(r, Record)]
    assert [r.data["record_id"] for r in records] == ["11:Eve@Umbrella.com"]
    assert "no user or account" in next(r for r in out if isinstance(r, Quarantined)).reason
    item = build_mapper("pendo", "pendo-feedback", {}).map(records[0])
    assert isinstance(item, FeedbackItem)
    assert (item.requester, item.account, item.votes, item.epic_hint) == ("eve@umbrella.com", "Umbrella", 1, ["PROD-12"])
    assert item.created_at is not None and item.created_at.isoformat() == "2024-03-05T00:00:00+00:00"


@respx.mock
def test_429_with_retry_after_is_retried(tmp_path: Path) -> None:
    waits: list[float] = []
    respx.get(f"{API}/features").mock(side_effect=[httpx.Response(429, headers={"Retry-After": "5"}),
                                                   httpx.Response(200, json=[])])
    source = PendoFeedbackSource(PendoFeedbackOptions(api_key=KEY), SourceContext("p", tmp_path), sleep=waits.append)
    assert list(source.pull({})) == [] and waits == [5.0]


@respx.mock
def test_401_is_a_clear_error_without_the_key(tmp_path: Path) -> None:
    respx.get(f"{API}/features").mock(return_value=httpx.Response(401, text="Unauthorized"))
    with pytest.raises(FatalAPIError) as caught:
        list(PendoFeedbackSource(PendoFeedbackOptions(api_key=KEY), SourceContext("p", tmp_path)).pull({}))
    assert "HTTP 401" in str(caught.value) and KEY not in str(caught.value)


def test_eu_host_is_an_option() -> None:
    assert PendoFeedbackOptions(api_key=KEY, url="https://api.feedback.eu.pendo.io").url.endswith("eu.pendo.io")
