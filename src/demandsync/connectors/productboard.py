"""Productboard notes (the feedback) through REST API v2, bearer token.

Calls (base ``https://api.productboard.com/v2``; EU workspaces use
``https://api.eu.productboard.com/v2`` via ``url``), every list followed by its
absolute ``links.next`` (:class:`NextUrlPaginator`):

- ``GET notes`` (``updatedFrom`` = the cursor on incremental runs);
- ``GET notes/{id}/relationships``: one ``customer`` (a user *or* a company; a
  user who belongs to a company is returned as the user) and ``link``\\ s to
  features/subfeatures;
- ``GET entities/{id}`` (cached per run) for the customer's email/name, and
  ``GET entities/{user id}/relationships`` for a user's company;
- optionally ``GET jira-integrations/{jira_integration_id}/connections``: which
  Jira issue each feature is connected to, so a note linked to that feature
  gets the issue key as an explicit link (``epic_keys``).

Checked against developer.productboard.com (v2 reference, pages updated
2026-04): notes list + filters, pagination, the note relationship rules.
v1 was deprecated on 2026-04-09 and is switched off on 2026-07-08 (third-party
summary of Productboard's notice; the v1 docs still say "X-Version: 1").
*Not confirmed:* the exact field names inside a v2 note and entity
(``fields.name``/``fields.content``/``fields.tags``/``createdAt`` are what
public clients use), whether users/companies are served by ``entities``, and
the v2 path and shape of the Jira-integration connections (the default is the
v1 path under the v2 base; set ``jira_connections_path`` to what your
workspace answers). Feature↔Jira changes do not touch a note's update time,
so incremental runs miss them until a ``--full`` run.
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

from demandsync.connectors.apisource import ApiSource, ApiSourceOptions, iso, parse_time, quarantine
from demandsync.connectors.base import Cursor, Record, SourceContext, SourceOptions
from demandsync.connectors.http import BearerAuth, FatalAPIError, NextUrlPaginator, iter_items
from demandsync.domain import Quarantined
from demandsync.keys import keys_in

log = logging.getLogger("demandsync.productboard")
_TAG = re.compile(r"<[^>]+>")
_FEATURE_TYPES = frozenset({"feature", "subfeature"})


class ProductboardOptions(ApiSourceOptions):
    """``[[sources]] kind = "productboard"`` keys."""

    url: str = "https://api.productboard.com/v2"
    token: SecretStr
    #: The Jira integration whose feature connections give explicit epic links (optional).
    jira_integration_id: str | None = None
    jira_connections_path: str = "jira-integrations/{integration_id}/connections"


class ProductboardSource(ApiSource):
    """One record per note, with its customer, linked features and their Jira keys."""

    kind: ClassVar[str] = "productboard"
    Options: ClassVar[type[SourceOptions]] = ProductboardOptions
    default_preset: ClassVar[str | None] = "productboard"

    opts: ProductboardOptions

    def auth(self, options: ProductboardOptions) -> httpx.Auth:
        return BearerAuth(options.token)

    def __init__(self, options: SourceOptions, context: SourceContext, **client_kwargs: Any) -> None:
        super().__init__(options, context, **client_kwargs)
        self._entities: dict[str, dict[str, Any]] = {}
        self._companies: dict[str, str | None] = {}

    def pull(self, cursor: Cursor) -> Iterator[Record | Quarantined]:
        started = datetime.now(UTC)
        since = None if self.context.full else parse_time((cursor or {}).get("updated"))
        params = {"updatedFrom": iso(since)} if since else {}
        jira = self._jira_keys_by_feature()
        for note in iter_items(self.client, "GET", "notes", NextUrlPaginator(), items_key="data", params=params):
            if not isinstance(note, dict) or not note.get("id") or not isinstance(note.get("fields", {}), dict):
                note_id = note.get("id") if isinstance(note, dict) else None
                yield quarantine(self.context.name, f"productboard note {note_id or '?'}",
                                 "Productboard returned a note without an id or fields", note)
                continue
            yield self._record(note, jira)
        # updatedFrom is inclusive: the next run starts where this one started (overlap is upserted).
        self.cursor = {"updated": iso(started)}

    # -- one note ---------------------------------------------------------------------

    def _record(self, note: dict[str, Any], jira: Mapping[str, list[str]]) -> Record:
        note_id = str(note["id"])
        customer: dict[str, Any] = {}
        features: list[str] = []
        for rel in iter_items(self.client, "GET", f"notes/{note_id}/relationships", NextUrlPaginator(), items_key="data"):
            target = rel.get("target") if isinstance(rel, dict) else None
            if not isinstance(target, dict) or not target.get("id"):
                continue
            if rel.get("type") == "customer":
                customer = self._customer(str(target["id"]), str(target.get("type") or ""))
            elif rel.get("type") == "link" and target.get("type") in _FEATURE_TYPES:
                features.append(str(target["id"]))
        fields = note.get("fields") or {}
        links = found if isinstance(found := note.get("links"), dict) else {}
        data = {
            **note,
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
        entity = self._entity(target_id)
        fields = found if isinstance(found := entity.get("fields"), dict) else {}
        if target_type == "company":
            return {"type": "company", "company_id": target_id, "company": fields.get("name")}
        return {"type": "user", "user_id": target_id, "email": fields.get("email"), "company": self._company_of(target_id)}

    def _entity(self, entity_id: str) -> dict[str, Any]:
        if entity_id not in self._entities:
            try:
                body = self.client.request_json("GET", f"entities/{entity_id}") or {}
            except FatalAPIError as exc:
                if exc.status != 404:
                    raise
                body = {}
            data = body.get("data") if isinstance(body, dict) else None
            self._entities[entity_id] = data if isinstance(data, dict) else {}
        return self._entities[entity_id]

    def _company_of(self, user_id: str) -> str | None:
        if user_id not in self._companies:
            name = None
            try:
                for rel in iter_items(self.client, "GET", f"entities/{user_id}/relationships", NextUrlPaginator(),
                                      items_key="data"):
                    target = rel.get("target") if isinstance(rel, dict) else None
                    if isinstance(target, dict) and target.get("type") == "company" and target.get("id"):
                        company = self._entity(str(target["id"])).get("fields") or {}
                        name = company.get("name") if isinstance(company, dict) else None
                        break
            except FatalAPIError as exc:
                if exc.status != 404:
                    raise
            self._companies[user_id] = name
        return self._companies[user_id]

    def _jira_keys_by_feature(self) -> dict[str, list[str]]:
        """feature id -> Jira keys, from the Jira integration's connections (empty when not configured)."""
        if not self.opts.jira_integration_id:
            return {}
        path = self.opts.jira_connections_path.format(integration_id=self.opts.jira_integration_id)
        found: dict[str, list[str]] = {}
        for conn in iter_items(self.client, "GET", path, NextUrlPaginator(), items_key="data"):
            if not isinstance(conn, dict):
                continue
            feature = conn.get("featureId") or (conn.get("feature") or {}).get("id")
            link = conn.get("connection") or (conn.get("fields") or {}).get("connection") or {}
            keys = [link.get("issueKey")] if link.get("issueKey") else keys_in(
                [link.get("targetUrl"), link.get("hoverLabel"), link.get("tooltip")])
            if feature and keys:
                found.setdefault(str(feature), []).extend(k for k in keys if isinstance(k, str))
        return found


def _plain(content: Any) -> str:
    """A simple note's HTML, or a conversation note's parts, as plain text."""
    if isinstance(content, list):
        return "\n\n".join(_plain(part.get("content") if isinstance(part, dict) else part) for part in content).strip()
    if not isinstance(content, str):
        return ""
    text = re.sub(r"<\s*(br|/p|/div|/li)\s*/?>", "\n", content, flags=re.I)
    return html.unescape(_TAG.sub("", text)).strip()
