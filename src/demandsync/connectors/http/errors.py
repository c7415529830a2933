"""What can go wrong with an API call, decided in one place.

:func:`validate_response` is the only code that looks at a status code and
decides: fine, try again (:class:`RetriableAPIError`), or give up now
(:class:`FatalAPIError`). Connectors catch these types; nobody else guesses
from numbers. Every message carries the method and the *redacted* URL, never
a header, a request body or a secret.
"""

from __future__ import annotations

import email.utils
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

import httpx

from demandsync.connectors.http.redaction import redact_mapping, redact_url
from demandsync.errors import OutsideError

#: Statuses that mean "not now": throttled, or a gateway/overload blip.
RETRIABLE_STATUSES: frozenset[int] = frozenset({429, 502, 503, 504})

_HINTS = {
    401: "the credentials were refused; check the email/token or PAT in the config",
    403: "the account lacks a permission this call needs",
    404: "not found, or the account is not allowed to see it",
}


class APIError(OutsideError):
    """Base of every HTTP-layer failure. ``url`` is already redacted."""

    def __init__(self, message: str, *, method: str, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.status = status


class RetriableAPIError(APIError):
    """This attempt failed but a later one may succeed (429, 502-504, timeouts)."""

    def __init__(
        self, message: str, *, method: str, url: str, status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url, status=status)
        #: Seconds the server asked us to wait (``Retry-After``), if it said.
        self.retry_after = retry_after


class FatalAPIError(APIError):
    """The server refused the request; repeating it will not help."""

    def __init__(self, message: str, *, method: str, url: str, status: int, body: Any = None) -> None:
        super().__init__(message, method=method, url=url, status=status)
        #: The parsed JSON error body (secret-looking keys masked), or its text, or None.
        self.body = body


class RetriesExhausted(APIError):
    """Retrying did not help within the attempt and wait budgets."""

    def __init__(self, message: str, *, method: str, url: str, status: int | None, attempts: int) -> None:
        super().__init__(message, method=method, url=url, status=status)
        self.attempts = attempts


class ConnectFailed(APIError):
    """The server could not be reached at all: connection refused, unknown host, TLS failure.

    Not retried: a wrong port, a DNS typo or a stopped server does not heal in the
    seconds retrying would wait, and six attempts used to cost 19-28 s before a
    message with no cause. ``cause`` is one of the short phrases of
    :func:`connect_cause`; ``host`` is the ``host:port`` tried. Whoever knows which
    config key holds this URL adds it (``jira.url``, a source's ``url``).
    """

    def __init__(self, message: str, *, method: str, url: str, host: str, cause: str) -> None:
        super().__init__(message, method=method, url=url)
        self.host = host
        self.cause = cause

    def naming(self, key: str) -> ConnectFailed:
        """The same failure, its message naming the config key that holds the URL (``jira.url``)."""
        return ConnectFailed(f"{self}; check {key}", method=self.method, url=self.url, host=self.host,
                             cause=self.cause)


def connect_cause(exc: BaseException) -> str | None:
    """A short, secret-free description of why a connection could not be made, when it is
    one that retrying cannot fix (refused, unknown host, TLS); None for anything else
    (unreachable network, a DNS server that did not answer: those keep their retries).

    Walks the exception chain (httpx wraps httpcore wraps the socket error) for the
    underlying OS or TLS error; never quotes the URL.

    >>> connect_cause(ConnectionRefusedError(111, "Connection refused"))
    'connection refused'
    >>> connect_cause(socket.gaierror(-2, "Name or service not known"))
    'unknown host (DNS lookup failed: Name or service not known)'
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, socket.gaierror):
            if current.errno == socket.EAI_AGAIN:  # "temporary failure in name resolution"
                return None
            return f"unknown host (DNS lookup failed: {current.strerror or current})"
        if isinstance(current, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({current.verify_message or current.reason})"
        if isinstance(current, ssl.SSLError):
            return f"TLS handshake failed ({current.reason or current})"
        current = current.__cause__ or current.__context__
    text = str(exc)
    for needle, phrase in (("refused", "connection refused"),
                           ("Name or service not known", "unknown host (DNS lookup failed)"),
                           ("nodename nor servname", "unknown host (DNS lookup failed)"),
                           ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted"),
                           ("SSL", "TLS handshake failed")):
        if needle in text:
            return phrase
    return None


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date).

    >>> parse_retry_after("7")
    7.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: 1445412470.0)
    10.0
    >>> parse_retry_after("soon") is None
    True
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now())


def response_body(response: httpx.Response) -> Any:
    """The parsed JSON body with secrets masked, else the first 500 characters of text."""
    try:
        return redact_mapping(response.json())
    except ValueError:
        text = response.text
        return text[:500] if text else None


def describe_body(body: Any) -> str:
    """A one-line summary of an error body (Jira's ``errorMessages``/``errors``, a JSON:API
    ``errors`` list of ``{detail|title|message}``, OAuth's ``error_description``, Canny's
    ``error``), for exception text."""
    if isinstance(body, dict):
        parts: list[str] = []
        for key in ("errorMessages", "messages"):
            if isinstance(body.get(key), list):
                parts += [str(m) for m in body[key]]
        if isinstance(body.get("errors"), dict):
            parts += [f"{k}: {v}" for k, v in body["errors"].items()]
        elif isinstance(body.get("errors"), list):
            for e in body["errors"]:
                text = next((e[k] for k in ("detail", "title", "message") if isinstance(e, dict)
                             and isinstance(e.get(k), str)), e if isinstance(e, str) else None)
                if text:
                    parts.append(text)
        for key in ("error_description", "error", "message", "detail"):
            if isinstance(body.get(key), str) and body[key] not in parts:
                parts.append(body[key])
        return "; ".join(parts)[:500]
    if isinstance(body, str):
        return " ".join(body.split())[:200]
    return ""


def validate_response(response: httpx.Response) -> None:
    """Raise unless ``response`` is a success (2xx).

    429/502/503/504 raise :class:`RetriableAPIError` carrying ``Retry-After``;
    anything else non-2xx raises :class:`FatalAPIError` with the parsed body.
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    method = response.request.method
    url = redact_url(response.request.url)
    if status in RETRIABLE_STATUSES:
        raise RetriableAPIError(
            f"HTTP {status} from {method} {url}", method=method, url=url, status=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    body = response_body(response)
    detail = "; ".join(d for d in (describe_body(body), _HINTS.get(status, "")) if d)
    detail = detail or response.reason_phrase or "request refused"
    raise FatalAPIError(
        f"HTTP {status} from {method} {url}: {detail}", method=method, url=url, status=status, body=body,
    )
