"""Paging styles of the APIs we read, behind one small protocol.

A :class:`Paginator` is told the request that fetched a page and the response
it got, and answers with the request for the next page, or ``None`` when there
is none. It keeps no state, so one instance can page many endpoints, and
:func:`paginate` is the only loop. Every example below runs as a doctest
against ``httpx.MockTransport`` (no network).
"""

from __future__ import annotations

import json as _json  # noqa: F401 - used by the doctest examples
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import httpx

from demandsync.connectors.http.client import ApiClient
from demandsync.connectors.http.errors import APIError
from demandsync.connectors.http.redaction import redact_url

#: Where a paging parameter travels: the query string or the JSON body.
Place = Literal["params", "json"]


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What :func:`paginate` sends for one page."""

    method: str
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Mapping[str, Any] | None = None

    def with_value(self, place: Place, key: str, value: Any) -> PageRequest:
        """A copy with ``key`` set (or removed, for None) in the params or the JSON body."""
        target = dict(self.params if place == "params" else (self.json or {}))
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
        return replace(self, params=target) if place == "params" else replace(self, json=target)

    def value(self, place: Place, key: str, default: Any = None) -> Any:
        source = self.params if place == "params" else (self.json or {})
        return source.get(key, default)


class Paginator(ABC):
    """The next page's request from this page's request and response."""

    def first(self, request: PageRequest) -> PageRequest:
        """The first page's request (add a page size, a zero offset, …)."""
        return request

    @abstractmethod
    def next(self, request: PageRequest, response: httpx.Response) -> PageRequest | None:
        """The request for the page after ``response``, or None on the last page."""


def page_json(response: httpx.Response) -> Any:
    """The response's JSON, decoded once: :func:`paginate` and the paginator both read it."""
    cached = response.__dict__.get("_demandsync_json", _UNSET)
    if cached is _UNSET:
        cached = response.__dict__["_demandsync_json"] = response.json()
    return cached


_UNSET = object()


def _body(response: httpx.Response) -> dict[str, Any]:
    body = page_json(response)
    return body if isinstance(body, dict) else {}


class JiraTokenPaginator(Paginator):
    """Jira Cloud ``POST /rest/api/3/search/jql``: send back ``nextPageToken``
    until a page has none or says ``isLast``.

    >>> pages = {None: {"issues": [1, 2], "nextPageToken": "t2"}, "t2": {"issues": [3], "isLast": True}}
    >>> def jira(request):
    ...     return httpx.Response(200, json=pages[_json.loads(request.content).get("nextPageToken")])
    >>> client = ApiClient("https://x.atlassian.net", transport=httpx.MockTransport(jira))
    >>> list(iter_items(client, "POST", "/rest/api/3/search/jql", JiraTokenPaginator(),
    ...                 items_key="issues", json={"jql": "project = X"}))
    [1, 2, 3]
    """

    def __init__(self, place: Place = "json", token_key: str = "nextPageToken") -> None:
        self.place = place
        self.token_key = token_key

    def next(self, request: PageRequest, response: httpx.Response) -> PageRequest | None:
        body = _body(response)
        token = body.get(self.token_key)
        if not token or body.get("isLast") is True:
            return None
        return request.with_value(self.place, self.token_key, token)


class OffsetPaginator(Paginator):
    """``startAt``/``maxResults``/``total`` (Jira Data Center search, Jira
    Agile, most older Jira lists): advance by the items received; stop on an
    empty page, at ``total``, or on ``isLast``.

    >>> issues = list(range(5))
    >>> def jira(request):
    ...     start, size = int(request.url.params["startAt"]), int(request.url.params["maxResults"])
    ...     return httpx.Response(200, json={"startAt": start, "maxResults": size, "total": 5,
    ...                                      "issues": issues[start:start + size]})
    >>> client = ApiClient("https://jira.example.com", transport=httpx.MockTransport(jira))
    >>> list(iter_items(client, "GET", "/rest/api/2/search", OffsetPaginator(page_size=2),
    ...                 items_key="issues", params={"jql": "project = X"}))
    [0, 1, 2, 3, 4]
    """

    def __init__(self, *, items_key: str = "issues", page_size: int = 100, place: Place = "params",
                 offset_key: str = "startAt", limit_key: str = "maxResults") -> None:
        self.items_key = items_key
        self.page_size = page_size
        self.place = place
        self.offset_key = offset_key
        self.limit_key = limit_key

    def first(self, request: PageRequest) -> PageRequest:
        return request.with_value(self.place, self.offset_key, 0).with_value(self.place, self.limit_key, self.page_size)

    def next(self, request: PageRequest, response: httpx.Response) -> PageRequest | None:
        body = _body(response)
        items = body.get(self.items_key) or []
        start = body.get(self.offset_key, request.value(self.place, self.offset_key, 0))
        following = int(start) + len(items)
        total = body.get("total")
        if not items or body.get("isLast") is True or (isinstance(total, int) and following >= total):
            return None
        return request.with_value(self.place, self.offset_key, following)


class SkipPaginator(Paginator):
    """Canny: ``skip``/``limit`` in the POST body, continue while ``hasMore``.

    >>> posts = [{"id": i} for i in range(3)]
    >>> def canny(request):
    ...     body = _json.loads(request.content); skip, limit = body["skip"], body["limit"]
    ...     return httpx.Response(200, json={"posts": posts[skip:skip + limit], "hasMore": skip + limit < 3})
    >>> client = ApiClient("https://canny.io", transport=httpx.MockTransport(canny))
    >>> [p["id"] for p in iter_items(client, "POST", "/api/v1/posts/list", SkipPaginator(limit=2),
    ...                               items_key="posts", json={})]
    [0, 1, 2]
    """

    def __init__(self, *, limit: int = 100, place: Place = "json", more_key: str = "hasMore",
                 items_key: str | None = None) -> None:
        self.limit = limit
        self.place = place
        self.more_key = more_key
        #: When given, ``skip`` advances by the items actually received, so a server that
        #: caps pages below ``limit`` loses nothing; else by ``limit``.
        self.items_key = items_key

    def first(self, request: PageRequest) -> PageRequest:
        return request.with_value(self.place, "skip", 0).with_value(self.place, "limit", self.limit)

    def next(self, request: PageRequest, response: httpx.Response) -> PageRequest | None:
        body = _body(response)
        if body.get(self.more_key) is not True:
            return None
        items = body.get(self.items_key) if self.items_key else None
        step = len(items) if isinstance(items, list) else int(request.value(self.place, "limit", self.limit))
        if step == 0:
            return None  # "more" but nothing came: asking again would loop
        return request.with_value(self.place, "skip", int(request.value(self.place, "skip", 0)) + step)


class NextUrlPaginator(Paginator):
    """Productboard v2: follow the absolute ``links.next`` URL until it is empty.
    The URL must stay on the client's host (the client enforces it).

    >>> def pb(request):
    ...     if request.url.params.get("pageCursor") == "c2":
    ...         return httpx.Response(200, json={"data": [3], "links": {"next": None}})
    ...     return httpx.Response(200, json={"data": [1, 2],
    ...                                      "links": {"next": "https://api.productboard.com/v2/notes?pageCursor=c2"}})
    >>> client = ApiClient("https://api.productboard.com", transport=httpx.MockTransport(pb))
    >>> list(iter_items(client, "GET", "/v2/notes", NextUrlPaginator(), items_key="data"))
    [1, 2, 3]
    """

    def __init__(self, path: tuple[str, ...] = ("links", "next")) -> None:
        self.path = path

    def next(self, request: PageRequest, response: httpx.Response) -> PageRequest | None:
        node: Any = _body(response)
        for key in self.path:
            node = node.get(key) if isinstance(node, dict) else None
        if not node or not isinstance(node, str):
            return None
        # The link already carries every query parameter the next page needs.
        return PageRequest(request.method, node, params={}, json=request.json)


class CursorPaginator(Paginator):
    """Hotjar: pass the answer's ``next_cursor`` back as the ``cursor`` parameter.

    >>> def hotjar(request):
    ...     if request.url.params.get("cursor") == "abc":
    ...         return httpx.Response(200, json={"results": ["b"], "next_cursor": None})
    ...     return httpx.Response(200, json={"results": ["a"], "next_cursor": "abc"})
    >>> client = ApiClient("https://api.hotjar.io", transport=httpx.MockTransport(hotjar))
    >>> list(iter_items(client, "GET", "/v1/sites/1/surveys/2/responses", CursorPaginator(),
    ...                 items_key="results", params={"limit": 100}))
    ['a', 'b']
    """

    def __init__(self, *, cursor_key: str = "next_cursor", param: str = "cursor", place: Place = "params") -> None:
        self.cursor_key = cursor_key
        self.param = param
        self.place = place

    def next(self, request: PageRequest, response: httpx.Response) -> PageRequest | None:
        cursor = _body(response).get(self.cursor_key)
        return request.with_value(self.place, self.param, cursor) if cursor else None


class ListOffsetPaginator(Paginator):
    """Pendo Feedback lists: the answer is a bare JSON list; ``start``/``limit``
    offsets advance by what came back, and only an *empty* page is the last: the
    API documents no maximum ``limit``, so a short page may be a server cap, not
    the end (one extra request per list buys never losing a page).

    >>> rows = list(range(5))
    >>> def pendo(request):
    ...     start, limit = int(request.url.params["start"]), int(request.url.params["limit"])
    ...     return httpx.Response(200, json=rows[start:start + limit])
    >>> client = ApiClient("https://api.feedback.us.pendo.io", transport=httpx.MockTransport(pendo))
    >>> list(iter_items(client, "GET", "/features", ListOffsetPaginator(limit=2), items_key="items"))
    [0, 1, 2, 3, 4]
    """

    def __init__(self, *, limit: int = 100, place: Place = "params", offset_key: str = "start",
                 limit_key: str = "limit") -> None:
        self.limit = limit
        self.place = place
        self.offset_key = offset_key
        self.limit_key = limit_key

    def first(self, request: PageRequest) -> PageRequest:
        return request.with_value(self.place, self.offset_key, 0).with_value(self.place, self.limit_key, self.limit)

    def next(self, request: PageRequest, response: httpx.Response) -> PageRequest | None:
        body = page_json(response)
        if not isinstance(body, list) or not body:
            return None
        start = int(request.value(self.place, self.offset_key, 0))
        return request.with_value(self.place, self.offset_key, start + len(body))


class PageNumberPaginator(Paginator):
    """UserVoice v2 admin lists: ``page``/``per_page`` numbers, stop after the
    last page the answer's ``pagination.total_pages`` names (or on an empty page).

    >>> rows = list(range(5))
    >>> def uservoice(request):
    ...     page, size = int(request.url.params["page"]), int(request.url.params["per_page"])
    ...     return httpx.Response(200, json={"suggestions": rows[(page - 1) * size:page * size],
    ...                                      "pagination": {"page": page, "total_pages": 3}})
    >>> client = ApiClient("https://acme.uservoice.com", transport=httpx.MockTransport(uservoice))
    >>> list(iter_items(client, "GET", "/api/v2/admin/suggestions", PageNumberPaginator(per_page=2),
    ...                 items_key="suggestions"))
    [0, 1, 2, 3, 4]
    """

    def __init__(self, *, per_page: int = 100, items_key: str | None = None, place: Place = "params",
                 page_key: str = "page", size_key: str = "per_page",
                 total_pages: tuple[str, ...] = ("pagination", "total_pages")) -> None:
        self.per_page = per_page
        self.items_key = items_key
        self.place = place
        self.page_key = page_key
        self.size_key = size_key
        self.total_pages = total_pages

    def first(self, request: PageRequest) -> PageRequest:
        return request.with_value(self.place, self.page_key, 1).with_value(self.place, self.size_key, self.per_page)

    def next(self, request: PageRequest, response: httpx.Response) -> PageRequest | None:
        body = _body(response)
        page = int(request.value(self.place, self.page_key, 1))
        total: Any = body
        for key in self.total_pages:
            total = total.get(key) if isinstance(total, dict) else None
        if isinstance(total, int):
            return request.with_value(self.place, self.page_key, page + 1) if page < total else None
        items = body.get(self.items_key) if self.items_key else None
        # Without a page count, an empty page is the only end we can see.
        return request.with_value(self.place, self.page_key, page + 1) if items else None


def paginate(
    client: ApiClient,
    method: str,
    path: str,
    paginator: Paginator,
    *,
    params: Mapping[str, Any] | None = None,
    json: Mapping[str, Any] | None = None,
    max_pages: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield each page's JSON body (a bare JSON list comes as ``{"items": [...]}``),
    fetching the next page only when the caller asks for it.

    A paginator that asks for the very request it just made would loop for
    ever (a server repeating its token); that raises :class:`APIError` instead.
    """
    request: PageRequest | None = paginator.first(PageRequest(method.upper(), path, dict(params or {}), json))
    pages = 0
    while request is not None:
        response = client.request(request.method, request.path, params=request.params or None, json=request.json)
        pages += 1
        body = page_json(response)
        yield body if isinstance(body, dict) else {"items": body}
        if max_pages is not None and pages >= max_pages:
            return
        following = paginator.next(request, response)
        if following == request:
            shown = redact_url(response.request.url)
            raise APIError(f"{method} {shown} returned the same page cursor twice; stopped paging",
                           method=request.method, url=shown)
        request = following


def iter_items(
    client: ApiClient,
    method: str,
    path: str,
    paginator: Paginator,
    *,
    items_key: str,
    params: Mapping[str, Any] | None = None,
    json: Mapping[str, Any] | None = None,
    max_pages: int | None = None,
) -> Iterator[Any]:
    """Yield the elements of ``page[items_key]`` across all pages."""
    for page in paginate(client, method, path, paginator, params=params, json=json, max_pages=max_pages):
        yield from page.get(items_key) or []
