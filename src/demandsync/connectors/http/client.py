"""One API's HTTP session: base URL, auth, timeouts, retries, redacted logs.

Every connector talks to its system through an :class:`ApiClient` so that
retry, back-off, ``Retry-After``, and secret hygiene are written once. The
client decides nothing from status codes itself: it sends, and
:func:`~demandsync.connectors.http.errors.validate_response` judges.

>>> import httpx
>>> client = ApiClient("https://example.atlassian.net",
...                    transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"ok": True})))
>>> client.request_json("GET", "/rest/api/3/serverInfo")
{'ok': True}
>>> client.request_counts[("GET", "/rest/api/3/serverInfo")]
1
"""

from __future__ import annotations

import functools
import logging
import random as _random
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import certifi
import httpx
import tenacity

from demandsync.connectors.http.errors import (
    ConnectFailed,
    RetriableAPIError,
    RetriesExhausted,
    connect_cause,
    validate_response,
)
from demandsync.connectors.http.ratelimit import RateLimiter
from demandsync.connectors.http.redaction import install_redacting_filter, redact_url

log = logging.getLogger("demandsync.http")
install_redacting_filter()

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
USER_AGENT = "demandsync/0.1 (+https://github.com/demandsync)"


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One certificate-verifying TLS context per process: building one loads the CA bundle
    (~0.1 s), and a run makes a client per source plus one for Jira."""
    return ssl.create_default_context(cafile=certifi.where())


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing: what an API client with ``cookies=False`` holds.

    httpx files every response's ``Set-Cookie`` into the client's jar, building a
    ``urllib`` request and response pair per response to do it (~8 % of our CPU per PUT,
    ``bench/apply_speed.py``). An API authenticated on every request by a header needs no
    session cookie; nothing is read from or sent out of this jar, and nothing can be put in.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        return None

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        raise TypeError("this client keeps no cookies (ApiClient(cookies=False))")

    def update(self, cookies: Any = None) -> None:  # type: ignore[override]
        raise TypeError("this client keeps no cookies (ApiClient(cookies=False))")


class _CookielessClient(httpx.Client):
    """An ``httpx.Client`` whose jar is always the empty :class:`_NoCookies`."""

    _none = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._none

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("this client keeps no cookies (ApiClient(cookies=False))")


class _DeadlineStream(httpx.SyncByteStream):
    """A response body that raises TimeoutError once ``deadline`` (time.monotonic) is past, so
    one ``Response.read()`` both reads the body and enforces the whole-answer deadline."""

    def __init__(self, stream: httpx.SyncByteStream, deadline: float) -> None:
        self._stream, self._deadline = stream, deadline

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            yield chunk
            if time.monotonic() > self._deadline:
                raise TimeoutError

    def close(self) -> None:
        self._stream.close()


def check_base_url(url: str, *, allow_insecure_http: bool = False) -> httpx.URL:
    """``url`` parsed, or ValueError if it is not http(s) or would send
    credentials over plain http to anything but this machine."""
    parsed = httpx.URL(url)
    shown = redact_url(parsed)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"base URL {shown!r} must start with https:// and name a host")
    if parsed.scheme == "http" and parsed.host not in LOOPBACK_HOSTS and not allow_insecure_http:
        raise ValueError(
            f"refusing plain-http base URL {shown!r}: credentials would travel unencrypted. "
            "Use https://, or set allow_insecure_http = true for a test server you trust."
        )
    return parsed


class ApiClient:
    """An ``httpx.Client`` with retries that respect the server.

    - Timeouts on every request (``connect_timeout``/``read_timeout`` seconds).
    - 429, 502, 503, 504 and transport errors/timeouts are retried; a connection
      refused, an unknown host or a TLS failure raises :class:`ConnectFailed` at once. A
      ``Retry-After`` (seconds or HTTP-date) is obeyed as given; otherwise the
      wait is exponential (``backoff_base * 2**n``, at most ``max_wait``) with
      jitter, so many clients throttled together do not return together.
    - Retrying stops after ``max_attempts`` tries or when the next wait would
      take the total waiting past ``max_wait_total``; then
      :class:`RetriesExhausted` says how many tries and what the last failure was.
    - Other 4xx/5xx raise :class:`FatalAPIError` at once.
    - Absolute URLs (``links.next``) must stay on the base URL's origin, so
      credentials are never handed to another host.
    - ``request_counts`` counts HTTP attempts per (method, path), for tests and benchmarks.
    - ``sleep`` and ``random`` are injectable so tests neither wait nor guess.
    - ``rate_limiter`` (optional) paces every attempt, retries included, under an
      API's published budget (:mod:`~demandsync.connectors.http.ratelimit`).
    - ``cookies=False``: no cookie jar, for an API that authenticates every request by a
      header (the Jira tracker): a ``Set-Cookie`` is neither kept nor sent back.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        headers: Mapping[str, str] | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        max_attempts: int = 6,
        max_wait: float = 60.0,
        max_wait_total: float = 120.0,
        backoff_base: float = 1.0,
        allow_insecure_http: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        transport: httpx.BaseTransport | None = None,
        attempt_timeout: float | None = None,
        rate_limiter: RateLimiter | None = None,
        cookies: bool = True,
    ) -> None:
        self.rate_limiter = rate_limiter
        self.base_url = check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        #: A whole answer must arrive within this (default 3 x read_timeout): httpx's read
        #: timeout is per socket read, so a server trickling a byte at a time never trips it.
        self.attempt_timeout = attempt_timeout if attempt_timeout is not None else 3 * read_timeout
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.max_wait_total = max_wait_total
        self.backoff_base = backoff_base
        self._sleep = sleep
        self._random = random
        self.request_counts: Counter[tuple[str, str]] = Counter()
        self._client = (httpx.Client if cookies else _CookielessClient)(
            base_url=self.base_url,
            auth=auth,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            transport=transport,
            verify=_tls_context(),
        )
        #: The base URL without query or fragment, ending in "/": a relative path is appended to it.
        self._prefix = str(self._client.base_url.copy_with(query=None, fragment=None)).rstrip("/") + "/"
        self._origin = (self.base_url.scheme, self.base_url.host, self.base_url.port)
        self._queries: dict[tuple[tuple[str, str], ...], str] = {}

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request (retrying as described on the class); a 2xx response or an APIError."""
        method = method.upper()
        try:  # most requests succeed at once: the retry machinery is built only for those that do not
            return self._send_once(method, path, params, json, data, headers)
        except RetriableAPIError as exc:
            failed = [exc]

        def attempt(*args: Any) -> httpx.Response:
            if failed:  # tenacity's attempt 1 is the one just made: its failure, replayed
                raise failed.pop()
            return self._send_once(*args)

        stopped_by: list[str] = []

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number >= self.max_attempts:
                stopped_by.append(f"the limit of {self.max_attempts} attempts was reached")
                return True
            if state.idle_for + state.upcoming_sleep > self.max_wait_total:
                stopped_by.append(
                    f"waiting {state.upcoming_sleep:.1f}s more would pass the {self.max_wait_total:.0f}s "
                    f"wait budget (already waited {state.idle_for:.1f}s)"
                )
                return True
            return False

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(RetriableAPIError),
            wait=self._wait,
            stop=stop,
            sleep=self._sleep,
            before_sleep=self._log_retry,
        )
        try:
            return retrying(attempt, method, path, params, json, data, headers)
        except tenacity.RetryError as exc:
            attempts = exc.last_attempt.attempt_number
            last = exc.last_attempt.exception()
            status = last.status if isinstance(last, RetriableAPIError) else None
            what = f"HTTP {status}" if status else (str(last) if last else "unknown failure")
            reason = stopped_by[-1] if stopped_by else "retrying stopped"
            shown = redact_url(self._build(method, path, params, json, data, headers).url)
            raise RetriesExhausted(
                f"gave up on {method} {shown} after {attempts} attempt{'s' if attempts != 1 else ''} "
                f"(last: {what}): {reason}",
                method=method, url=shown, status=status, attempts=attempts,
            ) from None

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """:meth:`request`, then the parsed JSON body (None for an empty body, e.g. 204)."""
        response = self.request(method, path, **kwargs)
        return response.json() if response.content else None

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ApiClient({redact_url(self.base_url)!r})"

    # -- one attempt ---------------------------------------------------------

    def _build(
        self, method: str, path: str, params: Mapping[str, Any] | None, json: Any,
        data: Mapping[str, Any] | None, headers: Mapping[str, str] | None,
    ) -> httpx.Request:
        request = self._client.build_request(
            method, self._url(path, params), json=json, data=data, headers=dict(headers) if headers else None,
        )
        url = request.url
        if (url.scheme, url.host, url.port) != self._origin:
            raise ValueError(
                f"refusing to send credentials to {redact_url(url)}: it is not on {redact_url(self.base_url)}"
            )
        return request

    def _url(self, path: str, params: Mapping[str, Any] | None) -> httpx.URL:
        """``path`` (relative to the base URL) with ``params``, parsed once.

        The same URL httpx makes from ``build_request(path, params=...)``, which parses it three
        times (the path, the path merged onto the base URL, the merged URL with the query): a
        fifth of our CPU per PUT. An absolute URL, or a path with its own query or fragment,
        is left to httpx (``params`` are then passed as before).
        """
        if "://" in path or "?" in path or "#" in path:
            return self._client.build_request("GET", path, params=dict(params) if params else None).url
        return httpx.URL(f"{self._prefix}{path.lstrip('/')}{self._query(params)}")

    def _query(self, params: Mapping[str, Any] | None) -> str:
        """``?`` and ``params`` encoded as httpx encodes them; "" for none. Remembered when every
        value is a string: a run sends the same few (``notifyUsers=false``) thousands of times."""
        if not params:
            return ""
        if not all(type(v) is str for v in params.values()):  # True and 1 hash alike, encode unlike
            return f"?{httpx.QueryParams(dict(params))}"
        key = tuple(params.items())
        query = self._queries.get(key)
        if query is None:
            query = f"?{httpx.QueryParams(dict(params))}"
            if len(self._queries) < 64:
                self._queries[key] = query
        return query

    def _send_once(
        self, method: str, path: str, params: Mapping[str, Any] | None, json: Any,
        data: Mapping[str, Any] | None, headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        # The redacted URL is made only when a message needs it: redacting re-parses the URL,
        # which cost as much CPU as the rest of our side of a PUT (bench/apply_speed.py).
        request = self._build(method, path, params, json, data, headers)
        if self.rate_limiter is not None:
            self.rate_limiter.acquire()
        self.request_counts[(method, request.url.path)] += 1
        started = time.monotonic()
        try:
            response = self._read_within_deadline(request, started + self.attempt_timeout)
        except httpx.TransportError as exc:
            shown = redact_url(request.url)
            # Refused, unknown host, TLS: not retried (see ConnectFailed). A connect *timeout*
            # is httpx.ConnectTimeout, not a ConnectError, and keeps its retries like the rest.
            cause = connect_cause(exc) if isinstance(exc, httpx.ConnectError) else None
            if cause is not None:
                host = f"{request.url.host}:{request.url.port or (443 if request.url.scheme == 'https' else 80)}"
                raise ConnectFailed(f"cannot connect to {host} ({method} {shown}): {cause}",
                                    method=method, url=shown, host=host, cause=cause) from None
            # str(exc) from the transport may quote the URL; say only what kind of failure it was.
            raise RetriableAPIError(f"{type(exc).__name__} on {method} {shown}", method=method, url=shown) from None
        except TimeoutError:
            shown = redact_url(request.url)
            raise RetriableAPIError(
                f"ReadTimeout on {method} {shown}: the answer did not arrive within {self.attempt_timeout:.0f}s",
                method=method, url=shown) from None
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s -> %d (%.2fs)", method, redact_url(request.url), response.status_code,
                      time.monotonic() - started)
        validate_response(response)
        return response

    def _read_within_deadline(self, request: httpx.Request, deadline: float) -> httpx.Response:
        """Send, then read the body, giving up (TimeoutError) past ``deadline``."""
        response = self._client.send(request, stream=True)
        try:
            # An auth flow may have read this body already; then read() just returns it.
            assert isinstance(response.stream, httpx.SyncByteStream)  # a sync client's
            response.stream = _DeadlineStream(response.stream, deadline)
            response.read()
        finally:
            response.close()
        # httpx's stream holds the response (BoundSyncStream(response=...)): a reference cycle
        # that only the cycle collector frees, and a pull pauses it (sync/collector.py), so every
        # page's body stayed alive to the pull's end (+168 MB peak at 1M items). The body is read:
        # a plain stream of it ends the cycle, and the response is freed when its reader is done.
        response.stream = httpx.ByteStream(response.content)
        return response

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetriableAPIError) and exc.retry_after is not None:
            return exc.retry_after
        ceiling = min(self.max_wait, self.backoff_base * 2 ** (state.attempt_number - 1))
        return ceiling * (0.5 + 0.5 * self._random())

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s; retrying in %.1fs (attempt %d of %d)",
            exc, state.upcoming_sleep, state.attempt_number + 1, self.max_attempts,
        )
