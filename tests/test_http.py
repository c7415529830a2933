"""The shared HTTP layer: retries, waits, errors, secrets, auth flows, paging."""

from __future__ import annotations

import doctest
import json
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from pydantic import SecretStr

from demandsync.connectors.http import (
    ApiClient,
    APIError,
    BearerAuth,
    BodyKeyAuth,
    CursorPaginator,
    FatalAPIError,
    JiraTokenPaginator,
    NextUrlPaginator,
    OAuth2ClientCredentials,
    OffsetPaginator,
    RetriesExhausted,
    SkipPaginator,
    iter_items,
    paginate,
    parse_retry_after,
    quiet_http_loggers,
    redact_url,
)
from demandsync.connectors.http import client as client_module
from demandsync.connectors.http import errors as errors_module
from demandsync.connectors.http import paginators as paginators_module
from demandsync.connectors.http import redaction as redaction_module
from demandsync.connectors.jira import adf

BASE = "https://api.example.com"
TOKEN = "tok_SUPERSECRET_123"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps: list[float]) -> ApiClient:
    return ApiClient(BASE, sleep=sleeps.append, random=lambda: 1.0, max_attempts=5)


# -- retry and back-off -------------------------------------------------------------


@respx.mock
def test_429_honours_retry_after_seconds(client: ApiClient, sleeps: list[float]) -> None:
    route = respx.get(f"{BASE}/things").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(429, headers={"Retry-After": "3"}),
        httpx.Response(200, json={"ok": 1}),
    ])
    assert client.request_json("GET", "/things") == {"ok": 1}
    assert sleeps == [7.0, 3.0]
    assert route.call_count == 3
    assert client.request_counts[("GET", "/things")] == 3


@respx.mock
def test_retry_after_http_date(client: ApiClient, sleeps: list[float]) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    respx.get(f"{BASE}/x").mock(side_effect=[httpx.Response(503, headers={"Retry-After": when}), httpx.Response(200)])
    client.request("GET", "/x")
    assert len(sleeps) == 1 and 27 <= sleeps[0] <= 30


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(" 12 ") == 12.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: 1445412470.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: 1445412490.0) == 0.0  # in the past
    assert parse_retry_after("later") is None
    assert parse_retry_after(None) is None


@respx.mock
def test_503_then_success(client: ApiClient, sleeps: list[float]) -> None:
    respx.get(f"{BASE}/x").mock(side_effect=[httpx.Response(503), httpx.Response(200, json=[1])])
    assert client.request_json("GET", "/x") == [1]
    assert sleeps == [1.0]


@respx.mock
def test_exponential_backoff_capped_per_wait(sleeps: list[float]) -> None:
    client = ApiClient(BASE, sleep=sleeps.append, random=lambda: 1.0, max_attempts=6, max_wait=5.0)
    respx.get(f"{BASE}/x").mock(side_effect=[httpx.Response(502)] * 5 + [httpx.Response(200)])
    client.request("GET", "/x")
    assert sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]


@respx.mock
def test_backoff_has_jitter(sleeps: list[float]) -> None:
    client = ApiClient(BASE, sleep=sleeps.append, random=lambda: 0.0, backoff_base=2.0)
    respx.get(f"{BASE}/x").mock(side_effect=[httpx.Response(504), httpx.Response(504), httpx.Response(200)])
    client.request("GET", "/x")
    assert sleeps == [1.0, 2.0]  # half of 2 and 4: jitter never drops below half the step


@respx.mock
def test_total_wait_cap_gives_up_with_a_clear_error(sleeps: list[float]) -> None:
    client = ApiClient(BASE, sleep=sleeps.append, max_attempts=10, max_wait_total=100)
    route = respx.get(f"{BASE}/x").mock(return_value=httpx.Response(429, headers={"Retry-After": "60"}))
    with pytest.raises(RetriesExhausted) as info:
        client.request("GET", "/x")
    assert sleeps == [60.0]
    assert route.call_count == 2
    message = str(info.value)
    assert "after 2 attempts" in message and "HTTP 429" in message and "100s wait budget" in message
    assert info.value.status == 429 and info.value.attempts == 2


@respx.mock
def test_attempt_limit_gives_up_with_count_and_status(client: ApiClient, sleeps: list[float]) -> None:
    respx.post(f"{BASE}/x").mock(return_value=httpx.Response(503))
    with pytest.raises(RetriesExhausted, match=r"POST https://api.example.com/x after 5 attempts \(last: HTTP 503\)"):
        client.request("POST", "/x", json={"a": 1})
    assert len(sleeps) == 4


@respx.mock
def test_400_is_fatal_and_not_retried(client: ApiClient, sleeps: list[float]) -> None:
    body = {"errorMessages": ["Bad JQL"], "errors": {"jql": "Field 'foo' does not exist"}}
    route = respx.post(f"{BASE}/rest/api/3/search/jql").mock(return_value=httpx.Response(400, json=body))
    with pytest.raises(FatalAPIError) as info:
        client.request("POST", "/rest/api/3/search/jql", json={"jql": "foo = 1"})
    assert route.call_count == 1 and sleeps == []
    exc = info.value
    assert exc.status == 400 and exc.body == body and exc.method == "POST"
    assert exc.url == f"{BASE}/rest/api/3/search/jql"
    assert "Bad JQL" in str(exc) and "jql: Field 'foo' does not exist" in str(exc)


@respx.mock
def test_401_says_what_to_check(client: ApiClient) -> None:
    respx.get(f"{BASE}/x").mock(return_value=httpx.Response(401, text=""))
    with pytest.raises(FatalAPIError, match="credentials were refused"):
        client.request("GET", "/x")


@respx.mock
def test_timeouts_retried_then_success(client: ApiClient, sleeps: list[float]) -> None:
    respx.get(f"{BASE}/x").mock(side_effect=[httpx.ReadTimeout("slow"), httpx.ConnectError("nope"), httpx.Response(200)])
    assert client.request("GET", "/x").status_code == 200
    assert len(sleeps) == 2


@respx.mock
def test_timeouts_exhausted_are_fatal(sleeps: list[float]) -> None:
    client = ApiClient(BASE, sleep=sleeps.append, max_attempts=3)
    respx.get(f"{BASE}/x").mock(side_effect=httpx.ConnectTimeout("timed out"))
    with pytest.raises(RetriesExhausted, match=r"after 3 attempts \(last: ConnectTimeout on GET"):
        client.request("GET", "/x")


def test_timeouts_are_set_on_the_client() -> None:
    client = ApiClient(BASE, connect_timeout=3, read_timeout=20)
    timeout = client._client.timeout
    assert timeout.connect == 3 and timeout.read == 20


# -- secrets ----------------------------------------------------------------------------


def test_redact_url() -> None:
    assert redact_url(f"https://u:{TOKEN}@h.io/p?apiKey={TOKEN}&x=1&access_token={TOKEN}") == (
        "https://***@h.io/p?apiKey=***&x=1&access_token=***"
    )
    for name in ("api_key", "token", "client_secret", "key", "KEY"):
        assert TOKEN not in redact_url(f"https://h.io/p?{name}={TOKEN}")


@respx.mock
def test_secrets_never_reach_exceptions_or_logs(caplog: pytest.LogCaptureFixture, sleeps: list[float]) -> None:
    caplog.set_level(logging.DEBUG)
    client = ApiClient(BASE, auth=BearerAuth(SecretStr(TOKEN)), sleep=sleeps.append, max_attempts=2)
    respx.get(f"{BASE}/a").mock(side_effect=[httpx.Response(503), httpx.Response(400, json={"access_token": TOKEN})])
    with pytest.raises(FatalAPIError) as info:
        client.request("GET", "/a", params={"api_key": TOKEN, "page": 2})
    exc = info.value
    for text in (str(exc), repr(exc), exc.url, json.dumps(exc.body), caplog.text, repr(client), repr(client._client.auth)):
        assert TOKEN not in text
    assert "api_key=***" in str(exc) and "page=2" in str(exc)
    assert "retrying" in caplog.text and "api_key=***" in caplog.text

    respx.get(f"{BASE}/b").mock(side_effect=httpx.ReadTimeout(f"timeout reading {BASE}/b?token={TOKEN}"))
    with pytest.raises(RetriesExhausted) as info2:
        client.request("GET", "/b", params={"token": TOKEN})
    assert TOKEN not in str(info2.value) and TOKEN not in caplog.text
    assert info2.value.__cause__ is None and info2.value.__suppress_context__  # no httpx exception text in tracebacks


def test_quiet_http_loggers() -> None:
    quiet_http_loggers()
    assert logging.getLogger("httpx").level == logging.WARNING
    assert logging.getLogger("httpcore").level == logging.WARNING


def test_plain_http_refused_unless_loopback_or_allowed() -> None:
    with pytest.raises(ValueError, match="refusing plain-http.*allow_insecure_http"):
        ApiClient("http://jira.example.com")
    with pytest.raises(ValueError, match="must start with https"):
        ApiClient("ftp://jira.example.com")
    for url in ("http://localhost:8080", "http://127.0.0.1", "http://[::1]:2990/jira"):
        ApiClient(url)
    ApiClient("http://jira.internal", allow_insecure_http=True)


def test_plain_http_error_does_not_show_userinfo() -> None:
    with pytest.raises(ValueError) as info:
        ApiClient(f"http://me:{TOKEN}@jira.example.com")
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize("base", [BASE, f"{BASE}/", "https://jira.example.com/jira", "http://127.0.0.1:8080/a/b/"])
@pytest.mark.parametrize(("path", "params"), [
    ("/rest/api/3/issue/PROD-7", {"notifyUsers": "false"}),
    ("rest/api/3/issue/PROD-7", None),
    ("/rest/api/3/issue/PROD%2D7/comment/10", {"startAt": 0, "maxResults": 100, "orderBy": "created"}),
    ("/rest/api/3/search", {"jql": "project = \"Ünïcode space\" AND labels in (a&b, c=d)", "fields": ["a", "b"]}),
    ("/path with space/ü/%zz", {"empty": "", "none": None, "many": [1, 2]}),
    ("/already?x=1", {"y": "2"}),
    ("/flags", {"a": True, "b": 1, "c": 1.0, "d": "true"}),
    (f"{BASE}/absolute/next?page=2", None),
])
def test_request_urls_are_the_ones_httpx_would_build(base: str, path: str, params: dict[str, object] | None) -> None:
    """The client builds a request's URL itself (one parse instead of httpx's three): for any path
    and parameters it must be the URL httpx's own merging gives."""
    ours = ApiClient(base, allow_insecure_http=True)
    plain = httpx.Client(base_url=base)
    if "://" in path and not path.startswith(base.rstrip("/")):
        return  # another origin: refused (test_credentials_never_sent_to_another_origin)
    for _ in range(2):  # the second time from the client's memory of the query
        built = ours._build("GET", path, params, None, None, None)  # noqa: SLF001
        assert str(built.url) == str(plain.build_request("GET", path, params=params).url)
    if params and {k: v for k, v in params.items() if isinstance(v, str)}:
        strings = {k: v for k, v in params.items() if isinstance(v, str)}
        assert str(ours._build("GET", "/q", strings, None, None, None).url) == str(  # noqa: SLF001
            plain.build_request("GET", "/q", params=strings).url)


@respx.mock
def test_credentials_never_sent_to_another_origin(client: ApiClient) -> None:
    with pytest.raises(ValueError, match="refusing to send credentials to https://evil.example.net/steal"):
        client.request("GET", "https://evil.example.net/steal")
    with pytest.raises(ValueError):
        client.request("GET", "http://api.example.com/downgrade")
    respx.get(f"{BASE}/same").mock(return_value=httpx.Response(200))
    assert client.request("GET", f"{BASE}/same").status_code == 200


# -- auth flows ----------------------------------------------------------------------------


@respx.mock
def test_bearer_and_basic_headers() -> None:
    seen: list[str] = []
    respx.get(f"{BASE}/me").mock(side_effect=lambda r: (seen.append(r.headers["Authorization"]), httpx.Response(200))[1])
    ApiClient(BASE, auth=BearerAuth(SecretStr(TOKEN))).request("GET", "/me")
    ApiClient(BASE, auth=httpx.BasicAuth("ops@acme.com", TOKEN)).request("GET", "/me")
    assert seen[0] == f"Bearer {TOKEN}"
    assert seen[1].startswith("Basic ")
    assert TOKEN not in repr(BearerAuth(TOKEN))


TOKEN_URL = "https://api.hotjar.io/v1/oauth/token"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@respx.mock
def test_oauth_fetches_once_caches_and_refreshes_on_expiry() -> None:
    clock = Clock()
    issued = iter(["tokA", "tokB"])
    forms: list[dict[str, list[str]]] = []

    def token(request: httpx.Request) -> httpx.Response:
        assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
        forms.append(parse_qs(request.content.decode()))
        return httpx.Response(200, json={"access_token": next(issued), "token_type": "Bearer", "expires_in": 3600})

    token_route = respx.post(TOKEN_URL).mock(side_effect=token)
    seen: list[str] = []
    respx.get("https://api.hotjar.io/v1/sites/1/surveys").mock(
        side_effect=lambda r: (seen.append(r.headers["Authorization"]), httpx.Response(200, json={}))[1]
    )
    auth = OAuth2ClientCredentials(TOKEN_URL, "client-1", SecretStr(TOKEN), clock=clock)
    client = ApiClient("https://api.hotjar.io", auth=auth)
    client.request("GET", "/v1/sites/1/surveys")
    client.request("GET", "/v1/sites/1/surveys")
    assert token_route.call_count == 1
    assert forms[0] == {"grant_type": ["client_credentials"], "client_id": ["client-1"], "client_secret": [TOKEN]}
    clock.now += 3600 - 30  # inside the 60 s leeway: refresh before it runs out
    client.request("GET", "/v1/sites/1/surveys")
    assert token_route.call_count == 2
    assert seen == ["Bearer tokA", "Bearer tokA", "Bearer tokB"]
    assert TOKEN not in repr(auth) and "tokB" not in repr(auth)


@respx.mock
def test_oauth_refreshes_once_on_401() -> None:
    issued = iter(["stale", "fresh"])
    respx.post(TOKEN_URL).mock(side_effect=lambda r: httpx.Response(200, json={"access_token": next(issued), "expires_in": 3600}))

    def api(request: httpx.Request) -> httpx.Response:
        ok = request.headers["Authorization"] == "Bearer fresh"
        return httpx.Response(200 if ok else 401, json={})

    route = respx.get("https://api.hotjar.io/v1/x").mock(side_effect=api)
    client = ApiClient("https://api.hotjar.io", auth=OAuth2ClientCredentials(TOKEN_URL, "c", TOKEN))
    assert client.request("GET", "/v1/x").status_code == 200
    assert route.call_count == 2


@respx.mock
def test_oauth_token_refusal_is_fatal_and_secret_free() -> None:
    respx.post(TOKEN_URL).mock(return_value=httpx.Response(401, json={"error": "invalid_client"}))
    client = ApiClient("https://api.hotjar.io", auth=OAuth2ClientCredentials(TOKEN_URL, "c", TOKEN))
    with pytest.raises(FatalAPIError, match="OAuth token request .* HTTP 401: invalid_client") as info:
        client.request("GET", "/v1/x")
    assert TOKEN not in str(info.value)


@respx.mock
def test_oauth_token_endpoint_503_is_retried(sleeps: list[float]) -> None:
    respx.post(TOKEN_URL).mock(side_effect=[httpx.Response(503), httpx.Response(200, json={"access_token": "t"})])
    respx.get("https://api.hotjar.io/v1/x").mock(return_value=httpx.Response(200))
    client = ApiClient("https://api.hotjar.io", auth=OAuth2ClientCredentials(TOKEN_URL, "c", TOKEN), sleep=sleeps.append)
    assert client.request("GET", "/v1/x").status_code == 200 and len(sleeps) == 1


@respx.mock
def test_canny_body_key_auth_json_and_form() -> None:
    bodies: list[tuple[str, bytes, str]] = []
    respx.post("https://canny.io/api/v1/posts/list").mock(
        side_effect=lambda r: (bodies.append((r.headers["Content-Type"], r.content, str(r.url))), httpx.Response(200, json={}))[1]
    )
    client = ApiClient("https://canny.io", auth=BodyKeyAuth(SecretStr(TOKEN)))
    client.request("POST", "/api/v1/posts/list", json={"boardID": "b1", "limit": 10})
    client.request("POST", "/api/v1/posts/list", data={"boardID": "b1"})
    client.request("POST", "/api/v1/posts/list")
    (ctype1, body1, url1), (ctype2, body2, url2), (_, body3, _) = bodies
    assert ctype1 == "application/json" and json.loads(body1) == {"boardID": "b1", "limit": 10, "apiKey": TOKEN}
    assert ctype2 == "application/x-www-form-urlencoded" and parse_qs(body2.decode()) == {"boardID": ["b1"], "apiKey": [TOKEN]}
    assert json.loads(body3) == {"apiKey": TOKEN}
    assert TOKEN not in url1 + url2
    assert TOKEN not in repr(client._client.auth)


def test_body_key_auth_refuses_get() -> None:
    client = ApiClient("https://canny.io", auth=BodyKeyAuth(TOKEN),
                       transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    with pytest.raises(ValueError, match="apiKey goes in a request body"):
        client.request("GET", "/api/v1/posts/list")


# -- paginators -------------------------------------------------------------------------------


@pytest.mark.parametrize("module", [paginators_module, client_module, errors_module, redaction_module, adf])
def test_docstring_examples_run(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.failed == 0 and result.attempted > 0


@respx.mock
def test_jira_token_paginator_forwards_token_and_stops_on_is_last(client: ApiClient) -> None:
    bodies: list[dict[str, object]] = []
    pages = {
        None: {"issues": [{"id": "1"}], "nextPageToken": "p2"},
        "p2": {"issues": [{"id": "2"}], "nextPageToken": "p3"},
        "p3": {"issues": [{"id": "3"}], "nextPageToken": "ignored", "isLast": True},
    }

    def jira(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        return httpx.Response(200, json=pages[body.get("nextPageToken")])

    respx.post(f"{BASE}/rest/api/3/search/jql").mock(side_effect=jira)
    items = list(iter_items(client, "POST", "/rest/api/3/search/jql", JiraTokenPaginator(), items_key="issues",
                            json={"jql": "project = X", "maxResults": 1}))
    assert [i["id"] for i in items] == ["1", "2", "3"]
    assert [b.get("nextPageToken") for b in bodies] == [None, "p2", "p3"]
    assert all(b["jql"] == "project = X" for b in bodies)


@respx.mock
def test_offset_paginator_stops_at_total_and_on_empty_page(client: ApiClient) -> None:
    calls: list[dict[str, str]] = []

    def jira(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        calls.append(params)
        start = int(params["startAt"])
        # the server caps the page at 2 whatever we ask
        return httpx.Response(200, json={"startAt": start, "maxResults": 2, "total": 5,
                                         "values": list(range(5))[start:start + 2]})

    respx.get(f"{BASE}/rest/agile/1.0/board").mock(side_effect=jira)
    got = list(iter_items(client, "GET", "/rest/agile/1.0/board", OffsetPaginator(items_key="values", page_size=50),
                          items_key="values"))
    assert got == [0, 1, 2, 3, 4]
    assert [c["startAt"] for c in calls] == ["0", "2", "4"] and calls[0]["maxResults"] == "50"


@respx.mock
def test_skip_paginator_uses_body(client: ApiClient) -> None:
    bodies: list[dict[str, int]] = []

    def canny(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        return httpx.Response(200, json={"posts": [body["skip"]], "hasMore": body["skip"] < 2})

    respx.post(f"{BASE}/api/v1/posts/list").mock(side_effect=canny)
    assert list(iter_items(client, "POST", "/api/v1/posts/list", SkipPaginator(limit=1), items_key="posts",
                           json={"boardID": "b"})) == [0, 1, 2]
    assert bodies == [{"boardID": "b", "skip": 0, "limit": 1}, {"boardID": "b", "skip": 1, "limit": 1},
                      {"boardID": "b", "skip": 2, "limit": 1}]


@respx.mock
def test_next_url_paginator_refuses_other_hosts(client: ApiClient) -> None:
    respx.get(f"{BASE}/v2/notes").mock(return_value=httpx.Response(
        200, json={"data": [1], "links": {"next": "https://elsewhere.example.org/v2/notes?pageCursor=2"}}))
    pages = paginate(client, "GET", "/v2/notes", NextUrlPaginator())
    assert next(pages)["data"] == [1]
    with pytest.raises(ValueError, match="refusing to send credentials"):
        next(pages)


@respx.mock
def test_cursor_paginator(client: ApiClient) -> None:
    route = respx.get(f"{BASE}/v1/r").mock(side_effect=[
        httpx.Response(200, json={"results": [1], "next_cursor": "c2"}),
        httpx.Response(200, json={"results": [2], "next_cursor": None}),
    ])
    assert list(iter_items(client, "GET", "/v1/r", CursorPaginator(), items_key="results", params={"limit": 1})) == [1, 2]
    assert route.calls[1].request.url.params["cursor"] == "c2"
    assert route.calls[1].request.url.params["limit"] == "1"


@respx.mock
def test_repeated_cursor_stops_instead_of_looping(client: ApiClient) -> None:
    respx.get(f"{BASE}/v1/r").mock(return_value=httpx.Response(200, json={"results": [1], "next_cursor": "same"}))
    with pytest.raises(APIError, match="same page cursor twice"):
        list(iter_items(client, "GET", "/v1/r", CursorPaginator(), items_key="results"))


@respx.mock
def test_a_read_response_is_freed_without_the_cycle_collector(client: ApiClient) -> None:
    """A pull pauses the cycle collector (sync/collector.py): a response left in a reference cycle
    (httpx's stream holds its response) kept every page's body alive to the end of the pull, +168 MB
    peak at 1M items. A response must be freed as soon as its reader lets go of it."""
    import gc
    import weakref

    respx.get(f"{BASE}/things").mock(return_value=httpx.Response(200, json={"values": ["x" * 1000]}))
    was = gc.isenabled()
    gc.disable()
    try:
        response = client.request("GET", "things")
        assert response.json() == {"values": ["x" * 1000]}
        freed = weakref.ref(response)
        del response
        assert freed() is None
    finally:
        if was:
            gc.enable()
