"""ProductboardSource: v2 notes via links.next, customers, feature links → Jira keys, cursor, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from demandsync.connectors.base import Record, SourceContext
from demandsync.connectors.http import FatalAPIError
from demandsync.connectors.productboard import ProductboardOptions, ProductboardSource
from demandsync.domain import FeedbackItem, Quarantined
from demandsync.mappings.engine import build_mapper

API = "https://api.productboard.com/v2"
TOKEN = "pb-token-abc"


def _note(nid: str, **fields: Any) -> dict[str, Any]:
    return {"id": nid, "type": "simple", "createdAt": "2024-06-01T10:00:00Z", "updatedAt": "2024-06-02T10:00:00Z",
            "fields": {"name": f"Note {nid}", "content": "<p>We need <b>SSO</b> &amp; SCIM</p>",
                       "tags": [{"name": "enterprise"}], **fields},
            "links": {"self": f"{API}/notes/{nid}", "html": f"https://acme.productboard.com/inbox/notes/{nid}"}}


def _rel(kind: str, target_type: str, target_id: str) -> dict[str, Any]:
    return {"type": kind, "target": {"id": target_id, "type": target_type, "links": {"self": f"{API}/entities/{target_id}"}}}


def _mock() -> list[httpx.Request]:
    seen: list[httpx.Request] = []

    def notes(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.params.get("pageCursor") == "n2":
            return httpx.Response(200, json={"data": [_note("n2"), {"fields": {}}], "links": {"next": None}})
        return httpx.Response(200, json={"data": [_note("n1")], "links": {"next": f"{API}/notes?pageCursor=n2"}})

    respx.get(f"{API}/notes").mock(side_effect=notes)
    # the more specific route first: respx matches routes in order
    respx.get(f"{API}/notes/n1/relationships", params={"pageCursor": "r2"}).mock(return_value=httpx.Response(200, json={
        "data": [_rel("link", "component", "c9"), _rel("link", "subfeature", "f2")], "links": {}}))
    respx.get(f"{API}/notes/n1/relationships").mock(return_value=httpx.Response(200, json={
        "data": [_rel("customer", "user", "u1"), _rel("link", "feature", "f1")],
        "links": {"next": f"{API}/notes/n1/relationships?pageCursor=r2"}}))
    respx.get(f"{API}/notes/n2/relationships").mock(return_value=httpx.Response(200, json={
        "data": [_rel("customer", "company", "co1")], "links": {}}))
    respx.get(f"{API}/entities/u1").mock(return_value=httpx.Response(200, json={
        "data": {"id": "u1", "type": "user", "fields": {"name": "Ann", "email": "Ann@Globex.com"}}}))
    respx.get(f"{API}/entities/u1/relationships").mock(return_value=httpx.Response(200, json={
        "data": [_rel("parent", "company", "co1")], "links": {}}))
    respx.get(f"{API}/entities/co1").mock(return_value=httpx.Response(200, json={
        "data": {"id": "co1", "type": "company", "fields": {"name": "Globex", "domain": "globex.com"}}}))
    respx.get(f"{API}/jira-integrations/ji1/connections").mock(return_value=httpx.Response(200, json={
        "data": [{"featureId": "f1", "connection": {"issueKey": "PROD-7", "issueId": "10001"}},
                 {"featureId": "f2", "connection": {"state": "connected", "targetUrl": "https://acme.atlassian.net/browse/PROD-9"}},
                 {"featureId": "f3", "connection": {"state": "initial"}}], "links": {"next": None}}))
    return seen


def _source(tmp_path: Path, full: bool = False, **options: Any) -> ProductboardSource:
    opts = ProductboardOptions(token=TOKEN, jira_integration_id="ji1", **options)
    return ProductboardSource(opts, SourceContext("pb", tmp_path, full=full), sleep=lambda s: None)


@respx.mock
def test_notes_pages_customers_and_jira_links(tmp_path: Path) -> None:
    seen = _mock()
    source = _source(tmp_path, full=True)
    out = list(source.pull({}))
    assert [r.data["id"] for r in out if isinstance(r, Record)] == ["n1", "n2"]
    assert [r.reason for r in out if isinstance(r, Quarantined)] == ["Productboard returned a note without an id or fields"]
    assert {call.request.headers["Authorization"] for call in respx.calls} == {f"Bearer {TOKEN}"}
    assert "updatedFrom" not in seen[0].url.params  # full: everything
    n1 = next(r for r in out if isinstance(r, Record))
    assert n1.data["customer"] == {"type": "user", "user_id": "u1", "email": "Ann@Globex.com", "company": "Globex"}
    assert n1.data["feature_ids"] == ["f1", "f2"] and n1.data["epic_keys"] == ["PROD-7", "PROD-9"]
    assert source.complete() and "updated" in source.cursor


@respx.mock
def test_records_map_through_the_preset(tmp_path: Path) -> None:
    _mock()
    n1, n2 = [r for r in _source(tmp_path, full=True).pull({}) if isinstance(r, Record)]
    mapper = build_mapper("pb", "productboard", {})
    a, b = mapper.map(n1), mapper.map(n2)
    assert isinstance(a, FeedbackItem) and isinstance(b, FeedbackItem)
    assert a.text == "Note n1\n\nWe need SSO & SCIM"
    assert (a.requester, a.account, a.votes, a.epic_hint) == ("ann@globex.com", "Globex", 1, ["PROD-7", "PROD-9"])
    assert a.tags == ["enterprise"] and a.url == "https://acme.productboard.com/inbox/notes/n1"
    assert (b.requester, b.account, b.epic_hint) == (None, "Globex", [])


@respx.mock
def test_incremental_sends_updated_from(tmp_path: Path) -> None:
    seen = _mock()
    source = _source(tmp_path)
    list(source.pull({"updated": "2024-06-01T00:00:00Z"}))
    assert seen[0].url.params["updatedFrom"] == "2024-06-01T00:00:00Z"
    assert not source.complete() and source.cursor["updated"] > "2024-06-01T00:00:00Z"


@respx.mock
def test_429_with_retry_after_is_retried(tmp_path: Path) -> None:
    waits: list[float] = []
    respx.get(f"{API}/notes").mock(side_effect=[httpx.Response(429, headers={"Retry-After": "2"}),
                                                httpx.Response(200, json={"data": [], "links": {}})])
    source = ProductboardSource(ProductboardOptions(token=TOKEN), SourceContext("pb", tmp_path), sleep=waits.append)
    assert list(source.pull({})) == [] and waits == [2.0]


@respx.mock
def test_401_is_a_clear_error_without_the_token(tmp_path: Path) -> None:
    respx.get(f"{API}/notes").mock(return_value=httpx.Response(401, json={"errors": [{"detail": "Unauthorized"}]}))
    with pytest.raises(FatalAPIError) as caught:
        list(ProductboardSource(ProductboardOptions(token=TOKEN), SourceContext("pb", tmp_path)).pull({}))
    assert "HTTP 401" in str(caught.value) and "credentials were refused" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_plain_http_to_a_remote_host_is_refused() -> None:
    with pytest.raises(ValueError, match="plain-http"):
        ProductboardOptions(token=TOKEN, url="http://pb-proxy.example.com/v2")
    assert ProductboardOptions(token=TOKEN, url="http://127.0.0.1:8080/v2").url.startswith("http://127")
