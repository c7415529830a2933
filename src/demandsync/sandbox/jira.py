"""A local, Jira-Cloud-compatible HTTP server: the test double demos, e2e tests and benchmarks use.

Think LocalStack for the handful of Jira REST endpoints demandsync speaks. It
is faithful where clients go wrong on a real site: search pages with
``nextPageToken`` and returns only ids unless asked, the removed
``/rest/api/3/search`` answers 410, edits are validated per field with Jira's
messages, ``notifyUsers=false`` needs admin, and it can inject 429/503 with
``Retry-After``, latency and per-issue write limits.

Layers, top to bottom:

* :class:`JiraSandbox` - configuration, counters, fault injection, lifecycle.
  :meth:`JiraSandbox.handle` turns (method, target, headers, body) into a
  :class:`Response` without any socket, so it is easy to reason about.
* :class:`CloudApi` - one method per REST route (``/rest/api/3``).
  :class:`DataCenterApi` overrides what differs on Jira Data Center (``/rest/api/2``).
* :func:`_wire` - a :class:`Response` as bytes for the shared HTTP/1.1 keep-alive
  plumbing in :mod:`demandsync.sandbox.served` (benchmarks push thousands of requests through).

Data and edit rules live in :mod:`demandsync.sandbox.state`; JQL in
:mod:`demandsync.sandbox.jql`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import random
import re
import threading
import time
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from email.message import Message
from http import HTTPStatus
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from demandsync.sandbox.jql import Catalog, CompiledQuery, JqlError, adf_text, compile_jql
from demandsync.sandbox.served import Served, Wire
from demandsync.sandbox.state import (
    EPIC_LINK,
    FieldDef,
    Issue,
    JsonDict,
    SandboxState,
    adf,
    demo_state,
    generate_state,
    jira_time,
    utcnow,
)

__all__ = ["JiraSandbox", "SandboxState", "demo_state", "generate_state", "main"]

REMOVED_SEARCH = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
NOT_AUTHENTICATED = "Client must be authenticated to access this resource."
ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission to see it."
NOTIFY_FORBIDDEN = "To discard the user notification either admin or project admin permissions are required."
UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
BAD_PAYLOAD = "Invalid request payload. Refer to the REST API documentation and try again."
ISSUE_EXPAND = "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"
_SEARCH_BODY_KEYS = frozenset(
    {"expand", "fields", "fieldsByKeys", "jql", "maxResults", "nextPageToken", "properties",
     "reconcileIssues"}
)


# ---------------------------------------------------------------------------
# Request / response values
# ---------------------------------------------------------------------------


@dataclass
class Request:
    """A parsed request as route handlers see it."""

    method: str
    path: str
    params: dict[str, list[str]]
    body: Any
    args: dict[str, str] = field(default_factory=dict)  # path parameters

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.params.get(name)
        return values[-1] if values else default

    def int_param(self, name: str, default: int) -> int:
        raw = self.param(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise ApiError(400, [f"The value '{raw}' is not a valid integer for '{name}'."]) from None

    def list_param(self, name: str) -> list[str] | None:
        """Jira list params: repeated and/or comma-separated (``fields=a,b&fields=c``)."""
        if name not in self.params:
            return None
        return [part.strip() for raw in self.params[name] for part in raw.split(",") if part.strip()]


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def _wire(resp: Response) -> Wire:
    """JSON body with Jira's content type; a 204 goes out with neither body nor content headers."""
    if resp.status == 204:
        return 204, resp.headers, b""
    payload = json.dumps(resp.body, separators=(",", ":")).encode()
    return resp.status, {"Content-Type": "application/json;charset=UTF-8", "Content-Length": str(len(payload)),
                         **resp.headers}, payload


class ApiError(Exception):
    """Any non-2xx answer, rendered as Jira's ``ErrorCollection``."""

    def __init__(self, status: int, messages: Iterable[str] = (), errors: Mapping[str, str] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status, list(messages), dict(errors or {}))
        self.status, self.messages, self.errors = status, list(messages), dict(errors or {})
        self.headers = dict(headers or {})

    def response(self) -> Response:
        return Response(self.status, {"errorMessages": self.messages, "errors": self.errors}, self.headers)


@dataclass(frozen=True)
class Route:
    method: str
    template: str  # what counters are keyed by, e.g. "/rest/api/3/issue/{key}"
    handler: str  # name of the API method
    pattern: re.Pattern[str]


def route(method: str, template: str, handler: str) -> Route:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return Route(method, template, handler, re.compile(f"^{regex}/?$"))


# ---------------------------------------------------------------------------
# Field selection (the ``fields`` parameter)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSelection:
    """Which fields to render: ``*all``, ``*navigable``, ids, ``-excluded``; ``id`` alone means ids only."""

    everything: bool = False
    navigable: bool = False
    ids: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, items: Iterable[str] | None, default: str) -> FieldSelection:
        items = [i for raw in (items if items is not None else [default]) for i in raw.split(",") if i.strip()]
        items = [i.strip() for i in items] or [default]
        return cls(everything="*all" in items, navigable="*navigable" in items,
                   ids=frozenset(i for i in items if not i.startswith(("*", "-"))),
                   excluded=frozenset(i[1:] for i in items if i.startswith("-")))

    @property
    def ids_only(self) -> bool:
        return not (self.everything or self.navigable) and self.ids <= {"id"}

    def pick(self, fields: Mapping[str, Any], navigable: Callable[[str], bool]) -> JsonDict:
        chosen: Iterable[str]
        if self.everything:
            chosen = fields.keys()
        elif self.navigable:
            chosen = [f for f in fields if navigable(f) or f in self.ids]
        else:
            chosen = [f for f in fields if f in self.ids]
        return {f: fields[f] for f in chosen if f not in self.excluded}


# ---------------------------------------------------------------------------
# Jira Cloud REST v3
# ---------------------------------------------------------------------------


class CloudApi:
    """Route handlers for Jira Cloud (REST v3). One method per operation of the OpenAPI spec."""

    prefix = "/rest/api/3"
    deployment_type = "Cloud"

    def __init__(self, sandbox: JiraSandbox) -> None:
        self.sb = sandbox
        self.state = sandbox.state
        self._search_cache: OrderedDict[str, tuple[int, list[Issue]]] = OrderedDict()
        p = self.prefix
        self.routes: list[Route] = [
            route("POST", f"{p}/search/jql", "search_jql"),
            route("GET", f"{p}/search/jql", "search_jql"),
            *self.search_routes(),
            route("GET", f"{p}/field", "list_fields"),
            route("GET", f"{p}/issue/{{key}}", "get_issue"),
            route("PUT", f"{p}/issue/{{key}}", "edit_issue"),
            route("GET", f"{p}/issue/{{key}}/editmeta", "edit_meta"),
            route("GET", f"{p}/issue/{{key}}/comment", "list_comments"),
            route("POST", f"{p}/issue/{{key}}/comment", "add_comment"),
            route("GET", f"{p}/issue/{{key}}/comment/{{id}}", "get_comment"),
            route("PUT", f"{p}/issue/{{key}}/comment/{{id}}", "update_comment"),
            route("GET", f"{p}/myself", "myself"),
            route("GET", f"{p}/serverInfo", "server_info"),
        ]

    def search_routes(self) -> list[Route]:
        """The removed offset-paged search, on both API versions (Cloud removed both in 2025)."""
        return [route(m, f"/rest/api/{v}/search", "search_removed")
                for v in (3, 2) for m in ("GET", "POST")]

    # -- helpers ------------------------------------------------------------

    @property
    def base(self) -> str:
        return self.sb.url

    def issue_or_404(self, key: str) -> Issue:
        issue = self.state.issue(key)
        if issue is None:
            raise ApiError(404, [ISSUE_NOT_FOUND])
        return issue

    def navigable(self, field_id: str) -> bool:
        fd = self.state.field_by_id(field_id)
        return fd is None or fd.navigable

    def issue_fields(self, issue: Issue) -> Mapping[str, Any]:
        """The stored fields as this API version presents them (Data Center converts)."""
        return issue["fields"]

    def render_issue(self, issue: Issue, selection: FieldSelection, expand: set[str],
                     *, bare_ids: bool = False) -> JsonDict:
        """An ``IssueBean``; with ``bare_ids`` (enhanced search) ``fields=id`` gives just the id."""
        if bare_ids and selection.ids_only:
            return {"id": issue["id"]}
        fields = selection.pick(self.issue_fields(issue), self.navigable)
        out: JsonDict = {"expand": ISSUE_EXPAND, "id": issue["id"],
                         "self": f"{self.base}{self.prefix}/issue/{issue['id']}", "key": issue["key"],
                         "fields": fields}
        out.update(self.field_meta(fields, expand))
        return out

    def field_meta(self, fields: Iterable[str], expand: set[str]) -> JsonDict:
        """``names``/``schema`` blocks for ``expand=names,schema``."""
        defs = [fd for f in fields if (fd := self.field_def(f)) is not None]
        meta: JsonDict = {}
        if "names" in expand:
            meta["names"] = {fd.id: fd.name for fd in defs}
        if "schema" in expand:
            meta["schema"] = {fd.id: fd.to_json()["schema"] for fd in defs if fd.type}
        return meta

    def field_def(self, field_id: str) -> FieldDef | None:
        return self.state.field_by_id(field_id)

    def user(self) -> JsonDict:
        email = self.sb.email
        account = "712020:" + str(uuid.uuid5(uuid.NAMESPACE_URL, email))
        name = email.split("@")[0].replace(".", " ").title()
        return {"self": f"{self.base}{self.prefix}/user?accountId={account}", "accountId": account,
                "emailAddress": email, "displayName": name, "active": True, "timeZone": "Etc/UTC",
                "accountType": "atlassian"}

    # -- search -------------------------------------------------------------

    def search_removed(self, req: Request) -> Response:
        raise ApiError(410, [REMOVED_SEARCH])

    def search_jql(self, req: Request) -> Response:
        """Enhanced search: token paging, ``isLast``, no ``total``, ids only by default."""
        q = self.search_args(req)
        compiled = self.compile(q["jql"])
        if not compiled.bounded:
            raise ApiError(400, [UNBOUNDED])
        size = max(1, min(int(q["maxResults"]), self.sb.page_cap))
        offset = self.decode_token(q["nextPageToken"], q["jql"]) if q["nextPageToken"] else 0
        selection = FieldSelection.parse(q["fields"], "id")
        expand = set(q["expand"])
        with self.state.lock:
            matched = self.matching(q["jql"], compiled)
            issues = [self.render_issue(i, selection, set(), bare_ids=True)
                      for i in matched[offset:offset + size]]
        body: JsonDict = {"issues": issues}
        if offset + size < len(matched):
            body["nextPageToken"] = self.encode_token(offset + size, q["jql"])
        body["isLast"] = offset + size >= len(matched)
        if not selection.ids_only:
            shown = {f for i in issues for f in i.get("fields", {})}
            body.update(self.field_meta(sorted(shown), expand))
        return Response(200, body)

    def search_args(self, req: Request) -> JsonDict:
        """POST body (``SearchAndReconcileRequestBean``, no unknown keys) or GET query params."""
        if req.method == "POST":
            body = req.body
            if not isinstance(body, dict):
                raise ApiError(400, [BAD_PAYLOAD])
            unknown = sorted(set(body) - _SEARCH_BODY_KEYS)
            if unknown:
                raise ApiError(400, [f'Unrecognized field "{unknown[0]}". {BAD_PAYLOAD}'])
            fields = body.get("fields")
            if fields is not None and not (isinstance(fields, list) and all(isinstance(f, str) for f in fields)):
                raise ApiError(400, [BAD_PAYLOAD])
            max_results = body.get("maxResults", 50)
            if not isinstance(max_results, int) or isinstance(max_results, bool):
                raise ApiError(400, [BAD_PAYLOAD])
            expand = body.get("expand") or ""
            return {"jql": body.get("jql") or "", "nextPageToken": body.get("nextPageToken"),
                    "maxResults": max_results, "fields": fields,
                    "expand": [e.strip() for e in str(expand).split(",") if e.strip()]}
        return {"jql": req.param("jql", ""), "nextPageToken": req.param("nextPageToken"),
                "maxResults": req.int_param("maxResults", 50), "fields": req.list_param("fields"),
                "expand": req.list_param("expand") or []}

    def compile(self, jql: str) -> CompiledQuery:
        try:
            return compile_jql(jql.strip(), self.catalog())
        except JqlError as exc:
            raise ApiError(400, exc.messages) from None

    def catalog(self) -> Catalog:
        return self.state.catalog()

    def matching(self, jql: str, compiled: CompiledQuery) -> list[Issue]:
        """Sorted matches, cached per state version so paging 2,000 issues stays linear."""
        cached = self._search_cache.get(jql)
        if cached and cached[0] == self.state.version:
            self._search_cache.move_to_end(jql)
            return cached[1]
        matched = compiled.sort([i for i in self.state.issues() if compiled.matches(i)])
        self._search_cache[jql] = (self.state.version, matched)
        while len(self._search_cache) > 32:
            self._search_cache.popitem(last=False)
        return matched

    @staticmethod
    def _fingerprint(jql: str) -> str:
        return hashlib.sha1(jql.encode()).hexdigest()[:12]

    def encode_token(self, offset: int, jql: str) -> str:
        raw = json.dumps([offset, self._fingerprint(jql)]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode_token(self, token: str, jql: str) -> int:
        """Tokens are opaque to clients; one minted for another query is refused."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            offset, fingerprint = json.loads(raw)
        except (ValueError, TypeError, binascii.Error):
            raise ApiError(400, [f"The provided next page token '{token}' is invalid."]) from None
        if fingerprint != self._fingerprint(jql) or not isinstance(offset, int) or offset < 0:
            raise ApiError(400, [f"The provided next page token '{token}' is invalid."])
        return offset

    # -- fields and issues --------------------------------------------------

    def list_fields(self, req: Request) -> Response:
        return Response(200, [fd.to_json() for fd in self.all_fields()])

    def all_fields(self) -> list[FieldDef]:
        return list(self.state.fields)

    def get_issue(self, req: Request) -> Response:
        selection = FieldSelection.parse(req.list_param("fields"), "*all")
        expand = set(req.list_param("expand") or ())
        with self.state.lock:
            issue = self.issue_or_404(req.args["key"])
            return Response(200, self.render_issue(issue, selection, expand))

    def edit_issue(self, req: Request) -> Response:
        """Edit issue: all-or-nothing, per-field 400s, optional per-issue write limit."""
        if (req.param("notifyUsers") or "").lower() == "false" and not self.sb.admin:
            raise ApiError(403, [NOTIFY_FORBIDDEN])
        issue = self.issue_or_404(req.args["key"])
        self.sb.check_write_limit(issue["key"])
        changes = self.edit_changes(req.body, issue)
        result = self.state.edit(issue, changes)
        if result.errors:
            raise ApiError(400, [], result.errors)
        self.sb.record_write(issue["key"])
        if (req.param("returnIssue") or "").lower() == "true":
            with self.state.lock:
                return Response(200, self.render_issue(issue, FieldSelection(everything=True), set()))
        return Response(204)

    def edit_meta(self, req: Request) -> Response:
        """``IssueUpdateMetadata``: the fields on the issue's edit screen."""
        with self.state.lock:
            screen = self.state.edit_screen(self.issue_or_404(req.args["key"]))
        ops = {"array": ["add", "set", "remove"]}
        return Response(200, {"fields": {
            f.id: {"required": f.id == "summary", "schema": f.to_json()["schema"], "name": f.name,
                   "key": f.id, "operations": ops.get(f.type, ["set"]), "hasDefaultValue": False}
            for f in screen}})

    def edit_changes(self, body: Any, issue: Issue) -> dict[str, Any]:
        """Turn ``{"fields": {...}, "update": {f: [{"set"|"add"|"remove": v}]}}`` into field -> value."""
        if not isinstance(body, dict) or not isinstance(body.get("fields", {}), dict) \
                or not isinstance(body.get("update", {}), dict):
            raise ApiError(400, [BAD_PAYLOAD])
        changes = dict(body.get("fields") or {})
        for fid, ops in (body.get("update") or {}).items():
            if not isinstance(ops, list):
                raise ApiError(400, [BAD_PAYLOAD])
            value = changes.get(fid, issue["fields"].get(fid))
            for op in ops:
                value = self.apply_operation(fid, value, op)
            changes[fid] = value
        return changes

    @staticmethod
    def apply_operation(fid: str, current: Any, op: Any) -> Any:
        if not (isinstance(op, dict) and len(op) == 1):
            raise ApiError(400, [BAD_PAYLOAD])
        verb, value = next(iter(op.items()))
        if verb == "set":
            return value
        if verb in ("add", "remove") and isinstance(current, list | None):
            items = list(current or [])
            if verb == "add" and value not in items:
                items.append(value)
            elif verb == "remove" and value in items:
                items.remove(value)
            return items
        raise ApiError(400, [], {fid: f"Field '{fid}' does not support the '{verb}' operation."})

    # -- comments -----------------------------------------------------------

    def render_comment(self, issue: Issue, comment: JsonDict) -> JsonDict:
        return {"self": f"{self.base}{self.prefix}/issue/{issue['id']}/comment/{comment['id']}",
                **comment, "body": self.comment_body_out(comment["body"])}

    def comment_body_out(self, body: JsonDict) -> Any:
        return body

    def comment_body_in(self, body: Any) -> JsonDict:
        """A comment body must be a non-empty ADF doc in v3."""
        if not isinstance(body, dict) or not isinstance(body.get("body"), dict) \
                or body["body"].get("type") != "doc" or not body["body"].get("content"):
            raise ApiError(400, [], {"comment": "Comment body can not be empty!"})
        return body["body"]

    def list_comments(self, req: Request) -> Response:
        order = req.param("orderBy")
        if order not in (None, "created", "+created", "-created"):
            raise ApiError(400, [f"Ordering by '{order}' is not supported. Use 'created'."])
        start, size = req.int_param("startAt", 0), req.int_param("maxResults", 100)
        with self.state.lock:
            issue = self.issue_or_404(req.args["key"])
            comments = self.state.comments(issue)
            if order == "-created":
                comments.reverse()
            page = comments[max(0, start):max(0, start) + max(0, size)]
            rendered = [self.render_comment(issue, c) for c in page]
        return Response(200, {"comments": rendered, "maxResults": size, "startAt": start,
                              "total": len(comments)})

    def add_comment(self, req: Request) -> Response:
        issue = self.issue_or_404(req.args["key"])
        comment = self.state.add_comment(issue, self.comment_body_in(req.body), self.user())
        return Response(201, self.render_comment(issue, comment))

    def find_comment(self, issue: Issue, comment_id: str) -> JsonDict:
        found = next((c for c in self.state.comments(issue) if c["id"] == comment_id), None)
        if found is None:
            raise ApiError(404, [f"Can not find a comment for the id: {comment_id}."])
        return found

    def get_comment(self, req: Request) -> Response:
        with self.state.lock:
            issue = self.issue_or_404(req.args["key"])
            return Response(200, self.render_comment(issue, self.find_comment(issue, req.args["id"])))

    def update_comment(self, req: Request) -> Response:
        issue = self.issue_or_404(req.args["key"])
        self.find_comment(issue, req.args["id"])
        updated = self.state.update_comment(issue, req.args["id"], self.comment_body_in(req.body), self.user())
        assert updated is not None
        return Response(200, self.render_comment(issue, updated))

    # -- identity -----------------------------------------------------------

    def myself(self, req: Request) -> Response:
        return Response(200, {**self.user(), "locale": "en_US",
                              "groups": {"size": 2 if self.sb.admin else 1, "items": []},
                              "applicationRoles": {"size": 1, "items": []}})

    def server_info(self, req: Request) -> Response:
        return Response(200, {
            "baseUrl": self.base, "version": "1001.0.0-SNAPSHOT", "versionNumbers": [1001, 0, 0],
            "deploymentType": self.deployment_type, "buildNumber": 100289,
            "buildDate": "2025-01-01T00:00:00.000+0000", "serverTime": jira_time(utcnow()),
            "scmInfo": "sandbox", "serverTitle": "Jira sandbox", "serverTimeZone": "Etc/UTC",
        })


# ---------------------------------------------------------------------------
# Jira Data Center REST v2 (the differences only)
# ---------------------------------------------------------------------------

EPIC_LINK_FIELD = FieldDef("customfield_10014", "Epic Link", "any", EPIC_LINK)


class DataCenterApi(CloudApi):
    """Jira Data Center / Server: ``/rest/api/2``, offset paging with ``total``, wiki-text
    descriptions, and the Epic Link custom field instead of ``parent`` for epic children."""

    prefix = "/rest/api/2"
    deployment_type = "Server"

    def __init__(self, sandbox: JiraSandbox) -> None:
        super().__init__(sandbox)
        self.routes = [r for r in self.routes if not r.template.endswith("/search/jql")]

    def search_routes(self) -> list[Route]:
        return [route("GET", f"{self.prefix}/search", "search_offset"),
                route("POST", f"{self.prefix}/search", "search_offset")]

    def all_fields(self) -> list[FieldDef]:
        return [*self.state.fields, EPIC_LINK_FIELD]

    def field_def(self, field_id: str) -> FieldDef | None:
        return EPIC_LINK_FIELD if field_id == EPIC_LINK_FIELD.id else super().field_def(field_id)

    def catalog(self) -> Catalog:
        return replace(self.state.catalog(), epic_link_names=frozenset({"epic link", "cf[10014]"}))

    def issue_fields(self, issue: Issue) -> Mapping[str, Any]:
        """Description as wiki text; an epic child's ``parent`` becomes the Epic Link key."""
        fields = dict(issue["fields"])
        fields["description"] = wiki(fields.get("description"))
        parent = fields.pop("parent", None)
        if fields["issuetype"]["hierarchyLevel"] == 0:
            fields[EPIC_LINK_FIELD.id] = parent["key"] if parent else None
        elif parent:
            fields["parent"] = parent
        return fields

    def search_offset(self, req: Request) -> Response:
        """``/rest/api/2/search``: startAt/maxResults/total; default fields ``*navigable``."""
        if req.method == "POST":
            body = req.body
            if not isinstance(body, dict) or not isinstance(body.get("startAt", 0), int) \
                    or not isinstance(body.get("maxResults", 50), int):
                raise ApiError(400, [BAD_PAYLOAD])
            jql, start, size = body.get("jql") or "", body.get("startAt", 0), body.get("maxResults", 50)
            fields = body.get("fields")
        else:
            jql, fields = req.param("jql") or "", req.list_param("fields")
            start, size = req.int_param("startAt", 0), req.int_param("maxResults", 50)
        start, size = max(0, start), max(0, min(size, self.sb.page_cap))
        compiled = self.compile(jql)
        selection = FieldSelection.parse(fields, "*navigable")
        with self.state.lock:
            matched = self.matching(jql, compiled)
            issues = [self.render_issue(i, selection, set()) for i in matched[start:start + size]]
        return Response(200, {"expand": "schema,names", "startAt": start, "maxResults": size,
                              "total": len(matched), "issues": issues})

    def edit_changes(self, body: Any, issue: Issue) -> dict[str, Any]:
        changes = super().edit_changes(body, issue)
        if "description" in changes and isinstance(changes["description"], str):
            changes["description"] = adf(*[p for p in changes["description"].split("\n\n") if p])
        if EPIC_LINK_FIELD.id in changes:
            key = changes.pop(EPIC_LINK_FIELD.id)
            changes["parent"] = {"key": key} if key else None
        return changes

    def comment_body_out(self, body: JsonDict) -> Any:
        return wiki(body)

    def comment_body_in(self, body: Any) -> JsonDict:
        if not isinstance(body, dict) or not isinstance(body.get("body"), str) or not body["body"].strip():
            raise ApiError(400, [], {"comment": "Comment body can not be empty!"})
        return adf(*[p for p in body["body"].split("\n\n") if p])


def wiki(doc: Any) -> str | None:
    """ADF to Jira wiki markup (paragraphs and bullets are all our seeds use)."""
    if not isinstance(doc, dict):
        return doc
    blocks = []
    for node in doc.get("content", ()):
        if node.get("type") == "bulletList":
            blocks.append("\n".join(f"* {adf_text(item)}" for item in node.get("content", ())))
        else:
            blocks.append(adf_text(node))
    return "\n\n".join(blocks)


# ---------------------------------------------------------------------------
# The sandbox
# ---------------------------------------------------------------------------


class JiraSandbox(Served):
    """A Jira site on loopback. ``start()`` returns its URL; use as a context manager to stop it.

    Counters: ``requests`` (by method and route template), ``faults`` (injected
    or rate-limited answers by status), ``writes`` (successful edits by issue key).
    """

    thread_name: ClassVar[str] = "jira-sandbox"
    label: ClassVar[str] = "jira sandbox"

    def answer(self, method: str, target: str, headers: Message[str, str], raw: bytes) -> Wire:
        return _wire(self.handle(method, target, headers, raw))

    def crashed(self, exc: Exception) -> Wire:
        return _wire(Response(500, {"errorMessages": [f"Internal server error: {exc!r}"], "errors": {}}))

    def __init__(self, state: SandboxState | None = None, *, email: str = "demo@example.com",
                 api_token: str = "sandbox-token", pat: str | None = None, admin: bool = True,
                 page_cap: int = 100, fail_rate: float = 0.0, retry_after: int = 0,
                 latency: float = 0.0, write_limit: int | None = None, write_window: float = 1.0,
                 seed: int = 0, flavor: str = "cloud", clock: Callable[[], float] = time.monotonic) -> None:
        if flavor not in ("cloud", "datacenter"):
            raise ValueError(f"flavor must be 'cloud' or 'datacenter', not {flavor!r}")
        self.state = state if state is not None else demo_state()
        self.email, self.api_token, self.pat, self.admin = email, api_token, pat, admin
        self.page_cap, self.fail_rate, self.retry_after = page_cap, fail_rate, retry_after
        self.latency, self.write_limit, self.write_window = latency, write_limit, write_window
        self.flavor = flavor
        #: Time for the per-issue write windows; a test passes a fake one that its fake ``sleep`` advances.
        self.clock = clock
        self.url = "http://127.0.0.1"
        self.requests: Counter[tuple[str, str]] = Counter()
        self.faults: Counter[int] = Counter()
        self.writes: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()  # counters, RNG, write-limit windows
        self._recent_writes: dict[str, deque[float]] = {}
        self.api: CloudApi = DataCenterApi(self) if flavor == "datacenter" else CloudApi(self)

    # -- lifecycle ----------------------------------------------------------

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self.faults.clear()
            self.writes.clear()
            self._recent_writes.clear()

    # -- request handling ---------------------------------------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str] | Message[str, str],
               raw: bytes) -> Response:
        """One request in, one response out: count, delay, authenticate, maybe fail, route."""
        url = urlsplit(target)
        found, args, allowed = self._match(method, url.path)
        with self._lock:
            self.requests[(method, found.template if found else url.path)] += 1
        if self.latency:
            time.sleep(self.latency)
        if not self._authenticated(headers.get("Authorization")):
            scheme = "Bearer" if self.pat else 'Basic realm="protected-area"'
            return Response(401, {"errorMessages": [NOT_AUTHENTICATED], "errors": {}},
                            {"WWW-Authenticate": scheme})
        if (fault := self._injected_fault()) is not None:
            return fault
        if found is None:
            status = 405 if allowed else 404
            return Response(status, {"errorMessages": [HTTPStatus(status).phrase], "errors": {}},
                            {"Allow": ", ".join(allowed)} if allowed else {})
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            return ApiError(400, [BAD_PAYLOAD]).response()
        req = Request(method, url.path, parse_qs(url.query, keep_blank_values=True), body, args)
        try:
            return getattr(self.api, found.handler)(req)
        except ApiError as exc:
            return exc.response()

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        allowed: list[str] = []
        for r in self.api.routes:
            m = r.pattern.match(path)
            if m:
                if r.method == method:
                    return r, m.groupdict(), []
                allowed.append(r.method)
        return None, {}, allowed

    def _authenticated(self, header: str | None) -> bool:
        scheme, _, credentials = (header or "").partition(" ")
        if scheme.lower() == "basic":
            try:
                given = base64.b64decode(credentials.strip(), validate=True).decode()
            except (ValueError, binascii.Error):
                return False
            return hmac.compare_digest(given.encode(), f"{self.email}:{self.api_token}".encode())
        if scheme.lower() == "bearer" and self.pat:
            return hmac.compare_digest(credentials.strip().encode(), self.pat.encode())
        return False

    def _injected_fault(self) -> Response | None:
        """With probability ``fail_rate``: 429 (3 in 4) or 503, both with ``Retry-After``."""
        if not self.fail_rate:
            return None
        with self._lock:
            if self._rng.random() >= self.fail_rate:
                return None
            status = 429 if self._rng.random() < 0.75 else 503
            self.faults[status] += 1
        headers = {"Retry-After": str(self.retry_after)}
        if status == 429:
            headers["RateLimit-Reason"] = "jira-burst-based"
            return Response(429, {"errorMessages": ["Rate limit exceeded."], "errors": {}}, headers)
        return Response(503, {"errorMessages": ["Service Unavailable"], "errors": {}}, headers)

    def check_write_limit(self, key: str) -> None:
        """Per-issue write limit: at most ``write_limit`` edits per ``write_window`` seconds."""
        if self.write_limit is None:
            return
        now = self.clock()
        with self._lock:
            window = self._recent_writes.setdefault(key, deque())
            while window and now - window[0] >= self.write_window:
                window.popleft()
            if len(window) >= self.write_limit:
                self.faults[429] += 1
                wait = max(1, math.ceil(window[0] + self.write_window - now))
                raise ApiError(429, ["Rate limit exceeded."], headers={
                    "Retry-After": str(wait), "RateLimit-Reason": "jira-per-issue-on-write"})
            window.append(now)

    def record_write(self, key: str) -> None:
        with self._lock:
            self.writes[key] += 1


# ---------------------------------------------------------------------------
# CLI entry point
# ---------------------------------------------------------------------------


def main(host: str = "127.0.0.1", port: int = 8089, epics: int | None = None,
         fail_rate: float = 0.0, latency: float = 0.0) -> None:
    """Serve a sandbox until Ctrl-C: the demo site, or ``epics`` generated epics."""
    state = generate_state(n_epics=epics) if epics else demo_state()
    sandbox = JiraSandbox(state, fail_rate=fail_rate, latency=latency)
    url = sandbox.start(port=port, host=host)
    print(f"Jira sandbox on {url}  (user {sandbox.email}, API token {sandbox.api_token}; "
          f"{len(state.issues())} issues). Ctrl-C to stop.", flush=True)
    sandbox.serve_forever()


if __name__ == "__main__":
    main()

