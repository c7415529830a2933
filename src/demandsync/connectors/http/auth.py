"""How each API proves who we are, as small ``httpx.Auth`` flows.

An auth flow is a generator: it receives the outgoing request, may yield other
requests first (to fetch a token), yields the request with credentials added,
and may look at the response to retry once (``response = yield request``).
Connectors pass an auth object to :class:`~demandsync.connectors.http.ApiClient`
and never touch a secret again. Secrets are kept as ``SecretStr`` so a stray
``repr`` prints stars.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator
from urllib.parse import parse_qsl, urlencode

import httpx
from pydantic import SecretStr

from demandsync.connectors.http.errors import (
    RETRIABLE_STATUSES,
    FatalAPIError,
    RetriableAPIError,
    describe_body,
    response_body,
)
from demandsync.connectors.http.redaction import redact_url

Secret = SecretStr | str


def reveal(secret: Secret) -> str:
    """The plain value of a secret, for the one line that puts it on the wire."""
    return secret.get_secret_value() if isinstance(secret, SecretStr) else secret


def _secret(secret: Secret) -> SecretStr:
    return secret if isinstance(secret, SecretStr) else SecretStr(secret)


def basic_auth(username: str, password: Secret) -> httpx.BasicAuth:
    """Jira Cloud: account email + API token."""
    return httpx.BasicAuth(username, reveal(password))


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` (Jira Data Center PAT, Productboard, Pendo-style tokens)."""

    def __init__(self, token: Secret) -> None:
        self._token = _secret(token)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {reveal(self._token)}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(token='**********')"


class HeaderKeyAuth(httpx.Auth):
    """A key in a named header (Pendo's ``x-pendo-integration-key``)."""

    def __init__(self, header: str, key: Secret) -> None:
        self.header = header
        self._key = _secret(key)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self.header] = reveal(self._key)
        yield request

    def __repr__(self) -> str:
        return f"HeaderKeyAuth(header={self.header!r}, key='**********')"


class BodyKeyAuth(httpx.Auth):
    """Put the key into the request *body* (Canny: ``apiKey`` in every POST).

    Works for form-encoded and JSON bodies; an empty body becomes a JSON object
    holding just the key. A query string is never used: URLs end up in logs.
    """

    def __init__(self, key: Secret, field: str = "apiKey") -> None:
        self.field = field
        self._key = _secret(key)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if request.method in ("GET", "HEAD"):
            raise ValueError(f"{self.field} goes in a request body; {request.method} has none")
        content = request.read()
        ctype = request.headers.get("Content-Type", "")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("content-length", "content-type")}
        if ctype.startswith("application/x-www-form-urlencoded"):
            pairs = parse_qsl(content.decode(), keep_blank_values=True) + [(self.field, reveal(self._key))]
            yield httpx.Request(request.method, request.url, headers={**headers, "Content-Type": ctype},
                                content=urlencode(pairs).encode(), extensions=request.extensions)
            return
        body = json.loads(content) if content else {}
        if not isinstance(body, dict):
            raise ValueError(f"cannot add {self.field} to a JSON body that is not an object")
        body[self.field] = reveal(self._key)
        yield httpx.Request(request.method, request.url, headers=headers, json=body, extensions=request.extensions)

    def __repr__(self) -> str:
        return f"BodyKeyAuth(field={self.field!r}, key='**********')"


class OAuth2ClientCredentials(httpx.Auth):
    """OAuth 2 client-credentials grant (Hotjar).

    Fetches a token from ``token_url`` (form-encoded ``grant_type``,
    ``client_id``, ``client_secret``), caches it, fetches a new one ``leeway``
    seconds before ``expires_in`` runs out, and once more if the API answers
    401 anyway (revoked or clock-skewed token). Not shared across threads.
    """

    requires_response_body = True

    def __init__(
        self, token_url: str, client_id: str, client_secret: Secret, *,
        scope: str | None = None, leeway: float = 60.0, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = _secret(client_secret)
        self.scope = scope
        self.leeway = leeway
        self._clock = clock
        self._token: SecretStr | None = None
        self._expires_at = 0.0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self._token is None or self._clock() >= self._expires_at - self.leeway:
            self._store((yield self._token_request()))
        response = yield self._authorised(request)
        if response.status_code == 401:
            self._store((yield self._token_request()))
            yield self._authorised(request)

    def _authorised(self, request: httpx.Request) -> httpx.Request:
        assert self._token is not None
        request.headers["Authorization"] = f"Bearer {reveal(self._token)}"
        return request

    def _token_request(self) -> httpx.Request:
        form = {"grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": reveal(self._client_secret)}
        if self.scope:
            form["scope"] = self.scope
        return httpx.Request("POST", self.token_url, data=form, headers={"Accept": "application/json"})

    def _store(self, response: httpx.Response) -> None:
        url = redact_url(self.token_url)
        status = response.status_code
        if status in RETRIABLE_STATUSES:
            raise RetriableAPIError(f"HTTP {status} from token endpoint POST {url}",
                                    method="POST", url=url, status=status)
        try:
            payload = response.json()
        except ValueError:
            payload = None
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if status != 200 or not isinstance(token, str) or not token:
            body = response_body(response)
            raise FatalAPIError(
                f"OAuth token request POST {url} failed: HTTP {status}: "
                f"{describe_body(body) or 'no access_token in the answer'}",
                method="POST", url=url, status=status, body=body,
            )
        assert isinstance(payload, dict)
        expires_in = payload.get("expires_in")
        self._token = SecretStr(token)
        self._expires_at = self._clock() + (float(expires_in) if isinstance(expires_in, (int, float)) else 3600.0)

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentials(token_url={redact_url(self.token_url)!r}, client_id={self.client_id!r})"
