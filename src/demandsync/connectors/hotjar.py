"""Hotjar survey responses through the Hotjar API (not the CSV export: that is ``files``).

Every vendor fact this module relies on, with its public source. HJ = Hotjar's
"Hotjar API Reference" (https://help.hotjar.com/hc/en-us/articles/12244109929751-Hotjar-API-Reference);
AE = api-evangelist/hotjar ``openapi/hotjar-rest-api-openapi.yml`` and
``json-schema/hotjar-surveyresponse*-schema.json`` (a generated spec whose
``externalDocs`` is Hotjar's reference).

- Base ``https://api.hotjar.io``, paths under ``/v1`` (HJ; AE ``servers``).
- Token: ``POST /v1/oauth/token``, form-encoded ``grant_type=client_credentials``,
  ``client_id``, ``client_secret``; then ``Authorization: Bearer`` (HJ "Getting
  the bearer token"). The shared :class:`OAuth2ClientCredentials` caches the
  token, honours ``expires_in`` and fetches a new one on a 401 (AE ``OAuthToken``).
- ``GET /v1/sites/{site_id}/surveys/{survey_id}/responses?limit=&cursor=``
  (AE ``paths``); ``limit`` is at most **100** (AE ``Limit``: "Maximum value is
  100"), so ``page_size`` is capped there; paged by the answer's
  ``next_cursor`` (null on the last page) sent back as ``cursor`` (AE
  ``Cursor``, ``SurveyResponseListResponse``); envelope ``{results, next_cursor}``.
- A response is ``{id, answers:[{question_id, answer}], comment, tags:[{name}]}``
  (AE ``SurveyResponse``, ``SurveyAnswer``, ``SurveyResponseTag``). The
  ``comment`` is part of the feedback, so it is appended to the item's text.
  **Nothing else is documented on a response** (no time, no user): the item's
  identity is ``response:<id>``, it has no requester (each response is an
  anonymous requester of its own) and no date.
- Order newest first (AE operation description: "sorted by creation date in
  descending order"; *partly confirmed*). Incremental runs remember the first
  (newest) response id of the previous run and stop paging when they reach
  it. If that response was deleted upstream the run simply reads everything:
  never fewer responses than there are.

Upgrading from versions that keyed consented respondents as ``<user id>|<time>``
(undocumented fields): the cursor carries ``version: 2``, so the first run after
the upgrade reads everything and, being complete, retires the old keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr

from demandsync.connectors.apisource import ApiSource, ApiSourceOptions, Endpoint, Incremental, quarantine
from demandsync.connectors.base import Cursor, Record, SourceContext, SourceOptions
from demandsync.connectors.http import CursorPaginator, OAuth2ClientCredentials
from demandsync.domain import Quarantined


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
    """One record per survey response; the cursor is the newest response id seen."""

    kind: ClassVar[str] = "hotjar"
    Options: ClassVar[type[SourceOptions]] = HotjarOptions
    default_preset: ClassVar[str | None] = "hotjar-api"
    vendor = "Hotjar"

    opts: HotjarOptions

    def auth(self, options: HotjarOptions) -> httpx.Auth:
        return OAuth2ClientCredentials(
            options.token_url or f"{options.url.rstrip('/')}/oauth/token", options.client_id,
            options.client_secret, clock=self._token_clock)

    def __init__(self, options: SourceOptions, context: SourceContext, *,
                 token_clock: Callable[[], float] = time.monotonic, **client_kwargs: Any) -> None:
        self._token_clock = token_clock
        super().__init__(options, context, **client_kwargs)

    def _endpoint(self, limit: int) -> Endpoint:
        path = f"sites/{self.opts.site_id}/surveys/{self.opts.survey_id}/responses"
        return Endpoint("GET", path, "results", CursorPaginator(), params={"limit": limit})

    def check_endpoint(self) -> Endpoint:
        return self._endpoint(1)

    def pull(self, cursor: Cursor) -> Iterator[Record | Quarantined]:
        # version 2: identity response:<id> (was <user id>|<time> for consented respondents)
        state = Incremental.from_cursor(cursor, "newest_id", full=self.context.full, is_time=False, version=2)
        for response in self.read(self._endpoint(self.opts.page_size), f"hotjar survey {self.opts.survey_id} response"):
            if isinstance(response, Quarantined):
                yield response
                continue
            rid = response.get("id")
            if rid is not None and state.start is not None and str(rid) == state.start:
                break  # newest-first: everything from here on was read by an earlier run
            if rid is not None:
                state.observe(str(rid))
            yield self._record(response)
        self.cursor = state.cursor()
        self.read_everything = state.full

    def _record(self, response: Mapping[str, Any]) -> Record | Quarantined:
        rid = response.get("id")
        if rid is None or str(rid) == "":
            return quarantine(self.context.name, f"hotjar survey {self.opts.survey_id} response ?",
                              "Hotjar returned a response without an id", response)
        if not isinstance(response.get("answers", []), list):
            return quarantine(self.context.name, f"hotjar response {rid}", "answers is not a list", response)
        data = {**response, "identity": f"response:{rid}", "answers_text": _text(response)}
        return Record(data=data, locator=f"hotjar response {rid}")


def _text(response: Mapping[str, Any]) -> str:
    """Every non-empty answer, then the comment (Hotjar documents no question text on a response)."""
    parts = []
    for answer in response.get("answers") or []:
        if not isinstance(answer, dict):
            continue
        value = answer.get("answer")
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value or "").strip()
        if text:
            parts.append(text)
    comment = response.get("comment")
    if isinstance(comment, str) and comment.strip():
        parts.append(comment.strip())
    return "\n\n".join(parts)
