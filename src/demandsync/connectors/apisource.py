"""What every feature-request/survey API source shares, and nothing more.

The HTTP layer (``connectors/http``) owns retries, auth and paging; this module
owns the small things each API *source* would otherwise copy: the options every
such source has (``url``, ``allow_insecure_http``, ``page_size``), the
:class:`ApiSource` base that builds and closes one shared client from them,
turning a bad object into a :class:`Quarantined` with its raw JSON, and reading
the ISO-8601 timestamps these APIs send.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import Field, model_validator

from demandsync.connectors.base import Source, SourceContext, SourceOptions
from demandsync.connectors.http import ApiClient, check_base_url
from demandsync.domain import Quarantined

_RAW_LIMIT = 2000


class ApiSourceOptions(SourceOptions):
    """Keys every API source has. Subclasses add their secret and give ``url`` a default."""

    #: Base URL: the vendor's, or a proxy, a regional host, a self-hosted or local double.
    url: str
    #: Plain http is refused (credentials would travel unencrypted) unless the host is this machine or this is set.
    allow_insecure_http: bool = False
    page_size: int = Field(100, ge=1, le=1000)

    @model_validator(mode="after")
    def _check_url(self) -> ApiSourceOptions:
        check_base_url(self.url, allow_insecure_http=self.allow_insecure_http)
        return self


class ApiSource(Source):
    """A source behind one HTTP API.

    Builds the shared :class:`ApiClient` from the options' ``url`` and
    ``allow_insecure_http`` with the credentials :meth:`auth` returns, and
    closes it. ``client_kwargs`` (timeouts, retry budget, a test ``sleep``)
    go straight to the client. Subclasses implement :meth:`auth` and ``pull``.
    """

    def __init__(self, options: SourceOptions, context: SourceContext, **client_kwargs: Any) -> None:
        super().__init__(options, context)
        assert isinstance(options, ApiSourceOptions) and isinstance(options, self.Options)
        self.opts: Any = options  # subclasses narrow the type with a class annotation
        self.client = ApiClient(options.url.rstrip("/"), auth=self.auth(options),
                                allow_insecure_http=options.allow_insecure_http, **client_kwargs)

    def auth(self, options: Any) -> httpx.Auth:
        """How this API wants its credentials (one of the flows in ``connectors.http.auth``)."""
        raise NotImplementedError

    def close(self) -> None:
        self.client.close()


def quarantine(source: str, locator: str, reason: str, raw: Any) -> Quarantined:
    """A Quarantined carrying the object as JSON (cut to 2,000 characters) so the admin sees what came."""
    try:
        text = json.dumps(raw, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(raw)
    return Quarantined(source, locator, reason, text[:_RAW_LIMIT])


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from ISO 8601 (``Z`` or an offset; naive means UTC), else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def iso(moment: datetime) -> str:
    """``2024-05-01T10:15:30Z``: the form cursors are saved in."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


