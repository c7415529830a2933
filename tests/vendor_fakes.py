"""Small in-memory fakes of the five feedback APIs, built only from their documented shapes.

Each fake answers ``httpx.Request`` objects, so a test uses it either in-process
(``fake.transport()``, an ``httpx.MockTransport``) or over real loopback HTTP
(``with fake.serve() as url``: the sandboxes' loopback server on 127.0.0.1). Every
object a fake serves uses only the field names the connector's docstring cites
(the values are synthetic). Knobs every fake has, for the shared contract suite
(tests/test_connector_contract.py):

- ``key``: the one credential accepted; anything else gets the vendor-style refusal;
- ``page_cap``: the server returns at most this many items per page, whatever was asked;
- ``throttle``: paths that answer ``429 Retry-After: 7`` once before serving;
- ``requests``: every request seen (method, path, query, JSON/form body).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message
from typing import Any, ClassVar
from urllib.parse import parse_qs

import httpx

from demandsync.sandbox.served import Served, Wire


class FakeAPI:
    """What every fake shares: auth check, throttling, page caps, request log, serving."""

    key = "right-key"
    #: The vendor's own refusal, as (status, JSON body).
    refusal: tuple[int, Any] = (401, {"error": "invalid credentials"})

    def __init__(self) -> None:
        self.page_cap: int | None = None
        self.throttle: set[str] = set()
        self.requests: list[dict[str, Any]] = []

    # -- what a subclass implements ---------------------------------------------------

    def authorised(self, request: httpx.Request, body: dict[str, Any]) -> bool:
        raise NotImplementedError

    def route(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> httpx.Response:
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------

    def cap(self, asked: int) -> int:
        return min(asked, self.page_cap) if self.page_cap else asked

    def handle(self, request: httpx.Request) -> httpx.Response:
        query = {k: v for k, v in request.url.params.items()}
        raw = request.content.decode() if request.content else ""
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            body: dict[str, Any] = {k: v[0] for k, v in parse_qs(raw).items()}
        else:
            body = json.loads(raw) if raw else {}
        path = request.url.path
        self.requests.append({"method": request.method, "path": path, "query": query, "body": body})
        if path in self.throttle:
            self.throttle.discard(path)
            return httpx.Response(429, headers={"Retry-After": "7"}, json={"error": "slow down"})
        if not self.authorised(request, body):
            status, payload = self.refusal
            return httpx.Response(status, json=payload)
        return self.route(request.method, path, query, body)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def calls(self, path_end: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].endswith(path_end)]

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve over real HTTP on 127.0.0.1 (the sandboxes' loopback server); yields ``http://127.0.0.1:<port>``."""
        with _Served(self) as served:
            yield served.url


class _Served(Served):
    """A fake behind the sandboxes' loopback plumbing: each request becomes an ``httpx.Request``."""

    thread_name: ClassVar[str] = "vendor-fake"
    label: ClassVar[str] = "vendor fake"

    def __init__(self, fake: FakeAPI) -> None:
        self.fake = fake

    def answer(self, method: str, target: str, headers: Message[str, str], raw: bytes) -> Wire:
        url = f"http://{headers.get('Host', '127.0.0.1')}{target}"
        response = self.fake.handle(httpx.Request(method, url, headers=dict(headers.items()), content=raw))
        sent = {name: value for name, value in response.headers.items()
                if name.lower() not in ("content-length", "transfer-encoding", "connection")}
        return response.status_code, {**sent, "Content-Length": str(len(response.content))}, response.content

    def crashed(self, exc: Exception) -> Wire:
        return 500, {"Content-Length": "0"}, b""


def _bearer(request: httpx.Request, key: str) -> bool:
    return request.headers.get("authorization") == f"Bearer {key}"


# -- Canny ----------------------------------------------------------------------------------


def canny_user(uid: str, email: str | None, *, admin: bool = False) -> dict[str, Any]:
    """A voter/author object: CAJ ICannyUser / AB votes.voter (no companies)."""
    return {"id": uid, "created": "2024-01-01T00:00:00.000Z", "email": email, "isAdmin": admin,
            "name": uid.title(), "url": f"https://acme.canny.io/admin/users/{uid}", "userID": None}


def canny_post(pid: str, created: str, *, author: dict[str, Any] | None, status: str = "open",
               jira: list[str] = (), **extra: Any) -> dict[str, Any]:  # type: ignore[assignment]
    """A post: CAJ ICannyPost, tap-canny post.json."""
    return {"id": pid, "author": author, "board": {"id": "b1", "name": "Feature Requests"}, "by": None,
            "category": None, "commentCount": 0, "created": created, "details": f"Details of {pid}", "eta": None,
            "imageURLs": [], "jira": {"linkedIssues": [{"id": "1", "key": k, "url": f"https://x/browse/{k}"}
                                                      for k in jira]},
            "owner": None, "score": 0, "status": status, "tags": [], "title": f"Post {pid}",
            "url": f"https://acme.canny.io/feature-requests/p/{pid}", **extra}


class CannyFake(FakeAPI):
    """Canny v1: every call a POST with ``apiKey`` in the JSON body (see connectors/canny.py)."""

    refusal = (401, {"error": "invalid api key"})

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[dict[str, Any]] = []
        #: post id -> votes ({id, voter, by, created})
        self.votes: dict[str, list[dict[str, Any]]] = {}
        #: user id -> companies
        self.companies: dict[str, list[dict[str, Any]]] = {}

    def add_post(self, post: dict[str, Any], voters: list[dict[str, Any]], by: dict[str, Any] | None = None) -> None:
        self.posts.append(post)
        self.votes[str(post.get("id"))] = [
            {"id": f"v-{post.get('id')}-{i}", "voter": v, "by": by, "created": "2024-06-02T00:00:00.000Z",
             "board": {"id": "b1"}, "votePriority": None, "zendeskTicket": None} for i, v in enumerate(voters)]

    def authorised(self, request: httpx.Request, body: dict[str, Any]) -> bool:
        return body.get("apiKey") == self.key

    def _page(self, rows: list[Any], body: dict[str, Any], key: str) -> httpx.Response:
        skip, limit = int(body.get("skip", 0)), self.cap(int(body.get("limit", 10)))
        return httpx.Response(200, json={key: rows[skip:skip + limit], "hasMore": skip + limit < len(rows)})

    def route(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> httpx.Response:
        name = path.rsplit("/api/v1/", 1)[-1]
        if name == "boards/list":
            return httpx.Response(200, json={"boards": [{"id": "b1", "name": "Feature Requests"}]})
        if name == "posts/list":
            # Canny's documented default when no status is sent
            wanted = set((body.get("status") or "open,under review,planned,in progress").split(","))
            # (str(): a fuzzed post may carry any JSON there; the real service filters and sorts server-side)
            rows = [p for p in self.posts if not isinstance(p, dict) or str(p.get("status")) in wanted]
            rows.sort(key=lambda p: str(p.get("created", "")) if isinstance(p, dict) else "", reverse=True)
            return self._page(rows, body, "posts")
        if name == "votes/list":
            return self._page(self.votes.get(str(body.get("postID")), []), body, "votes")
        if name == "users/retrieve":
            uid = str(body.get("id"))
            if uid not in self.companies:
                return httpx.Response(400, json={"error": "invalid user"})
            return httpx.Response(200, json={**canny_user(uid, None), "companies": self.companies[uid]})
        return httpx.Response(404, json={"error": f"no route {name}"})


# -- Productboard -----------------------------------------------------------------------------


def pb_note(nid: str, name: str, *, updated: str = "2025-12-02T10:00:00Z", archived: bool = False) -> dict[str, Any]:
    """A v2 note (official updatenote field names; DM release notes for links.html)."""
    return {"id": nid, "type": "textNote",
            "fields": {"name": name, "content": f"<p>{name}, please</p>", "tags": [{"name": "export"}],
                       "archived": archived, "processed": True},
            "links": {"self": f"https://api.productboard.com/v2/notes/{nid}",
                      "html": f"https://acme.productboard.com/all-notes/notes/{nid}"},
            "createdAt": "2025-12-01T10:00:00Z", "updatedAt": updated, "metadata": {}}


class ProductboardFake(FakeAPI):
    """Productboard v2: bearer token, ``links.next`` paging, relationships, entities, Jira connections."""

    #: UNCONFIRMED body: Productboard documents error codes, not a 401 body; a JSON:API-style list is assumed
    refusal = (401, {"errors": [{"detail": "The access token is invalid"}]})
    page_size = 100  # fixed by the server (RW limitations.md)

    def __init__(self) -> None:
        super().__init__()
        self.notes: list[dict[str, Any]] = []
        #: note id -> relationships [{type, target:{id, type}}]
        self.relationships: dict[str, list[dict[str, Any]]] = {}
        #: entity id -> fields (users/companies); missing -> 404 (the closed beta)
        self.entities: dict[str, dict[str, Any]] = {}
        #: user entity id -> company entity id
        self.user_company: dict[str, str] = {}
        self.entities_refused = False
        #: The v2 list hides archived notes by default (DM release notes); False: a server that does not.
        self.hide_archived = True
        #: integration id -> [(feature id, issue key)]
        self.jira: dict[str, list[tuple[str, str]]] = {}

    def authorised(self, request: httpx.Request, body: dict[str, Any]) -> bool:
        return _bearer(request, self.key)

    def _paged(self, rows: list[Any], query: dict[str, str], path: str, base: str) -> httpx.Response:
        start = int(query.get("pageCursor", "0"))
        size = self.cap(self.page_size)
        chunk = rows[start:start + size]
        nxt = f"{base}{path}?pageCursor={start + size}" if start + size < len(rows) else None
        return httpx.Response(200, json={"data": chunk, "links": {"next": nxt}})

    def handle(self, request: httpx.Request) -> httpx.Response:
        self._base = f"{request.url.scheme}://{request.url.netloc.decode()}"
        return super().handle(request)

    def route(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> httpx.Response:
        tail = path.split("/v2/", 1)[-1]
        parts = tail.split("/")
        if tail == "notes":
            rows = [n for n in self.notes
                    if not (self.hide_archived and isinstance(n, dict) and (n.get("fields") or {}).get("archived"))]
            if query.get("updatedFrom"):
                rows = [n for n in rows if isinstance(n, dict) and n.get("updatedAt", "") >= query["updatedFrom"]]
            return self._paged(rows, query, path, self._base)
        if parts[0] == "notes" and parts[-1] == "relationships":
            return self._paged(self.relationships.get(parts[1], []), query, path, self._base)
        if parts[0] == "entities":
            eid = parts[1]
            if self.entities_refused or eid not in self.entities:
                return httpx.Response(404, json={"errors": [{"detail": "Entity not found"}]})
            if parts[-1] == "relationships":
                company = self.user_company.get(eid)
                rows = [{"type": "parent", "target": {"id": company, "type": "company"}}] if company else []
                return self._paged(rows, query, path, self._base)
            return httpx.Response(200, json={"data": {"id": eid, "fields": self.entities[eid]}})
        if tail == "jira-integrations":
            return self._paged([{"id": i, "fields": {"name": "Jira Cloud"}} for i in self.jira], query, path,
                               self._base)
        if parts[0] == "jira-integrations" and parts[-1] == "connections":
            rows = [{"id": f, "type": "connection", "fields": {"issueKey": k, "issueId": "10042"}}
                    for f, k in self.jira.get(parts[1], [])]
            return self._paged(rows, query, path, self._base)
        return httpx.Response(404, json={"message": f"no route {tail}"})


# -- Pendo Feedback -------------------------------------------------------------------------


def pendo_feature(fid: int, title: str, *, merged_to: int | None = None, tags: list[Any] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """definitions.Feature of the official Swagger spec."""
    return {"id": fid, "title": title, "description": f"{title}, weekly", "status": "planned",
            "created_at": f"2024-03-{fid % 28 + 1:02d}T09:00:00Z", "updated_at": "2024-05-01T00:00:00Z",
            "merged_to_feature_id": merged_to, "is_private": False,
            "app_url": f"https://feedback.us.pendo.io/app/#/case/{fid}", "products": [], "tags": list(tags)}


class PendoFake(FakeAPI):
    """Pendo Feedback: ``auth-token`` header, bare-array lists paged by ``start``/``limit``."""

    #: UNCONFIRMED body: the Swagger spec declares no error schema for a refused auth-token
    refusal = (401, {"message": "Invalid auth-token"})

    def __init__(self) -> None:
        super().__init__()
        self.features: list[Any] = []
        #: {user_id, feature_id, quantity, created_at, updated_at}
        self.votes: list[dict[str, Any]] = []
        #: user id (string) -> User; ids in ``deleted`` answer 410
        self.users: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()

    def vote(self, user_id: int, feature_id: int, quantity: int = 1) -> None:
        self.votes.append({"user_id": user_id, "feature_id": feature_id, "quantity": quantity,
                           "created_at": "2024-03-06T11:00:00Z", "updated_at": "2024-03-06T11:00:00Z"})

    def user(self, uid: int, email: str, account: str | None) -> None:
        self.users[str(uid)] = {"id": str(uid), "email": email, "name": email.split("@")[0].title(),
                                "external_id": f"ext-{uid}", "roles": "endUser",
                                "account": {"id": f"a-{account}", "name": account, "monthly_value": 99.0,
                                            "status": "paying"} if account else None}

    def authorised(self, request: httpx.Request, body: dict[str, Any]) -> bool:
        return request.headers.get("auth-token") == self.key

    def _slice(self, rows: list[Any], query: dict[str, str]) -> httpx.Response:
        start, limit = int(query.get("start", 0)), self.cap(int(query.get("limit", 1000)))
        return httpx.Response(200, json=rows[start:start + limit])

    def route(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> httpx.Response:
        if path == "/features":
            return self._slice(self.features, query)
        if path == "/votes":
            rows = [v for v in self.votes if str(v["feature_id"]) == query.get("feature_id")]
            return self._slice(rows, query)
        if path.startswith("/users/"):
            uid = path.rsplit("/", 1)[-1]
            if uid in self.deleted:
                return httpx.Response(410)
            return httpx.Response(200, json=self.users[uid]) if uid in self.users else httpx.Response(404)
        return httpx.Response(404)


# -- UserVoice ------------------------------------------------------------------------------


def uv_suggestion(sid: int, title: str, *, created_by: int | None, parent: int | None = None,
                  updated: str = "2024-05-01T00:00:00Z") -> dict[str, Any]:
    """CS docs/Suggestion.md + SuggestionLinks.md."""
    return {"id": sid, "title": title, "body": f"{title}, weekly", "body_mime_type": "text/plain", "state": "approved",
            "created_at": "2024-03-05T09:12:44Z", "updated_at": updated, "supporters_count": 0, "votes_count": 0,
            "portal_url": f"https://acme.uservoice.com/forums/1/suggestions/{sid}",
            "links": {"category": None, "created_by": created_by, "forum": 1, "last_status_update": None,
                      "parent_suggestion": parent, "status": None, "ticket": None}}


class UserVoiceFake(FakeAPI):
    """UserVoice Admin API v2: bearer token, page/per_page paging with ``pagination.total_pages``."""

    #: UNCONFIRMED body: the csharp-sdk documents no 401 body
    refusal = (401, {"errors": {"message": "token is invalid"}})

    def __init__(self) -> None:
        super().__init__()
        self.suggestions: list[Any] = []
        #: suggestion id -> user ids supporting it
        self.supporters: dict[int, list[int]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        #: user id -> account name (through an external user)
        self.accounts: dict[int, str] = {}
        self.ignore_supporter_filter = False

    def user(self, uid: int, email: str, *, admin: bool = False, account: str | None = None) -> None:
        self.users[uid] = {"id": uid, "name": email.split("@")[0].title(), "email_address": email,
                           "is_admin": admin, "links": {}}
        if account:
            self.accounts[uid] = account

    def authorised(self, request: httpx.Request, body: dict[str, Any]) -> bool:
        return _bearer(request, self.key)

    def _paged(self, key: str, rows: list[Any], query: dict[str, str], **side: Any) -> httpx.Response:
        page, per = int(query.get("page", 1)), self.cap(int(query.get("per_page", 20)))
        total = max(1, -(-len(rows) // per))
        chunk = rows[(page - 1) * per:page * per]
        return httpx.Response(200, json={key: chunk, **side, "pagination": {
            "page": page, "per_page": per, "total_pages": total, "total_records": len(rows)}})

    def route(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> httpx.Response:
        tail = path.rsplit("/admin/", 1)[-1]
        if tail == "suggestions":
            rows = self.suggestions
            if query.get("engagement_since"):
                rows = [s for s in rows if isinstance(s, dict) and s.get("updated_at", "") >= query["engagement_since"]]
            creators = [self.users[u] for u in {(s.get("links") or {}).get("created_by") for s in rows
                                                if isinstance(s, dict)} if u in self.users]
            return self._paged("suggestions", rows, query, users=creators)
        if tail == "supporters":
            wanted = None if self.ignore_supporter_filter else int(query["suggestion"])
            rows = [{"id": 9000 + sid * 100 + uid, "channel": "web", "how": "voted", "created_at": "2024-03-06T11:00:00Z",
                     "links": {"suggestion": sid, "user": uid, "created_by": uid, "updated_by": None}}
                    for sid, uids in self.supporters.items() if wanted in (None, sid) for uid in uids]
            users = [self.users[r["links"]["user"]] for r in rows if r["links"]["user"] in self.users]
            return self._paged("supporters", rows, query, users=users)
        if tail == "external_users":
            uid = int(query["user"])
            account = self.accounts.get(uid)
            rows = [{"id": 7000 + uid, "external_id": f"u-{uid}", "links": {"user": uid, "external_account": 500 + uid}}
                    ] if account else []
            accounts = [{"id": 500 + uid, "external_id": f"acct-{uid}", "name": account}] if account else []
            return self._paged("external_users", rows, query, external_accounts=accounts)
        return httpx.Response(404, json={"errors": {"message": f"no route {tail}"}})


# -- Hotjar ---------------------------------------------------------------------------------


def hj_response(rid: str, *answers: str, comment: str | None = None) -> dict[str, Any]:
    """AE SurveyResponse: {id, answers[{question_id, answer}], comment, tags[{name}]}."""
    return {"id": rid, "answers": [{"question_id": str(100 + i), "answer": a} for i, a in enumerate(answers)],
            "comment": comment, "tags": []}


class HotjarFake(FakeAPI):
    """Hotjar API: client-credentials token (form-encoded), then bearer; cursor paging, newest first."""

    refusal = (401, {"error": "invalid_client", "error_description": "Client authentication failed"})
    token = "hj-access-token"

    def __init__(self, site: str = "11", survey: str = "22") -> None:
        super().__init__()
        self.site, self.survey = site, survey
        #: newest first, as the API sorts them
        self.responses: list[Any] = []

    def authorised(self, request: httpx.Request, body: dict[str, Any]) -> bool:
        if request.url.path.endswith("/oauth/token"):
            return body.get("client_secret") == self.key and body.get("grant_type") == "client_credentials"
        return _bearer(request, self.token)

    def route(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> httpx.Response:
        if path.endswith("/oauth/token"):
            return httpx.Response(200, json={"access_token": self.token, "token_type": "bearer", "expires_in": 3600})
        if path.endswith(f"/sites/{self.site}/surveys/{self.survey}/responses"):
            limit = int(query.get("limit", 100))
            if limit > 100:
                return httpx.Response(400, json={"error": "limit must be at most 100"})
            start = int(query.get("cursor", "0"))
            size = self.cap(limit)
            rows = self.responses[start:start + size]
            nxt = str(start + size) if start + size < len(self.responses) else None
            return httpx.Response(200, json={"results": rows, "next_cursor": nxt})
        return httpx.Response(404, json={"error": "not found"})
