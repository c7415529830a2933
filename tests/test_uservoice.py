"""UserVoiceSource beyond the shared contract: supporters verified per suggestion, accounts through
external users, staff creators left out, merged suggestions folded into their parent.

Fixtures follow the SDK docs' shapes (tests/vendor_fakes.py; sources in connectors/uservoice.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
import respx
from vendor_fakes import UserVoiceFake, uv_suggestion

from demandsync.connectors.apisource import UnexpectedShape
from demandsync.connectors.base import Record, SourceContext
from demandsync.connectors.uservoice import UserVoiceOptions, UserVoiceSource
from demandsync.domain import FeedbackItem, Person
from demandsync.mappings.engine import build_mapper

API = "https://acme.uservoice.com/api/v2/admin"


def source(fake: UserVoiceFake, tmp_path: Path, **options: Any) -> UserVoiceSource:
    opts = UserVoiceOptions.model_validate({"url": API, "token": fake.key, **options})
    return UserVoiceSource(opts, SourceContext("uv", tmp_path), transport=fake.transport())


def pull(fake: UserVoiceFake, tmp_path: Path, **options: Any) -> list[FeedbackItem]:
    mapper = build_mapper("uv", "uservoice", {})
    out = [mapper.map(r) for r in source(fake, tmp_path, **options).pull({}) if isinstance(r, Record)]
    return [i for i in out if isinstance(i, FeedbackItem)]


def seeded() -> UserVoiceFake:
    fake = UserVoiceFake()
    fake.suggestions = [uv_suggestion(3001, "CSV export of demand", created_by=41),
                        uv_suggestion(3002, "Export to CSV", created_by=43, parent=3001),
                        uv_suggestion(3003, "Dark mode", created_by=99)]
    fake.user(41, "ana@acme.example", account="Acme Inc")
    fake.user(42, "bo@globex.example", account="Globex")
    fake.user(43, "cy@initech.example")
    fake.user(99, "pm@vendor.example", admin=True)
    fake.supporters = {3001: [41, 42], 3002: [42, 43], 3003: [42]}
    return fake


def test_a_suggestion_is_one_request_with_its_supporters_and_their_accounts(tmp_path: Path) -> None:
    fake = seeded()
    got = {i.external_id: i for i in pull(fake, tmp_path)}
    assert sorted(got) == ["3001", "3003"]  # 3002 was merged into 3001
    assert got["3001"].people == [
        Person("ana@acme.example", "Ana", "ana@acme.example", "Acme Inc", 1, "voter"),
        Person("bo@globex.example", "Bo", "bo@globex.example", "Globex", 1, "voter"),
        Person("cy@initech.example", "Cy", "cy@initech.example", None, 1, "voter")]
    # the admin who typed 3003 in is no requester; its one supporter is
    assert [p.identity for p in got["3003"].people or []] == ["bo@globex.example"]
    assert sorted(c["query"]["user"] for c in fake.calls("/external_users")) == ["41", "42", "43"]
    assert all(c["query"]["includes"] == "users" for c in fake.calls("/supporters"))


def test_a_supporter_of_another_suggestion_stops_the_source(tmp_path: Path) -> None:
    fake = seeded()
    fake.ignore_supporter_filter = True
    with pytest.raises(UnexpectedShape, match="the filter was ignored"):
        list(source(fake, tmp_path).pull({}))


def test_a_supporters_page_without_its_list_stops_the_source(tmp_path: Path) -> None:
    """A page that lost its ``supporters`` key must not read as "nobody supports this" (0 votes)."""
    fake = seeded()
    route = fake.route

    def without_supporters(method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> httpx.Response:
        response = route(method, path, query, body)
        if path.endswith("/supporters"):
            return httpx.Response(200, json={k: v for k, v in response.json().items() if k != "supporters"})
        return response

    fake.route = without_supporters  # type: ignore[method-assign]
    with pytest.raises(UnexpectedShape, match="without a supporters list"):
        pull(fake, tmp_path)


def test_accounts_off_makes_no_external_user_calls(tmp_path: Path) -> None:
    fake = seeded()
    got = {i.external_id: i for i in pull(fake, tmp_path, accounts=False)}
    assert {p.account for p in got["3001"].people or []} == {None} and fake.calls("/external_users") == []


@respx.mock
def test_key_and_secret_fetch_a_token_on_the_same_host(tmp_path: Path) -> None:
    token = respx.post("https://acme.uservoice.com/api/v2/oauth/token").mock(
        return_value=httpx.Response(200, json={"access_token": "tok"}))
    respx.get(f"{API}/suggestions").mock(return_value=httpx.Response(200, json={"suggestions": [], "pagination": {"total_pages": 1}}))
    opts = UserVoiceOptions(subdomain="acme", client_id="key", client_secret="shh")
    assert list(UserVoiceSource(opts, SourceContext("uv", tmp_path)).pull({})) == []
    assert token.called and b"grant_type=client_credentials" in token.calls[0].request.content


def test_options_need_one_kind_of_credentials() -> None:
    with pytest.raises(pydantic.ValidationError, match="either token"):
        UserVoiceOptions(subdomain="acme")
    with pytest.raises(pydantic.ValidationError, match="subdomain"):
        UserVoiceOptions(token="t")


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
