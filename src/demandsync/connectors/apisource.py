"""What every feature-request/survey API source shares, and nothing more.

The HTTP layer (``connectors/http``) owns retries, auth and paging; this module
owns the small things each API *source* would otherwise copy:

- the options every such source has (``url``, ``allow_insecure_http``, ``page_size``);
- :class:`Endpoint`: a connector *declares* a list endpoint (method, path,
  records path, paginator, parameters) and :meth:`ApiSource.read` is the one
  paging loop, yielding each record that is a JSON object and quarantining any
  that is not (in the spirit of the Singer SDK's ``records_jsonpath``);
- :class:`Incremental`: the resume point (one named timestamp or id, plus a
  run counter for "re-read everything every N runs"), parsed and written in one
  place, like dlt's ``Incremental`` / Singer's ``get_starting_timestamp``;
- :meth:`ApiSource.check`: credentials accepted and one page read, or an
  :class:`SourceCheckFailed` naming the source and the vendor's own message;
- turning a bad object into a :class:`Quarantined` with its raw JSON, and
  reading the ISO-8601 timestamps these APIs send.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import Field, model_validator

from demandsync.connectors.base import Source, SourceCheckFailed, SourceContext, SourceOptions
from demandsync.connectors.http import ApiClient, APIError, ConnectFailed, Paginator, check_base_url, paginate
from demandsync.connectors.http.errors import describe_body
from demandsync.domain import Cursor, Quarantined
from demandsync.errors import OutsideError

__all__ = ["ApiSource", "ApiSourceOptions", "Endpoint", "Incremental", "OnePage", "SourceCheckFailed",
           "UnexpectedShape", "iso", "parse_time", "quarantine"]

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
        #: Set by a pull that read everything upstream (see :meth:`complete`).
        self.read_everything = False

    def auth(self, options: Any) -> httpx.Auth:
        """How this API wants its credentials (one of the flows in ``connectors.http.auth``)."""
        raise NotImplementedError

    #: Display name in messages ("Canny", "Pendo Feedback").
    vendor: str = "the API"

    def check_endpoint(self) -> Endpoint:
        """The cheapest list whose first page proves the credentials and the URL work."""
        raise NotImplementedError

    def check(self) -> str:
        """Prove this source works: the credentials are accepted and one page is read.

        Returns a one-line description of what was read (``"Canny: read 1 page, 3 boards"``).
        Raises :class:`SourceCheckFailed` (an :class:`OutsideError`) naming the source and
        carrying the vendor's own error text (e.g. Canny's ``{"error": "invalid api key"}``)
        when the vendor refuses or cannot be reached. Reads nothing beyond that first page
        and changes nothing, so ``demandsync check`` may call it any time.
        """
        endpoint = self.check_endpoint()
        try:
            page = next(paginate(self.client, endpoint.method, endpoint.path, endpoint.paginator,
                                 params=endpoint.params, json=endpoint.json, max_pages=1), {})
        except ConnectFailed:  # not the vendor's answer: `check` names the url to fix
            raise
        except APIError as exc:
            raise SourceCheckFailed(self.context.name, self.vendor, str(exc), exc.status) from None
        rows = _at(page, endpoint.records)
        if not isinstance(rows, list):
            raise SourceCheckFailed(self.context.name, self.vendor,
                                    f"{endpoint.path} answered without a {endpoint.records or 'list'} list")
        return f"{self.vendor}: credentials accepted; read 1 page of {endpoint.path} ({len(rows)} record(s))"

    def read(self, endpoint: Endpoint, what: str) -> Iterator[dict[str, Any] | Quarantined]:
        """Every record of ``endpoint`` across its pages: JSON objects as they come, anything
        else quarantined as ``"<what> ?"``. A page without its records list is the vendor
        changing shape under us: that raises (the source fails, its counts stay as they were)
        rather than reading as "no records"."""
        for page in paginate(self.client, endpoint.method, endpoint.path, endpoint.paginator,
                             params=endpoint.params, json=endpoint.json):
            rows = _at(page, endpoint.records)
            if rows is None and endpoint.optional_records:
                rows = []
            if not isinstance(rows, list):
                said = describe_body(page)
                raise UnexpectedShape(f"{self.vendor} answered {endpoint.path} without a "
                                      f"{endpoint.records or 'JSON list'}{f' ({said})' if said else ''}; "
                                      "no records were read from it")
            for row in rows:
                if isinstance(row, dict):
                    yield row
                else:
                    yield quarantine(self.context.name, f"{what} ?", f"{self.vendor} sent a {what} that is not "
                                     "a JSON object", row)

    def complete(self) -> bool:
        return self.context.full or self.read_everything

    def close(self) -> None:
        self.client.close()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A paged list, as a connector declares it."""

    method: str
    path: str
    #: Dotted key of the records list in a page (``"posts"``, ``"data"``); None: the page is a bare list.
    records: str | None
    paginator: Paginator
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Mapping[str, Any] | None = None
    #: A page without the key means "no records" (some APIs drop empty lists).
    optional_records: bool = False


class OnePage(Paginator):
    """A list that is not paged (Canny ``boards/list``): the first page is all there is."""

    def next(self, request: Any, response: httpx.Response) -> None:
        return None


def _at(page: Mapping[str, Any], path: str | None) -> Any:
    if path is None:
        return page.get("items")  # paginate() wraps a bare list as {"items": [...]}
    node: Any = page
    for key in path.split("."):
        node = node.get(key) if isinstance(node, Mapping) else None
    return node


class UnexpectedShape(OutsideError):
    """A vendor answered in a shape its documentation does not describe."""


@dataclass(slots=True)
class Incremental:
    """A source's resume point, read from and written to its saved cursor.

    ``key`` names the one value the connector resumes from (an ISO timestamp or
    an id); ``full_every`` forces a full re-read every N runs for APIs whose
    incremental reads miss some changes (Canny votes on old posts). The
    connector asks :attr:`start` (None: read everything), reports what it saw
    with :meth:`observe`, and stores :meth:`cursor` when the pull is done.
    """

    key: str
    start: Any
    full: bool
    runs_since_full: int = 0
    #: The newest value observed this run.
    newest: Any = None
    is_time: bool = True
    version: int = 1

    @classmethod
    def from_cursor(cls, cursor: Cursor | None, key: str, *, full: bool, full_every: int | None = None,
                    is_time: bool = True, version: int = 1) -> Incremental:
        """``full`` (``run --full``), a missing or unreadable value, the N-th run, or a cursor
        saved under another ``version`` all mean "read everything".

        ``version``: bump it when a connector changes what its records are (their identity);
        the first run after an upgrade then reads everything, and since the source reports
        that read as complete, the items of the old identity are retired instead of counting
        next to the new ones."""
        saved = cursor if isinstance(cursor, Mapping) else {}
        runs = saved.get("runs_since_full")
        runs = runs if isinstance(runs, int) and runs >= 0 else 0
        raw = saved.get(key)
        start = parse_time(raw) if is_time else (str(raw) if raw not in (None, "") else None)
        stale = saved.get("version", 1) != version
        if full or stale or start is None or (full_every is not None and runs + 1 >= full_every):
            return cls(key, None, True, runs, is_time=is_time, version=version)
        return cls(key, start, False, runs, newest=start, is_time=is_time, version=version)

    def observe(self, value: Any) -> None:
        """Remember ``value`` if it is the newest seen (timestamps compare; ids: the first one wins)."""
        if value is None:
            return
        if self.is_time:
            if self.newest is None or value > self.newest:
                self.newest = value
        elif self.newest is None or self.newest == self.start:
            self.newest = value

    def cursor(self) -> Cursor:
        value = iso(self.newest) if self.is_time and self.newest is not None else self.newest
        saved: Cursor = {self.key: value, "runs_since_full": 0 if self.full else self.runs_since_full + 1}
        if self.version != 1:
            saved["version"] = self.version
        return saved


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


