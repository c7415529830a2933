"""Productboard notes (the feedback) through REST API v2: one note, one request,
its customer the one person behind it.

Every vendor fact this module relies on, with its public source. RW =
Richard-Warren4/productboard-apiv2-mcp (``src/tools/jira.ts``,
``tests/live/jira.test.ts`` recorded against the live API, ``src/client/api.ts``);
DM = drmaxbdc/productboard-mcp (``src/tools/note-tools.ts``, v2.0.0 release notes).

- Base ``https://api.productboard.com/v2``; ``Authorization: Bearer <token>``,
  no version header (official https://developer.productboard.com/reference/getting-started.md;
  RW ``api.ts`` headers; ``X-Version: 1`` is v1 only, DM ``client.ts``).
- Paging: follow the absolute ``links.next``; none means the last page
  (official https://developer.productboard.com/reference/pagination.md). A
  repeated ``links.next`` stops paging with an error (shared paginate loop).
- ``GET notes`` -> ``{data:[note], links}``; a note is ``{id, type, fields:{name,
  content, archived, …}, links:{html}, createdAt, updatedAt}`` (official
  https://developer.productboard.com/v2.0.0/reference/updatenote for the field
  names; DM release notes for ``links.html``). ``fields.name`` is read, falling
  back to ``fields.title`` (the pagination page's loose example uses ``title``).
  ``updatedFrom`` filters incremental runs (DM ``list_notes``).
- ``GET notes/{id}/relationships`` -> items ``{type: "customer"|"link",
  target:{id, type}}``; at most one customer (a user, or a company; a user
  with a company is returned as the user) (official
  https://developer.productboard.com/v2.0.0/reference/getnoterelationships; RW
  ``getRelationships``). Since 2025-11-28 link targets carry the entity type
  (``feature``, ``subfeature``, …) (official changelog "v2 - 2025-11-28").
- ``GET entities/{id}`` for the customer's name/e-mail/company: **user and
  company entities were removed on 2025-11-28 and came back as a closed beta on
  2025-12-15** (official changelog). So any refusal of these lookups (4xx)
  degrades to what the relationship itself carries (the customer's id and
  type) and never fails the source; the first refusal is logged.
- ``GET entities/{id}/relationships`` for a user's company: UNCONFIRMED (the same
  relationships shape as ``notes/{id}/relationships``, assumed for entities); optional,
  any 4xx degrades like the entity lookups above.
- Jira: ``GET jira-integrations`` -> ``data[{id, fields:{name, …}}]`` (RW
  ``jira.ts``), and ``GET jira-integrations/{id}/connections`` ->
  ``data[{id: <the feature's id>, fields:{issueKey, issueId}}]``, paged on
  ``links.next`` (RW ``jira.ts`` + ``tests/live/jira.test.ts``; RW ``api.ts``:
  the connection id *is* the feature id). The ``type: "connection"`` literal is
  not relied on. A note linked to a connected feature gets the issue key as an
  explicit epic link. Option ``jira_integration_ids``: none given = every
  integration the token sees.

**Archived notes do not count** (our decision). Archiving removes a note from
Productboard's inbox as not worth acting on; the v2 list hides archived notes
unless asked (DM v2.0.0 release notes, third-party: *unconfirmed*), and a note
whose ``fields.archived`` is true is skipped as well. A note archived after it
was counted disappears from the list, so only a ``--full`` run (which
reconciles what the source no longer shows) takes it out of the figures.

Feature<->Jira changes do not touch a note's update time, so incremental runs
miss them until a ``--full`` run.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr

from demandsync.connectors.apisource import ApiSource, ApiSourceOptions, Endpoint, Incremental, iso, quarantine
from demandsync.connectors.base import Cursor, Record, SourceContext, SourceOptions
from demandsync.connectors.http import BearerAuth, FatalAPIError, NextUrlPaginator
from demandsync.domain import Quarantined
from demandsync.keys import keys_in

log = logging.getLogger("demandsync.productboard")
_TAG = re.compile(r"<[^>]+>")
_FEATURE_TYPES = frozenset({"feature", "subfeature"})


class ProductboardOptions(ApiSourceOptions):
    """``[[sources]] kind = "productboard"`` keys."""

    url: str = "https://api.productboard.com/v2"
    token: SecretStr
    #: Jira integrations whose feature connections give explicit epic links; None: all of them; []: none.
    jira_integration_ids: list[str] | None = None
    #: The single-integration spelling of earlier versions; added to ``jira_integration_ids``.
    jira_integration_id: str | None = None


class ProductboardSource(ApiSource):
    """One record per note, with its customer, linked features and their Jira keys."""

    kind: ClassVar[str] = "productboard"
    Options: ClassVar[type[SourceOptions]] = ProductboardOptions
    default_preset: ClassVar[str | None] = "productboard"
    vendor = "Productboard"

    opts: ProductboardOptions

    def auth(self, options: ProductboardOptions) -> httpx.Auth:
        return BearerAuth(options.token)

    def __init__(self, options: SourceOptions, context: SourceContext, **client_kwargs: Any) -> None:
        super().__init__(options, context, **client_kwargs)
        self._entities: dict[str, dict[str, Any]] = {}
        self._companies: dict[str, str | None] = {}
        self._refused_logged = False

    def check_endpoint(self) -> Endpoint:
        return Endpoint("GET", "notes", "data", NextUrlPaginator())

    def pull(self, cursor: Cursor) -> Iterator[Record | Quarantined]:
        started = datetime.now(UTC)
        # version 2: archived notes stop counting, so the first run after the upgrade reads everything
        state = Incremental.from_cursor(cursor, "updated", full=self.context.full, version=2)
        params = {"updatedFrom": iso(state.start)} if state.start else {}
        jira = self._jira_keys_by_feature()
        for note in self.read(Endpoint("GET", "notes", "data", NextUrlPaginator(), params=params), "productboard note"):
            if isinstance(note, Quarantined):
                yield note
                continue
            if not note.get("id") or not isinstance(note.get("fields"), dict):
                yield quarantine(self.context.name, f"productboard note {note.get('id') or '?'}",
                                 "Productboard returned a note without an id or fields", note)
                continue
            if note["fields"].get("archived") is True:
                continue  # archived notes do not count (module docstring)
            yield self._record(note, jira)
        # updatedFrom is inclusive: the next run starts where this one started (overlap is upserted).
        state.observe(started)
        self.cursor = state.cursor()
        self.read_everything = state.full

    # -- one note ---------------------------------------------------------------------

    def _record(self, note: dict[str, Any], jira: Mapping[str, list[str]]) -> Record:
        note_id = str(note["id"])
        customer: dict[str, Any] = {}
        features: list[str] = []
        rels = Endpoint("GET", f"notes/{note_id}/relationships", "data", NextUrlPaginator())
        for rel in self.read(rels, f"productboard note {note_id} relationship"):
            target = rel.get("target") if isinstance(rel, dict) else None
            if isinstance(rel, Quarantined) or not isinstance(target, dict) or not target.get("id"):
                continue  # a relationship we cannot read links nothing
            if rel.get("type") == "customer":
                customer = self._customer(str(target["id"]), str(target.get("type") or ""))
            elif rel.get("type") == "link" and target.get("type") in _FEATURE_TYPES:
                features.append(str(target["id"]))
        fields = note["fields"]
        links: dict[str, Any] = note["links"] if isinstance(note.get("links"), dict) else {}
        data = {
            **note,
            "title_text": fields.get("name") or fields.get("title") or "",
            "content_text": _plain(fields.get("content")),
            "tag_names": [t.get("name") if isinstance(t, dict) else t for t in fields.get("tags") or []],
            "created": note.get("createdAt") or fields.get("createdAt"),
            "note_url": links.get("html") or links.get("self"),
            "customer": customer,
            "feature_ids": features,
            "epic_keys": list(dict.fromkeys(k for f in features for k in jira.get(f, []))),
        }
        return Record(data=data, locator=f"productboard note {note_id}")

    def _customer(self, target_id: str, target_type: str) -> dict[str, Any]:
        """What we know of a note's customer: at least its id (as ``productboard:<id>``) and type."""
        fields = self._entity(target_id).get("fields") or {}
        fields = fields if isinstance(fields, dict) else {}
        if target_type == "company":
            return {"type": "company", "id": f"productboard:{target_id}", "company": fields.get("name")}
        return {"type": "user", "id": f"productboard:{target_id}", "email": fields.get("email"),
                "company": self._company_of(target_id)}

    def _refused(self, what: str, exc: FatalAPIError) -> None:
        if not self._refused_logged:
            log.warning("%s: Productboard refused %s (%s); counting customers by id only. User and company "
                        "entities are a closed beta since 2025-12-15.", self.context.name, what, exc)
            self._refused_logged = True

    def _entity(self, entity_id: str) -> dict[str, Any]:
        if entity_id not in self._entities:
            try:
                body = self.client.request_json("GET", f"entities/{entity_id}") or {}
            except FatalAPIError as exc:
                if exc.status is None or not 400 <= exc.status < 500:
                    raise
                self._refused(f"entities/{entity_id}", exc)
                body = {}
            data = body.get("data") if isinstance(body, dict) else None
            self._entities[entity_id] = data if isinstance(data, dict) else {}
        return self._entities[entity_id]

    def _company_of(self, user_id: str) -> str | None:
        if user_id not in self._companies:
            name = None
            try:
                rels = Endpoint("GET", f"entities/{user_id}/relationships", "data", NextUrlPaginator())
                for rel in self.read(rels, f"productboard user {user_id} relationship"):
                    target = rel.get("target") if isinstance(rel, dict) else None
                    if isinstance(target, dict) and target.get("type") == "company" and target.get("id"):
                        company = self._entity(str(target["id"])).get("fields") or {}
                        name = company.get("name") if isinstance(company, dict) else None
                        break
            except FatalAPIError as exc:
                if exc.status is None or not 400 <= exc.status < 500:
                    raise
                self._refused(f"entities/{user_id}/relationships", exc)
            self._companies[user_id] = name
        return self._companies[user_id]

    def _jira_keys_by_feature(self) -> dict[str, list[str]]:
        """feature id -> Jira keys, from the Jira integrations' connections (RW ``jira.ts`` shape)."""
        ids = self.opts.jira_integration_ids
        if self.opts.jira_integration_id:
            ids = [*(ids or []), self.opts.jira_integration_id]
        if ids is None:
            integrations = self.read(Endpoint("GET", "jira-integrations", "data", NextUrlPaginator()),
                                     "productboard jira integration")
            ids = [str(i["id"]) for i in integrations if isinstance(i, dict) and i.get("id")]
        found: dict[str, list[str]] = {}
        for integration in ids:
            endpoint = Endpoint("GET", f"jira-integrations/{integration}/connections", "data", NextUrlPaginator())
            for conn in self.read(endpoint, f"productboard jira integration {integration} connection"):
                if not isinstance(conn, dict) or not conn.get("id"):
                    continue
                fields: dict[str, Any] = conn["fields"] if isinstance(conn.get("fields"), dict) else {}
                keys = keys_in([fields.get("issueKey")])
                for key in keys:
                    found.setdefault(str(conn["id"]), [])
                    if key not in found[str(conn["id"])]:
                        found[str(conn["id"])].append(key)
        return found


def _plain(content: Any) -> str:
    """A simple note's HTML, or a conversation note's parts, as plain text."""
    if isinstance(content, list):
        return "\n\n".join(_plain(part.get("content") if isinstance(part, dict) else part) for part in content).strip()
    if not isinstance(content, str):
        return ""
    text = re.sub(r"<\s*(br|/p|/div|/li)\s*/?>", "\n", content, flags=re.I)
    return html.unescape(_TAG.sub("", text)).strip()
