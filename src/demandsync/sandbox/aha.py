"""A local Aha!-compatible HTTP server: the Aha! flavour of the sandbox (a test double, not Aha!).

Built from Aha!'s OpenAPI document, https://www.aha.io/openapi.json (copy: cedricziel/aha-js `openapi.json` @ b571636); the shapes
follow its response examples, which is where a client goes wrong:

- ``/api/v1`` under the account URL, ``Authorization: Bearer <key>``; a wrong key gets a
  401 with a ``text/html`` body and no JSON (``P["/me/assigned"].get.responses.401``);
- lists page by ``page``/``per_page`` with ``pagination {total_records, total_pages,
  current_page}`` and return *compact* items unless ``fields=`` asks for more
  (``P["/products/{product_id}/features"].get`` example); ``fields=`` returns the named
  attributes plus ``id``; ``*`` means everything;
- custom fields are defined account-wide per record type (``GET /custom_field_definitions``)
  and read back as ``custom_fields: [{id, key, name, updatedAt, type, value}]`` with a
  number as a decimal string (``"3.0"``); a field without a value is absent;
- ``PUT /features/{id}`` / ``PUT /epics/{id}`` take ``{"feature"|"epic": {"custom_fields":
  {key: value}}}`` and answer 200 with the whole record; records answer to their id
  (a string, some 19 digits) or their reference (``APP-12``, ``APP-E-3``);
- comments: list, ``POST`` (200, not 201) and ``PUT /comments/{id}``;
- ideas (``fields=``, ``updated_since``, spam hidden unless ``spam=true``), their
  ``duplicates[]`` and ``feature`` (promoted to), and endorsements (per idea, and the
  account-wide ``GET /ideas/endorsements`` with ``idea_id`` on each) with
  ``endorsed_by_portal_user``, ``endorsed_by_idea_user``, ``weight`` and an
  ``idea_organization`` only on votes that have one;
- injectable 429s (the next ``fail_next`` requests, the next ``fail_writes`` writes, a share
  ``fail_rate`` of all), with ``Retry-After``.

What the document does not say, the sandbox decides and says so: an unknown custom field
key or a non-number for a number field answers 422 ``{"error": …}`` (the document's one
JSON error shape, ``P["/usage/assistant_users"].get.responses.422``).
"""

from __future__ import annotations

import copy
import hmac
import itertools
import json
import random
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.message import Message
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

from demandsync.sandbox.served import Served, Wire

JsonDict = dict[str, Any]
API = "/api/v1"
#: The custom field classes of the demo account: key, name, class, api type on records.
_FIELDS = [
    ("customer_requests", "Customer requests", "CustomFieldDefinitions::NumberField", "number"),
    ("requesters", "Requesters", "CustomFieldDefinitions::NumberField", "number"),
    ("votes", "Votes", "CustomFieldDefinitions::NumberField", "number"),
    ("accounts", "Accounts", "CustomFieldDefinitions::NumberField", "number"),
    ("last_requested", "Last requested", "CustomFieldDefinitions::DateField", "date"),
    ("demand_sources", "Demand sources", "CustomFieldDefinitions::TextField", "string"),
    ("demand_summary", "Demand summary", "CustomFieldDefinitions::NoteField", "note"),
    ("priority", "Priority", "CustomFieldDefinitions::SelectConstant", "string"),
]


@dataclass
class AhaResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    html: str | None = None


def _wire(resp: AhaResponse) -> Wire:
    """The HTML page when there is one, else the JSON body."""
    if resp.html is not None:
        payload, ctype = resp.html.encode(), "text/html; charset=utf-8"
    else:
        payload, ctype = json.dumps(resp.body, separators=(",", ":")).encode(), "application/json; charset=utf-8"
    return resp.status, {"Content-Type": ctype, "Content-Length": str(len(payload)), **resp.headers}, payload


class AhaError(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(status, error)
        self.status, self.error = status, error


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class AhaState:
    """Products, records (features and epics), custom fields, comments, releases, ideas, votes."""

    products: dict[str, JsonDict] = field(default_factory=dict)
    definitions: list[JsonDict] = field(default_factory=list)
    #: "features" | "epics" -> reference -> record (with custom values in "_values")
    records: dict[str, dict[str, JsonDict]] = field(default_factory=lambda: {"features": {}, "epics": {}})
    releases: dict[str, JsonDict] = field(default_factory=dict)
    comments: dict[str, JsonDict] = field(default_factory=dict)
    ideas: dict[str, JsonDict] = field(default_factory=dict)
    endorsements: dict[str, list[JsonDict]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(6776881149488625600))

    def next_id(self) -> str:
        return str(next(self._ids))

    def find(self, kind: str, ref: str) -> JsonDict:
        for rec in self.records[kind].values():
            if ref in (rec["id"], rec["reference_num"]):
                return rec
        raise AhaError(404, "Record not found")

    def product(self, ref: str) -> JsonDict:
        for p in self.products.values():
            if ref in (p["id"], p["reference_prefix"]):
                return p
        raise AhaError(404, "Record not found")

    def definition(self, kind: str, key: str) -> JsonDict | None:
        fieldable = "Feature" if kind == "features" else "Epic"
        return next((d for d in self.definitions if d["key"] == key and d["custom_fieldable_type"] == fieldable), None)

    def value(self, kind: str, ref: str, key: str) -> Any:
        """A custom field's value as the API would show it ("3.0" for a number), or None."""
        return self.find(kind, ref)["_values"].get(key)


def demo_state() -> AhaState:
    """Product APP: four features in two epics, custom fields for every figure, six ideas."""
    s = AhaState()
    s.products["131414752"] = {"id": "131414752", "reference_prefix": "APP", "name": "Acme App",
                               "product_line": False, "created_at": "2019-01-01T00:00:00.000Z",
                               "workspace_type": "product_workspace"}
    for i, (key, name, cls, api) in enumerate(_FIELDS):
        for j, fieldable in enumerate(("Feature", "Epic")):
            s.definitions.append({"id": str(581360680 + 2 * i + j), "key": key, "name": name, "type": cls,
                                  "internal_name": None, "custom_fieldable_type": fieldable, "_api": api})
    s.releases["APP-R-1"] = {"id": "278327321", "reference_num": "APP-R-1", "name": "Release 1", "released": True}
    s.releases["APP-R-2"] = {"id": "278327322", "reference_num": "APP-R-2", "name": "Release 2", "released": False}
    epics = [("999605892", "APP-E-1", "Enterprise readiness", "SSO, audit log and exports for big customers."),
             ("6776881149496389394", "APP-E-2", "Notifications and mobile", "Alerts where people work; offline.")]
    for rid, ref, name, text in epics:
        s.records["epics"][ref] = _record(rid, ref, name, text, product_id=None)
    features = [
        ("6776881149488625529", "APP-1", "Single sign-on (SAML, Okta)", "Log in with the company IdP.", "APP-E-1",
         "APP-R-2", False, {}),
        ("1007868956", "APP-2", "Scheduled CSV exports", "Weekly usage exports by e-mail.", "APP-E-1", "APP-R-1",
         True, {"priority": "P2"}),
        ("1007868957", "APP-3", "Slack alerts", "Post alerts to Slack channels.", "APP-E-2", "APP-R-2", False, {}),
        ("1007868958", "APP-4", "Offline mode", "Use the mobile app without a connection.", "APP-E-2", "APP-R-2",
         False, {"customer_requests": "5.0"}),
    ]
    for rid, ref, name, text, epic, release, done, values in features:
        rec = _record(rid, ref, name, text, product_id="131414752", complete=done)
        e = s.records["epics"][epic]
        rec["epic"] = {k: e[k] for k in ("id", "reference_num", "name", "created_at", "url", "resource")}
        r = s.releases[release]
        rec["release"] = {"id": r["id"], "reference_num": r["reference_num"], "name": r["name"]}
        rec["_values"].update(values)
        s.records["features"][ref] = rec
    _demo_ideas(s)
    return s


def generate_state(features: int, ideas: int, votes: int = 3, seed: int = 0) -> AhaState:
    """A product APP with ``features`` features (in epics of 10) and ``ideas`` ideas, each promoted to a
    random feature and carrying ``votes`` endorsements (for benchmarks)."""
    rng = random.Random(seed)
    s = demo_state()
    s.records = {"features": {}, "epics": {}}
    s.ideas, s.endorsements = {}, {}
    for e in range(1, features // 10 + 2):
        s.records["epics"][f"APP-E-{e}"] = _record(str(900000000 + e), f"APP-E-{e}", f"Epic {e}", "Epic.",
                                                   product_id=None)
    for n in range(1, features + 1):
        rec = _record(str(6776881149488000000 + n), f"APP-{n}", f"Feature {n}", f"Feature number {n}.",
                      product_id="131414752")
        s.records["features"][rec["reference_num"]] = rec
    refs = list(s.records["features"].values())
    for n in range(1, ideas + 1):
        iid = str(58000000 + n)
        target = rng.choice(refs)
        who = _person(str(1056000000 + n), f"User {n}", f"user{n}@customer{n % 97}.com")
        s.ideas[iid] = {
            "id": iid, "name": f"Idea {n}", "reference_num": f"APP-I-{n}", "product_id": "131414752",
            "created_at": "2026-10-01T09:00:00.000Z", "updated_at": "2026-10-01T09:00:00.000Z",
            "description": {"id": iid, "body": f"<p>Please do feature {n}.</p>"}, "duplicates": [], "tags": [],
            "created_by_idea_user": who, "initial_votes": 0,
            "feature": {k: target[k] for k in ("id", "name", "reference_num", "product_id", "url", "resource")}}
        s.endorsements[iid] = [
            {"id": s.next_id(), "idea_id": iid, "weight": 1,
             "endorsed_by_idea_user": _person(str(1057000000 + n * votes + v), f"Voter {v}", f"v{v}-{n}@c{v}.com"),
             "endorsed_by_portal_user": _person(str(1058000000 + n * votes + v), f"Voter {v}", f"v{v}-{n}@c{v}.com"),
             "idea_organization": {"id": str(138000000 + v), "name": f"Org {v}"}} for v in range(votes)]
    return s


def _record(rid: str, ref: str, name: str, text: str, *, product_id: str | None, complete: bool = False) -> JsonDict:
    kind = "epics" if "-E-" in ref else "features"
    rec: JsonDict = {
        "id": rid, "name": name, "reference_num": ref, "created_at": "2026-09-01T00:00:00.000Z",
        "updated_at": "2026-09-01T00:00:00.000Z",
        "workflow_status": {"id": "934242751" if not complete else "934242759",
                            "name": "Shipped" if complete else "New", "position": 5 if complete else 1,
                            "complete": complete, "color": "#dce7c6", "workflow_status_category": None},
        "description": {"id": str(int(rid) % 10**9 + 1), "body": f"<p>{text}</p>", "notable_type": kind[:-1].title()},
        "tags": [], "url": f"https://company.aha.io/{kind}/{ref}", "resource": f"https://company.aha.io/api/v1/{kind}/{ref}",
        "_values": {}, "_comments": [],
    }
    if product_id:
        rec["product_id"] = product_id
    return rec


def _person(pid: str, name: str, email: str) -> JsonDict:
    return {"id": pid, "name": name, "email": email, "created_at": "2019-01-01T00:00:00.000Z"}


def _demo_ideas(s: AhaState) -> None:
    ann, bob, carol = _person("1056507375", "Ann", "ann@acme.com"), _person("646391926", "Bob", "bob@globex.com"), \
        _person("1056507376", "Carol", "carol@initech.com")
    dave, erin = _person("1056507377", "Dave", "dave@acme.com"), _person("1056507378", "Erin", "erin@hooli.com")
    frank, gina = _person("1056507379", "Frank", "frank@stark.com"), _person("1056507380", "Gina", "gina@umbrella.io")
    org = {"acme": {"id": "138732915", "name": "Acme"}, "globex": {"id": "138732916", "name": "Globex"},
           "umbrella": {"id": "138732917", "name": "Umbrella"}}
    f1, f2 = s.records["features"]["APP-1"], s.records["features"]["APP-2"]

    def idea(iid: str, num: int, name: str, body: str, by: JsonDict, *, portal: bool = False, **extra: Any) -> JsonDict:
        record = {
            "id": iid, "name": name, "reference_num": f"APP-I-{num}", "product_id": "131414752",
            "created_at": f"2026-10-{num:02d}T09:00:00.000Z", "updated_at": f"2026-10-{num:02d}T09:00:00.000Z",
            "workflow_status": {"id": "1009437757", "name": "Needs review", "position": 1, "complete": False},
            "description": {"id": str(378547140 + num), "body": body, "notable_type": "Ideas::Idea"},
            "duplicates": [], "tags": [], "categories": [], "custom_fields": [], "initial_votes": 0,
            "url": f"https://company.aha.io/ideas/ideas/APP-I-{num}",
            "resource": f"https://company.aha.io/api/v1/ideas/APP-I-{num}",
            ("created_by_portal_user" if portal else "created_by_idea_user"): by, **extra,
        }
        s.ideas[iid] = record
        return record

    def vote(iid: str, who: JsonDict, organisation: JsonDict | None = None, *, proxy: bool = False) -> None:
        v: JsonDict = {"id": s.next_id(), "idea_id": iid, "created_at": "2026-10-20T00:00:00.000Z",
                       "updated_at": "2026-10-20T00:00:00.000Z", "value": 2 if proxy else None, "link": None,
                       "weight": 1, "endorsed_by_portal_user": who}
        if not proxy:
            v["endorsed_by_idea_user"] = {**who, "title": None}
        if organisation:
            v["idea_organization"] = {**organisation, "created_at": "2019-01-01T00:00:00.000Z"}
        s.endorsements.setdefault(iid, []).append(v)

    def promoted(rec: JsonDict) -> JsonDict:
        return {k: rec[k] for k in ("id", "name", "reference_num", "product_id", "url", "resource")}

    i1 = idea("58056975", 1, "Let us log in with Okta (SAML SSO)", "<p>Our IT needs <b>SAML</b>.</p>", ann,
              feature=promoted(f1))
    vote("58056975", ann, org["acme"])
    vote("58056975", bob, org["globex"], proxy=True)  # a proxy vote on behalf of Globex
    vote("58056975", carol)
    idea("6776881149488625101", 2, "SSO for contractors too", "<p>Same as the Okta one.</p>", dave)
    vote("6776881149488625101", dave)
    i1["duplicates"] = [{"id": "6776881149488625101", "name": "SSO for contractors too", "reference_num": "APP-I-2"}]
    idea("58056977", 3, "Cheap watches", "<p>spam</p>", _person("1", "Spammer", "spam@example.com"), spam=True)
    idea("58056978", 4, "Send alerts to Slack <#channels> & DMs", "<p>Related to APP-3.</p>", bob, portal=True)
    vote("58056978", bob, org["globex"])
    vote("58056978", bob, org["globex"])  # the portal allows a second vote: two votes
    vote("58056978", erin)
    idea("58056979", 5, "Offline mode for field engineers", "<p>Part of APP-E-2 I guess.</p>", frank)
    idea("58056980", 6, "Export usage to CSV every week", "<p>For finance.</p>", gina, feature=promoted(f2))
    vote("58056980", gina, org["umbrella"])


# -- the API ------------------------------------------------------------------------------


class AhaSandbox(Served):
    """An Aha! account on loopback. ``start()`` returns its URL (the account URL, without ``/api/v1``).

    Counters: ``requests`` (by method and path template), ``faults`` (injected 429s),
    ``writes`` (successful record PUTs by reference).
    """

    thread_name: ClassVar[str] = "aha-sandbox"

    label: ClassVar[str] = "aha sandbox"

    def answer(self, method: str, target: str, headers: Message[str, str], raw: bytes) -> Wire:
        return _wire(self.handle(method, target, {"Authorization": headers.get("Authorization", "")}, raw))

    def crashed(self, exc: Exception) -> Wire:
        return _wire(AhaResponse(500, {"error": f"Internal server error: {exc!r}"}))

    def __init__(self, state: AhaState | None = None, *, api_key: str = "aha-sandbox-key", fail_next: int = 0,
                 fail_writes: int = 0, fail_rate: float = 0.0, retry_after: int = 0, page_cap: int = 200,
                 seed: int = 0, user: str = "Demo Admin") -> None:
        self.state = state if state is not None else demo_state()
        self.api_key, self.fail_next, self.fail_rate, self.retry_after = api_key, fail_next, fail_rate, retry_after
        #: The next this-many PUT/POST requests answer 429 (throttling that hits writes).
        self.fail_writes = fail_writes
        self.page_cap, self.user = page_cap, user
        self.url = "http://127.0.0.1"
        self.requests: Counter[tuple[str, str]] = Counter()
        self.faults: Counter[int] = Counter()
        self.writes: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self.faults.clear()
            self.writes.clear()

    # one request

    def handle(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> AhaResponse:
        url = urlsplit(target)
        path = unquote(url.path)
        template, handler, args = self._route(method, path)
        with self._lock:
            self.requests[(method, template)] += 1
        scheme, _, key = (headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(key.strip().encode(), self.api_key.encode()):
            return AhaResponse(401, html="<html><body>You need to sign in or sign up before continuing.</body></html>")
        with self._lock:
            write = method in ("PUT", "POST") and self.fail_writes > 0
            inject = write or self.fail_next > 0 or bool(self.fail_rate and self._rng.random() < self.fail_rate)
            if write:
                self.fail_writes -= 1
            elif self.fail_next > 0:
                self.fail_next -= 1
            if inject:
                self.faults[429] += 1
        if inject:
            return AhaResponse(429, {"error": "Rate limit exceeded"}, {"Retry-After": str(self.retry_after)})
        if handler is None:
            return AhaResponse(404, {"error": "Not found"})
        try:
            body = json.loads(raw) if raw.strip() else None
            params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            result: AhaResponse = getattr(self, handler)(params, body, *args)
            return result
        except AhaError as exc:
            return AhaResponse(exc.status, {"error": exc.error})
        except ValueError:
            return AhaResponse(400, {"error": "Bad request"})

    _ROUTES = [
        ("GET", ("me",), "me"),
        ("GET", ("custom_field_definitions",), "definitions"),
        ("GET", ("products", None), "get_product"),
        ("GET", ("products", None, "features"), "list_features"),
        ("GET", ("products", None, "epics"), "list_epics"),
        ("GET", ("products", None, "ideas"), "list_ideas"),
        ("GET", ("features", None), "get_feature"),
        ("PUT", ("features", None), "put_feature"),
        ("GET", ("epics", None), "get_epic"),
        ("PUT", ("epics", None), "put_epic"),
        ("GET", ("features", None, "comments"), "feature_comments"),
        ("POST", ("features", None, "comments"), "add_feature_comment"),
        ("GET", ("epics", None, "comments"), "epic_comments"),
        ("POST", ("epics", None, "comments"), "add_epic_comment"),
        ("PUT", ("comments", None), "put_comment"),
        ("GET", ("releases", None), "get_release"),
        ("GET", ("ideas", None, "endorsements"), "endorsements"),
        ("GET", ("ideas", "endorsements"), "account_endorsements"),
    ]

    def _route(self, method: str, path: str) -> tuple[str, str | None, list[str]]:
        if not path.startswith(API + "/"):
            return path, None, []
        parts = path[len(API) + 1:].strip("/").split("/")
        for m, shape, handler in self._ROUTES:
            if m == method and len(shape) == len(parts) and all(s is None or s == p for s, p in zip(shape, parts)):
                template = API + "/" + "/".join(s or "{id}" for s in shape)
                return template, handler, [p for s, p in zip(shape, parts) if s is None]
        return path, None, []

    # rendering

    def _page(self, key: str, items: list[JsonDict], params: Mapping[str, str]) -> AhaResponse:
        per_page = min(max(int(params.get("per_page") or 30), 1), self.page_cap)
        page = max(int(params.get("page") or 1), 1)
        total_pages = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        return AhaResponse(200, {key: chunk, "pagination": {"total_records": len(items), "total_pages": total_pages,
                                                            "current_page": page}})

    def _custom_fields(self, kind: str, rec: JsonDict) -> list[JsonDict]:
        out = []
        for key, value in rec["_values"].items():
            d = self.state.definition(kind, key)
            if d is not None and value is not None:
                out.append({"id": int(d["id"]), "key": key, "name": d["name"], "updatedAt": "2026-11-01T00:00:00Z",
                            "type": d["_api"], "value": value})
        return out

    def _full(self, kind: str, rec: JsonDict) -> JsonDict:
        out = {k: copy.deepcopy(v) for k, v in rec.items() if not k.startswith("_")}
        out["custom_fields"] = self._custom_fields(kind, rec)
        out["comments_count"] = len(rec["_comments"])
        return out

    @staticmethod
    def _pick(full: JsonDict, fields: str | None, compact: tuple[str, ...]) -> JsonDict:
        if fields is None:
            return {k: full[k] for k in compact if k in full}
        wanted = [f.strip() for f in fields.split(",") if f.strip()]
        if "*" in wanted:
            return full
        return {k: full[k] for k in ["id", *wanted] if k in full}

    def _list_records(self, kind: str, params: Mapping[str, str], pid: str) -> AhaResponse:
        product = self.state.product(pid)
        compact: tuple[str, ...] = ("id", "name", "reference_num", "created_at", "product_id", "url", "resource")
        if kind == "epics":
            compact = tuple(k for k in compact if k != "product_id")
        items = [self._pick(self._full(kind, r), params.get("fields"), compact)
                 for r in self.state.records[kind].values() if r["reference_num"].startswith(product["reference_prefix"] + "-")]
        return self._page(kind, items, params)

    def _put_record(self, kind: str, body: Any, ref: str) -> AhaResponse:
        rec = self.state.find(kind, ref)
        singular = kind[:-1]
        if not isinstance(body, dict) or not isinstance(body.get(singular), dict):
            raise AhaError(400, f"Expected a {singular} object")
        changes = body[singular].get("custom_fields") or {}
        if not isinstance(changes, dict):
            raise AhaError(422, "custom_fields must be an object of key: value")
        staged = {}
        for key, value in changes.items():
            d = self.state.definition(kind, key)
            if d is None:
                raise AhaError(422, f"Custom field '{key}' is not defined for {singular}s")
            staged[key] = _stored(d["_api"], key, value)
        with self._lock:
            rec["_values"].update(staged)
            rec["updated_at"] = _now()
            self.writes[rec["reference_num"]] += 1
        return AhaResponse(200, {singular: self._full(kind, rec)})

    def _comments(self, kind: str, params: Mapping[str, str], ref: str) -> AhaResponse:
        rec = self.state.find(kind, ref)
        return self._page("comments", [copy.deepcopy(self.state.comments[c]) for c in rec["_comments"]], params)

    def _add_comment(self, kind: str, body: Any, ref: str) -> AhaResponse:
        rec = self.state.find(kind, ref)
        text = ((body or {}).get("comment") or {}).get("body") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise AhaError(422, "Body can't be blank")
        with self._lock:
            cid = self.state.next_id()
            self.state.comments[cid] = {
                "id": cid, "body": text, "created_at": _now(), "updated_at": _now(), "parent_comment_id": None,
                "user": {"id": "1020675218", "name": self.user, "email": "no-reply@aha.io"}, "attachments": [],
                "url": f"https://company.aha.io/comments/{cid}", "resource": f"https://company.aha.io/api/v1/comments/{cid}",
                "commentable": {"type": kind[:-1].title(), "id": rec["id"]}}
            rec["_comments"].append(cid)
        return AhaResponse(200, {"comment": copy.deepcopy(self.state.comments[cid])})

    # routes

    def me(self, params: Mapping[str, str], body: Any) -> AhaResponse:
        return AhaResponse(200, {"user": {"id": "1020675218", "name": self.user, "email": "no-reply@aha.io"}})

    def definitions(self, params: Mapping[str, str], body: Any) -> AhaResponse:
        return AhaResponse(200, {"custom_field_definitions": [{k: v for k, v in d.items() if not k.startswith("_")}
                                                              for d in self.state.definitions]})

    def get_product(self, params: Mapping[str, str], body: Any, pid: str) -> AhaResponse:
        return AhaResponse(200, {"product": copy.deepcopy(self.state.product(pid))})

    def list_features(self, params: Mapping[str, str], body: Any, pid: str) -> AhaResponse:
        return self._list_records("features", params, pid)

    def list_epics(self, params: Mapping[str, str], body: Any, pid: str) -> AhaResponse:
        return self._list_records("epics", params, pid)

    def get_feature(self, params: Mapping[str, str], body: Any, ref: str) -> AhaResponse:
        full = self._full("features", self.state.find("features", ref))
        return AhaResponse(200, {"feature": self._pick(full, params.get("fields"), tuple(full))})

    def get_epic(self, params: Mapping[str, str], body: Any, ref: str) -> AhaResponse:
        full = self._full("epics", self.state.find("epics", ref))
        return AhaResponse(200, {"epic": self._pick(full, params.get("fields"), tuple(full))})

    def put_feature(self, params: Mapping[str, str], body: Any, ref: str) -> AhaResponse:
        return self._put_record("features", body, ref)

    def put_epic(self, params: Mapping[str, str], body: Any, ref: str) -> AhaResponse:
        return self._put_record("epics", body, ref)

    def feature_comments(self, params: Mapping[str, str], body: Any, ref: str) -> AhaResponse:
        return self._comments("features", params, ref)

    def epic_comments(self, params: Mapping[str, str], body: Any, ref: str) -> AhaResponse:
        return self._comments("epics", params, ref)

    def add_feature_comment(self, params: Mapping[str, str], body: Any, ref: str) -> AhaResponse:
        return self._add_comment("features", body, ref)

    def add_epic_comment(self, params: Mapping[str, str], body: Any, ref: str) -> AhaResponse:
        return self._add_comment("epics", body, ref)

    def put_comment(self, params: Mapping[str, str], body: Any, cid: str) -> AhaResponse:
        comment = self.state.comments.get(cid)
        if comment is None:
            raise AhaError(404, "Record not found")
        text = ((body or {}).get("comment") or {}).get("body") if isinstance(body, dict) else None
        if not isinstance(text, str):
            raise AhaError(422, "Body can't be blank")
        comment.update(body=text, updated_at=_now())
        return AhaResponse(200, {"comment": copy.deepcopy(comment)})

    def get_release(self, params: Mapping[str, str], body: Any, ref: str) -> AhaResponse:
        rel = next((r for r in self.state.releases.values() if ref in (r["id"], r["reference_num"])), None)
        if rel is None:
            raise AhaError(404, "Record not found")
        return AhaResponse(200, {"release": copy.deepcopy(rel)})

    def list_ideas(self, params: Mapping[str, str], body: Any, pid: str) -> AhaResponse:
        product = self.state.product(pid)
        since = params.get("updated_since")
        items = []
        for idea in self.state.ideas.values():
            if idea["product_id"] != product["id"] or (idea.get("spam") and params.get("spam") != "true"):
                continue
            if since and _when(idea["updated_at"]) <= _when(since):
                continue
            full = {**copy.deepcopy(idea), "endorsements_count": len(self.state.endorsements.get(idea["id"], [])),
                    "votes": idea.get("initial_votes", 0) + len(self.state.endorsements.get(idea["id"], []))}
            items.append(self._pick(full, params.get("fields"), ("id", "name", "product_id", "votes")))
        return self._page("ideas", items, params)

    def account_endorsements(self, params: Mapping[str, str], body: Any) -> AhaResponse:
        """``GET /ideas/endorsements``: every vote of the account, each with its ``idea_id``."""
        votes = [copy.deepcopy(v) for iid in self.state.ideas for v in self.state.endorsements.get(iid, [])]
        return self._page("idea_endorsements", votes, params)

    def endorsements(self, params: Mapping[str, str], body: Any, iid: str) -> AhaResponse:
        idea = next((i for i in self.state.ideas.values() if iid in (i["id"], i["reference_num"])), None)
        if idea is None:
            raise AhaError(404, "Record not found")
        return self._page("idea_endorsements", copy.deepcopy(self.state.endorsements.get(idea["id"], [])), params)


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _stored(api: str, key: str, value: Any) -> Any:
    """How Aha! keeps (and shows back) a written value: numbers as decimal strings ("3.0")."""
    if value is None:
        return None
    if api == "number":
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise AhaError(422, f"{key} must be a number") from None
        return str(number.quantize(Decimal("0.1"))) if number == number.to_integral_value() else str(number)
    return str(value)


def main(host: str = "127.0.0.1", port: int = 8090, fail_rate: float = 0.0) -> None:
    """Serve the demo Aha! account until Ctrl-C."""
    sandbox = AhaSandbox(fail_rate=fail_rate)
    url = sandbox.start(port=port, host=host)
    print(f"Aha! sandbox on {url}  (API key {sandbox.api_key}; product APP). Ctrl-C to stop.", flush=True)
    sandbox.serve_forever()

