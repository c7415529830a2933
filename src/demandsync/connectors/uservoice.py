"""UserVoice suggestions and their supporters through the Admin API v2.

Calls (base ``https://<subdomain>.uservoice.com/api/v2/admin``, bearer token, or
an API key + secret exchanged at ``/api/v2/oauth/token`` by the shared OAuth flow):

- ``GET suggestions?page=&per_page=&includes=users`` (``engagement_since`` on
  incremental runs), paged by page number until ``pagination.total_pages``;
- ``GET supporters?suggestion=<id>&includes=users,crm_accounts``, same paging:
  every supporter is one requester; side-loaded users give the email and
  side-loaded CRM/external accounts the account name.

Checked (2026-10) against developer.uservoice.com ("Getting Started", token
call, side-loading with ``includes``) and UserVoice's generated SDK docs
(uservoice/csharp-sdk: ``page``, ``per_page``, ``page_token``, ``suggestion``,
``engagement_since``, ``pagination.total_pages``; supporter ``links.user``).
*Not confirmed:* which ``includes`` name yields a user's CRM account
(``crm_accounts`` is what a public script uses on ``/admin/users``), and that
``engagement_since`` covers new supporters; both are options. UserVoice's API
exposes no Jira link on a suggestion, so UserVoice items carry no explicit
epic links (linking falls to rules and similarity).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr, model_validator

from demandsync.connectors.apisource import ApiSource, ApiSourceOptions, iso, parse_time, quarantine
from demandsync.connectors.base import Cursor, Record, SourceOptions
from demandsync.connectors.http import BearerAuth, OAuth2ClientCredentials, paginate
from demandsync.connectors.http.paginators import PageNumberPaginator
from demandsync.domain import Quarantined


class UserVoiceOptions(ApiSourceOptions):
    """``[[sources]] kind = "uservoice"`` keys: ``subdomain`` (or a full ``url``) and a token or key + secret."""

    url: str = ""
    #: ``per_page`` is 1–100 (a third-party tool schema; /tmp/research/vendors.md U6).
    page_size: int = Field(100, ge=1, le=100)
    subdomain: str | None = None
    token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    supporter_includes: str = "users,crm_accounts"
    since_param: str = "engagement_since"

    @model_validator(mode="before")
    @classmethod
    def _url_from_subdomain(cls, values: Any) -> Any:
        if isinstance(values, dict) and not values.get("url"):
            if not values.get("subdomain"):
                raise ValueError("set subdomain (acme for acme.uservoice.com) or url")
            values = {**values, "url": f"https://{values['subdomain']}.uservoice.com/api/v2/admin"}
        return values

    @model_validator(mode="after")
    def _credentials(self) -> UserVoiceOptions:
        if (self.token is None) == (self.client_id is None or self.client_secret is None):
            raise ValueError("set either token, or client_id + client_secret (a trusted API key), not both")
        return self


def _uservoice_auth(options: UserVoiceOptions) -> httpx.Auth:
    """An API token as bearer, else key + secret through UserVoice's client-credentials token call."""
    if options.token is not None:
        return BearerAuth(options.token)
    assert options.client_id and options.client_secret is not None
    origin = httpx.URL(options.url.rstrip("/")).copy_with(path="/api/v2/oauth/token", query=None)
    return OAuth2ClientCredentials(str(origin), options.client_id, options.client_secret)


class UserVoiceSource(ApiSource):
    """One record per (suggestion, supporter); a suggestion nobody supports yields its creator."""

    kind: ClassVar[str] = "uservoice"
    Options: ClassVar[type[SourceOptions]] = UserVoiceOptions
    default_preset: ClassVar[str | None] = "uservoice"

    opts: UserVoiceOptions

    def auth(self, options: UserVoiceOptions) -> httpx.Auth:
        return _uservoice_auth(options)

    def pull(self, cursor: Cursor) -> Iterator[Record | Quarantined]:
        started = datetime.now(UTC)
        since = None if self.context.full else parse_time((cursor or {}).get("since"))
        params: dict[str, Any] = {"includes": "users"}
        if since:
            params[self.opts.since_param] = iso(since)
        pages = PageNumberPaginator(per_page=self.opts.page_size, items_key="suggestions")
        for page in paginate(self.client, "GET", "suggestions", pages, params=params):
            creators = _by_id(page.get("users"))
            for suggestion in page.get("suggestions") or []:
                if not isinstance(suggestion, dict) or suggestion.get("id") is None:
                    yield quarantine(self.context.name, "uservoice suggestion ?", "UserVoice returned a suggestion without an id", suggestion)
                    continue
                yield from self._records(suggestion, creators)
        self.cursor = {"since": iso(started)}

    def _records(self, suggestion: dict[str, Any], creators: Mapping[str, dict[str, Any]]) -> Iterator[Record | Quarantined]:
        sid = str(suggestion["id"])
        seen: set[str] = set()
        pages = PageNumberPaginator(per_page=self.opts.page_size, items_key="supporters")
        params = {"suggestion": sid, "includes": self.opts.supporter_includes}
        for page in paginate(self.client, "GET", "supporters", pages, params=params):
            users, accounts = _by_id(page.get("users")), _accounts(page)
            for supporter in page.get("supporters") or []:
                user_id = ((supporter.get("links") or {}).get("user") if isinstance(supporter, dict) else None)
                if user_id is None:
                    yield quarantine(self.context.name, f"uservoice suggestion {sid} supporter "
                                     f"{supporter.get('id', '?') if isinstance(supporter, dict) else '?'}",
                                     "supporter has no user link", supporter)
                    continue
                if str(user_id) in seen:
                    continue
                seen.add(str(user_id))
                user = users.get(str(user_id), {"id": user_id})
                yield self._record(suggestion, user, _account_of(user, accounts), supporter.get("created_at"))
        if not seen:
            creator_id = (suggestion.get("links") or {}).get("created_by")
            if creator_id is not None:
                yield self._record(suggestion, creators.get(str(creator_id), {"id": creator_id}), None,
                                   suggestion.get("created_at"))

    def _record(self, suggestion: Mapping[str, Any], user: Mapping[str, Any], account: str | None, when: Any) -> Record:
        data = {**suggestion, "record_id": f"{suggestion['id']}:{user.get('id')}", "user": dict(user),
                "account_name": account, "requested_at": when or suggestion.get("created_at")}
        return Record(data=data, locator=f"uservoice suggestion {suggestion['id']} supporter {user.get('id')}")


def _by_id(rows: Any) -> dict[str, dict[str, Any]]:
    return {str(r["id"]): r for r in rows or [] if isinstance(r, dict) and r.get("id") is not None}


def _accounts(page: Mapping[str, Any]) -> dict[str, str]:
    """Account id -> name from whichever account side-load came (CRM or external accounts)."""
    names: dict[str, str] = {}
    for key in ("crm_accounts", "external_accounts"):
        for row in page.get(key) or []:
            if isinstance(row, dict) and row.get("id") is not None and row.get("name"):
                names[f"{key}:{row['id']}"] = str(row["name"])
    for row in page.get("external_users") or []:  # external user -> its external account
        acc = (row.get("links") or {}).get("external_account") if isinstance(row, dict) else None
        if acc is not None and f"external_accounts:{acc}" in names:
            names[f"external_users:{row['id']}"] = names[f"external_accounts:{acc}"]
    return names


def _account_of(user: Mapping[str, Any], accounts: Mapping[str, str]) -> str | None:
    links = user.get("links") if isinstance(user.get("links"), dict) else {}
    for key in ("crm_account", "crm_accounts", "external_account", "external_accounts", "external_users"):
        ids = links.get(key)
        for one in ids if isinstance(ids, list) else [ids]:
            kind = "external_users" if key == "external_users" else ("crm_accounts" if key.startswith("crm") else "external_accounts")
            if one is not None and f"{kind}:{one}" in accounts:
                return accounts[f"{kind}:{one}"]
    return None
