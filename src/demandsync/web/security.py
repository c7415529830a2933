"""Who may read the page and change links, and from where.

Safe by default:

- **Bind**: loopback unless told otherwise; any other address without ``[web] token``
  is a config error (exit 2) — the page shows who asked for what.
- **Host header**: on loopback only loopback names are served, so a web page
  that rebinds its own DNS name to 127.0.0.1 cannot read the page (DNS rebinding).
- **Token** (when set): the JSON API wants ``Authorization: Bearer <token>``; the
  page a login, after which a cookie holds an HMAC of the token (never the token).
- **Other origins**: a state-changing request whose ``Origin`` (or, without
  one, ``Referer``) is not this server is refused with 403. Forms also carry a
  CSRF token (double submit: a random cookie repeated in a hidden field), and
  the JSON API takes only ``application/json``, which no cross-site form can send.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request

from demandsync.errors import ConfigError

SESSION_COOKIE = "ds_session"
CSRF_COOKIE = "ds_csrf"
CSRF_FIELD = "csrf"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to listen beyond this machine without a token (exit 2)."""
    if not is_loopback(host) and not token:
        raise ConfigError([("web.token", f"--host {host} would serve the page to other machines: set [web] token "
                                         "(or DEMANDSYNC_WEB__TOKEN), or listen on 127.0.0.1")])


def session_value(token: str) -> str:
    """What the login cookie holds: proof of the token, not the token."""
    return hmac.new(token.encode(), b"demandsync-web-session-v1", hashlib.sha256).hexdigest()


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


class Guard:
    """The checks of one server; ``token`` None means no login (loopback only)."""

    def __init__(self, token: str | None) -> None:
        self.token = token
        self._session = session_value(token) if token else None

    def logged_in(self, request: Request) -> bool:
        if self._session is None:
            return True
        return hmac.compare_digest(request.cookies.get(SESSION_COOKIE, ""), self._session)

    def bearer_ok(self, request: Request) -> bool:
        if self.token is None:
            return True
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.token.encode())

    def token_matches(self, given: str) -> bool:
        return self.token is not None and hmac.compare_digest(given.encode(), self.token.encode())

    @property
    def session(self) -> str:
        assert self._session is not None
        return self._session


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site.

    Browsers send ``Origin`` on every cross-origin POST; ``Referer`` is the
    fallback. A request with neither (curl, a script) is not a browser attack.
    """
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    if origin is not None:
        if origin == "null":
            return False
        parts = urlsplit(origin)
        return parts.netloc == host and parts.scheme in ("http", "https")
    referer = request.headers.get("referer")
    if referer:
        return urlsplit(referer).netloc == host
    return True


def csrf_ok(request: Request, submitted: str | None) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and submitted is not None and hmac.compare_digest(cookie.encode(), submitted.encode())


def safe_next(target: str | None, default: str = "/") -> str:
    """Only redirect within this site (an absolute or protocol-relative URL is an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
