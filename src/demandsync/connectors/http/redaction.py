"""Keeping secrets out of logs and error messages.

Every URL that reaches a log line or an exception goes through
:func:`redact_url` first: userinfo and secret-looking query parameters become
``***``. Some APIs (and some admins' copy-pasted URLs) carry keys in the query
string, and httpx itself logs full URLs at INFO, so we also offer
:func:`quiet_http_loggers` for the CLI to call once at start-up.

A server may also *echo* a credential in its error body (a 401 page quoting the
``Authorization`` header, a 500 dumping the request). The one defence against
that is :class:`Scrubber`: built from every configured secret, it masks each in
its raw, URL-encoded, JSON-escaped and base64 forms, including the base64 of
``user:token`` that a ``Basic`` header carries. Logs, terminal errors, ``--json``
reports and everything the store keeps pass through the same instance.

>>> redact_url("https://bob:hunter2@x.io/api?api_key=abc&page=2")
'https://***@x.io/api?api_key=***&page=2'
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

import httpx

#: Query-parameter and JSON key names (compared case-insensitively) whose values are secrets.
SENSITIVE_KEYS: frozenset[str] = frozenset(
    {
        "api_key", "apikey", "key", "token", "access_token", "refresh_token", "id_token",
        "client_secret", "secret", "password", "passwd", "auth", "authorization",
        "signature", "sig", "session", "sessionid",
    }
)
MASK = "***"


def redact_url(url: str | httpx.URL, sensitive: frozenset[str] = SENSITIVE_KEYS) -> str:
    """``url`` with userinfo and the values of sensitive query parameters masked."""
    try:
        parsed = httpx.URL(str(url))
    except Exception:  # an unparsable URL is shown as nothing rather than leaked
        return "<unparsable url>"
    if parsed.userinfo:
        parsed = parsed.copy_with(username=MASK, password=None)
    if parsed.query:
        params = [(k, MASK if k.lower() in sensitive else v) for k, v in parsed.params.multi_items()]
        parsed = parsed.copy_with(params=params)
    return str(parsed).replace("%2A%2A%2A", MASK)


def redact_mapping(value: Any, sensitive: frozenset[str] = SENSITIVE_KEYS) -> Any:
    """A copy of a parsed JSON body with the values under sensitive keys masked.

    Error bodies are shown to admins; an OAuth endpoint that echoes a secret
    back must not put it on their screen.
    """
    if isinstance(value, Mapping):
        return {
            k: (MASK if isinstance(k, str) and k.lower() in sensitive else redact_mapping(v, sensitive))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_mapping(v, sensitive) for v in value]
    return value


class Scrubber:
    """Masks every form of a set of secrets in text and in JSON-like documents.

    >>> s = Scrubber(["t0k3n+/"], basic_users=["ann@x.io"])
    >>> s.text("a t0k3n+/ b t0k3n%2B%2F c " + base64.b64encode(b"ann@x.io:t0k3n+/").decode())
    'a *** b *** c ***'
    """

    def __init__(self, secrets: Iterable[str] = (), *, basic_users: Iterable[str] = ()) -> None:
        raw = {s for s in secrets if s}
        users = {u for u in basic_users if u}
        forms: set[str] = set()
        for secret in raw:
            forms |= {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
                      base64.b64encode(secret.encode()).decode()}
            for user in users:
                pair = f"{user}:{secret}".encode()
                forms |= {base64.b64encode(pair).decode(), base64.urlsafe_b64encode(pair).decode()}
        #: Longest first, so a form containing another is masked whole.
        self.forms: tuple[str, ...] = tuple(sorted(forms, key=len, reverse=True))

    def __bool__(self) -> bool:
        return bool(self.forms)

    def text(self, value: str) -> str:
        """``value`` with every secret form replaced by ``***``."""
        for form in self.forms:
            if form in value:
                value = value.replace(form, MASK)
        return value

    def doc(self, value: Any) -> Any:
        """A copy of a JSON-like document (dicts, lists, strings) with every string scrubbed."""
        if not self.forms:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(k) if isinstance(k, str) else k: self.doc(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.doc(v) for v in value]
        return value


_active = Scrubber()


def use_scrubber(scrubber: Scrubber) -> None:
    """Make ``scrubber`` the process's last line of defence (the CLI sets it once it read the config)."""
    global _active
    _active = scrubber


def scrub(value: str) -> str:
    """``value`` through the process's active :class:`Scrubber` (see :func:`use_scrubber`)."""
    return _active.text(value)


class RedactingFilter(logging.Filter):
    """Rewrites URL arguments of log records to their redacted form.

    httpx logs ``HTTP Request: GET <full url>`` at INFO. Quieting it is the
    CLI's choice, but an app or a test that turns on DEBUG must still not
    print a key, so this filter sits on the ``httpx`` logger regardless.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(a) if isinstance(a, httpx.URL) or (isinstance(a, str) and "://" in a) else a
                for a in record.args
            )
        return True


def install_redacting_filter(logger_name: str = "httpx") -> None:
    """Put one :class:`RedactingFilter` on ``logger_name`` (idempotent)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())


def quiet_http_loggers(level: int = logging.WARNING) -> None:
    """Raise httpx/httpcore loggers to ``level``: at INFO httpx prints a line per
    request. Our own ``demandsync.http`` logger logs the redacted form at DEBUG."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(level)
    install_redacting_filter()
