"""Pendo Feedback (formerly Receptive): feature requests and who asked for them.

Calls (base ``https://api.feedback.us.pendo.io``, or ``…eu…`` for EU data
centres; key in the ``auth-token`` header, never the query string):

- ``GET features?limit=&start=``: every feature request, a bare JSON list,
  paged by offset (``start``) until a page comes back short;
- optionally ``GET <requesters_path>`` per feature (e.g.
  ``features/{id}/requests``): one record per requesting user/account.

What Pendo's public Feedback API docs (Postman collection "Pendo Feedback
API", published 2022-01-26; read 2026-10) confirm: the two hosts, the
``auth-token`` header, ``GET /accounts?limit=&start=&order_by=&order_dir=``,
and that the docs list only endpoints "as needed by customers". ``GET
/features?limit=`` returning a list of ``{id, title, …}`` is seen in public
client code, not in the docs; ``start`` on features, the feature's other field
names, a per-feature requester endpoint and any Jira field are **not
confirmed**. So: without ``requesters_path`` each feature is one record whose
vote count comes from the first of ``vote_fields`` present; Jira keys are
searched in the fields named by ``jira_fields``. No updated-since filter is
documented, so every run reads everything (the cursor stays empty).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr

from demandsync.connectors.apisource import ApiSource, ApiSourceOptions, quarantine
from demandsync.connectors.base import Cursor, Record, SourceOptions
from demandsync.connectors.http import HeaderKeyAuth, iter_items
from demandsync.connectors.http.paginators import ListOffsetPaginator
from demandsync.domain import Quarantined
from demandsync.keys import keys_in


class PendoFeedbackOptions(ApiSourceOptions):
    """``[[sources]] kind = "pendo_feedback"`` keys."""

    url: str = "https://api.feedback.us.pendo.io"
    api_key: SecretStr
    features_path: str = "features"
    #: Per-feature requesters, ``{id}`` replaced by the feature id; unset: one record per feature.
    requesters_path: str | None = None
    #: Feature fields that may hold a vote/request count, first present wins.
    vote_fields: list[str] = Field(default_factory=lambda: ["vote_count", "votes", "request_count", "priority_count"])
    #: Feature fields searched for Jira keys (a key, or a URL ending in one).
    jira_fields: list[str] = Field(default_factory=lambda: ["jira_key", "jira_issue_key", "jira_url", "external_url"])
    #: Link shown for an item; ``{id}`` is the feature id.
    feature_url: str = "https://feedback.us.pendo.io/app/#/case/{id}"


class PendoFeedbackSource(ApiSource):
    """Feature requests, one record per (feature, requester) or per feature."""

    kind: ClassVar[str] = "pendo_feedback"
    Options: ClassVar[type[SourceOptions]] = PendoFeedbackOptions
    default_preset: ClassVar[str | None] = "pendo-feedback"

    opts: PendoFeedbackOptions

    def auth(self, options: PendoFeedbackOptions) -> httpx.Auth:
        return HeaderKeyAuth("auth-token", options.api_key)

    def pull(self, cursor: Cursor) -> Iterator[Record | Quarantined]:
        pages = ListOffsetPaginator(limit=self.opts.page_size)
        for feature in iter_items(self.client, "GET", self.opts.features_path, pages, items_key="items"):
            if not isinstance(feature, dict) or feature.get("id") is None or not feature.get("title"):
                fid = feature.get("id", "?") if isinstance(feature, dict) else "?"
                yield quarantine(self.context.name, f"pendo feedback feature {fid}",
                                 "Pendo Feedback returned a feature without an id or title", feature)
                continue
            yield from self._records(feature)
        self.cursor = {}  # no updated-since filter is documented: every run is a full read

    def _records(self, feature: dict[str, Any]) -> Iterator[Record | Quarantined]:
        base = {
            **feature,
            "feature_url": self.opts.feature_url.format(id=feature["id"]),
            "epic_keys": keys_in(feature.get(f) for f in self.opts.jira_fields),
            "votes_total": next((feature[f] for f in self.opts.vote_fields if isinstance(feature.get(f), int)), None),
        }
        if not self.opts.requesters_path:
            yield Record(data={**base, "record_id": str(feature["id"]), "requester": {}, "account": {}},
                         locator=f"pendo feedback feature {feature['id']}")
            return
        body = self.client.request_json("GET", self.opts.requesters_path.format(id=feature["id"]))
        rows = body if isinstance(body, list) else (body or {}).get("items") or (body or {}).get("results") or []
        for row in rows:
            user = _part(row, "user", "requester", "end_user")
            account = _part(row, "account", "company")
            who = user.get("email") or user.get("id") or account.get("id")
            if not who:
                yield quarantine(self.context.name, f"pendo feedback feature {feature['id']} request",
                                 "request names no user or account", row)
                continue
            yield Record(data={**base, "record_id": f"{feature['id']}:{who}", "requester": user, "account": account,
                               "votes_total": None, "request": row},
                         locator=f"pendo feedback feature {feature['id']} requester {who}")


def _part(row: Any, *keys: str) -> dict[str, Any]:
    """The first of ``keys`` in ``row`` that holds an object."""
    if isinstance(row, Mapping):
        for key in keys:
            if isinstance(row.get(key), dict):
                return dict(row[key])
    return {}
