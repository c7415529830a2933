"""Hotjar survey responses through the Hotjar API (not the CSV export: that is ``files``).

Calls: ``POST /v1/oauth/token`` (client credentials, form-encoded; the shared
:class:`OAuth2ClientCredentials` caches the token and fetches a new one before
``expires_in`` runs out or on a 401), then
``GET /v1/sites/{site_id}/surveys/{survey_id}/responses?limit=N`` paged by the
answer's ``next_cursor`` (sent back as ``cursor``).

Confirmed in Hotjar's API reference (help.hotjar.com, "Hotjar API Reference",
read 2026-10): base ``https://api.hotjar.io``, the token call, cursor paging,
3000 requests/minute. *Not* confirmed: the field names of a response object
beyond ``id``, ``answers[].question_id/answer`` and ``tags``; so the created
time is read from ``created_time``/``created_at``/``date_submitted`` and the
respondent from ``user_id``/``hotjar_user_id``/``respondent_id``, whichever
comes, and the order is assumed newest-first (the incremental stop only ends
paging early; it never drops a response newer than the cursor).

Identity: the CSV preset ``hotjar-survey`` keys a response on
``Hotjar User ID|Date Submitted`` (``2023-10-03 10:17:29``). When a response
carries a consented user id and a time, the connector builds ``identity`` the
same way (time in UTC, which the export is believed but not confirmed to use);
anonymous (all-zero) or missing user ids fall back to ``response:<id>``. Note
that items are keyed per source, so this makes ids *comparable*, it does not
merge an API source with a CSV source.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr

from demandsync.connectors.apisource import ApiSource, ApiSourceOptions, iso, parse_time, quarantine
from demandsync.connectors.base import Cursor, Record, SourceContext, SourceOptions
from demandsync.connectors.http import CursorPaginator, OAuth2ClientCredentials, paginate
from demandsync.domain import Quarantined

_ANONYMOUS = re.compile(r"^[0\-]*$")
_CREATED_KEYS = ("created_time", "created_at", "date_submitted", "created")
_USER_KEYS = ("user_id", "hotjar_user_id", "respondent_id")


class HotjarOptions(ApiSourceOptions):
    """``[[sources]] kind = "hotjar"`` keys."""

    url: str = "https://api.hotjar.io/v1"
    #: Responses per page: Hotjar's ``limit`` is 1–100 (see the module docstring's sources).
    page_size: int = Field(100, ge=1, le=100)
    client_id: str
    client_secret: SecretStr
    site_id: str
    survey_id: str
    #: Defaults to ``<url>/oauth/token``.
    token_url: str | None = None


class HotjarSource(ApiSource):
    """One record per survey response; the cursor is the newest response time seen."""

    kind: ClassVar[str] = "hotjar"
    Options: ClassVar[type[SourceOptions]] = HotjarOptions
    default_preset: ClassVar[str | None] = "hotjar-api"

    opts: HotjarOptions

    def auth(self, options: HotjarOptions) -> httpx.Auth:
        return OAuth2ClientCredentials(
            options.token_url or f"{options.url.rstrip('/')}/oauth/token", options.client_id,
            options.client_secret, clock=self._token_clock)

    def __init__(self, options: SourceOptions, context: SourceContext, *,
                 token_clock: Callable[[], float] = time.monotonic, **client_kwargs: Any) -> None:
        self._token_clock = token_clock
        super().__init__(options, context, **client_kwargs)

    def pull(self, cursor: Cursor) -> Iterator[Record | Quarantined]:
        since = None if self.context.full else parse_time((cursor or {}).get("created"))
        newest = since
        path = f"sites/{self.opts.site_id}/surveys/{self.opts.survey_id}/responses"
        reached_cursor = False
        for page in paginate(self.client, "GET", path, CursorPaginator(), params={"limit": self.opts.page_size}):
            for response in page.get("results") or []:
                created = _created(response) if isinstance(response, dict) else None
                if since is not None and created is not None and created < since:
                    reached_cursor = True
                    continue
                item = self._record(response, created)
                if isinstance(item, Record) and created and (newest is None or created > newest):
                    newest = created
                yield item
            if reached_cursor:
                break  # newest-first: the rest of the pages were read by an earlier run
        self.cursor = {"created": iso(newest)} if newest else dict(cursor or {})

    def _record(self, response: Any, created: datetime | None) -> Record | Quarantined:
        rid = response.get("id") if isinstance(response, dict) else None
        if rid is None or str(rid) == "":
            return quarantine(self.context.name, f"hotjar survey {self.opts.survey_id} response ?",
                              "Hotjar returned a response without an id", response)
        if not isinstance(response.get("answers", []), list):
            return quarantine(self.context.name, f"hotjar response {rid}", "answers is not a list", response)
        user = next((str(response[k]) for k in _USER_KEYS if response.get(k)), "")
        anonymous = not user or bool(_ANONYMOUS.match(user))
        identity = (f"{user}|{created.strftime('%Y-%m-%d %H:%M:%S')}" if created and not anonymous
                    else f"response:{rid}")
        data = {**response, "identity": identity, "respondent": None if anonymous else user,
                "created": iso(created) if created else None, "answers_text": _answers_text(response)}
        return Record(data=data, locator=f"hotjar response {rid}")


def _created(response: Mapping[str, Any]) -> datetime | None:
    return next((t for k in _CREATED_KEYS if (t := parse_time(response.get(k)))), None)


def _answers_text(response: Mapping[str, Any]) -> str:
    """Every non-empty answer, labelled with its question when the API names it."""
    parts = []
    for answer in response.get("answers") or []:
        if not isinstance(answer, dict):
            continue
        value = answer.get("answer")
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value or "").strip()
        if text:
            question = answer.get("question") or answer.get("question_text")
            parts.append(f"{question}: {text}" if question else text)
    return "\n\n".join(parts)
