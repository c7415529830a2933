"""The shared HTTP layer every connector uses: one client, small auth flows,
paginators, and errors that say what to do. See each module's docstring."""

from __future__ import annotations

from demandsync.connectors.http.auth import (
    BearerAuth,
    BodyKeyAuth,
    HeaderKeyAuth,
    OAuth2ClientCredentials,
    Secret,
    basic_auth,
    reveal,
)
from demandsync.connectors.http.client import ApiClient, check_base_url
from demandsync.connectors.http.errors import (
    APIError,
    ConnectFailed,
    FatalAPIError,
    RetriableAPIError,
    RetriesExhausted,
    parse_retry_after,
    validate_response,
)
from demandsync.connectors.http.paginators import (
    CursorPaginator,
    JiraTokenPaginator,
    NextUrlPaginator,
    OffsetPaginator,
    PageRequest,
    Paginator,
    SkipPaginator,
    iter_items,
    paginate,
)
from demandsync.connectors.http.ratelimit import RateLimiter, shared_limiter
from demandsync.connectors.http.redaction import SENSITIVE_KEYS, quiet_http_loggers, redact_url

__all__ = [
    "APIError", "ApiClient", "ConnectFailed", "BearerAuth", "BodyKeyAuth", "CursorPaginator", "FatalAPIError",
    "HeaderKeyAuth", "JiraTokenPaginator", "NextUrlPaginator", "OAuth2ClientCredentials",
    "OffsetPaginator", "PageRequest", "Paginator", "RateLimiter", "RetriableAPIError", "RetriesExhausted",
    "SENSITIVE_KEYS", "Secret", "SkipPaginator", "basic_auth", "check_base_url", "iter_items",
    "paginate", "parse_retry_after", "quiet_http_loggers", "redact_url", "reveal", "shared_limiter", "validate_response",
]
