"""UserVoice suggestions through the Admin API v2: a suggestion is one request;
its supporters are its voters.

Every vendor fact this module relies on, with its public source. CS =
uservoice/csharp-sdk @ fdbf9a4 (UserVoice's own generated SDK; its README
points at https://developer.uservoice.com/docs/api/v2/reference/); HC = the
official help article https://help.uservoice.com/hc/en-us/articles/4404823119635.

- Base ``https://<subdomain>.uservoice.com/api/v2``, admin resources under
  ``/admin`` (CS ``ApiClient.cs`` ``BaseApiPath``; CS ``docs/SuggestionsApi.md``;
  HC curl). ``Authorization: Bearer <token>`` (CS ``ApiClient.cs``; HC), or a
  key + secret exchanged at ``POST /api/v2/oauth/token`` with
  ``grant_type=client_credentials`` (CS ``docs/OauthApi.md``, ``ApiClient.cs Login()``).
- ``GET /admin/suggestions``: ``page``, ``per_page``, filters incl.
  ``engagement_since``, ``includes`` (CS ``docs/SuggestionsApi.md``); the list
  envelope is one key per collection + ``pagination {page, total_pages}`` (CS
  ``docs/SuggestionResponsePaginated.md``, ``docs/Pagination.md``). Paged by
  page number until ``total_pages``. Suggestion ``links.created_by`` and
  ``links.parent_suggestion`` (CS ``docs/SuggestionLinks.md``).
- ``GET /admin/supporters?suggestion=<id>`` (CS ``docs/SupportersApi.md``,
  ``SupportersApi.cs`` adds the ``suggestion`` query parameter); side-loads
  only ``suggestions`` and ``users`` (CS ``docs/SupporterResponsePaginated.md``);
  a supporter is ``{id, created_at, links:{suggestion, user, created_by}}`` (CS
  ``docs/Supporter.md``, ``docs/SupporterLinks.md``). **Every supporter's
  ``links.suggestion`` is checked against the suggestion being read**: a
  server that ignored the filter would hand every suggestion every supporter,
  so a mismatch stops the source with an error instead of counting.
- Accounts: ``GET /admin/external_users?user=<id>&includes=external_accounts``
  (CS ``docs/External_usersApi.md``: filter ``user``; side-loads
  ``external_accounts``, CS ``docs/ExternalUserResponsePaginated.md``); an
  external user's ``links.external_account`` names its account (CS
  ``docs/ExternalUserLinks.md``), whose ``name`` we count (CS
  ``docs/ExternalAccount.md``). One call per distinct supporter per run,
  cached; a refusal degrades to "no account" (logged once). The old
  ``includes=crm_accounts`` is not documented and is not used.
- No Jira link is exposed on a suggestion (CS ``docs/SuggestionLinks.md``; HC
  associations list): UserVoice items link by rules/similarity only.

Counting: every supporter's user is a voter (weight 1); the creator
(``links.created_by``) is the author unless they are an admin
(``is_admin``: staff who typed the idea in). *Unconfirmed, safe default:* a
suggestion whose ``links.parent_suggestion`` is set was merged into the
parent; when the parent is in the list its supporters fold into the parent's
(each person once) and it is no request of its own.

Incremental: ``engagement_since`` = the start of the previous run (option
``since_param``; that it covers new supporters is *unconfirmed*, so a
``--full`` run now and then is the safe habit).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr, model_validator

from demandsync.connectors.apisource import (
    ApiSource,
    ApiSourceOptions,
    Endpoint,
    Incremental,
    UnexpectedShape,
    iso,
    quarantine,
)
from demandsync.connectors.base import Cursor, Record, SourceOptions
from demandsync.connectors.http import BearerAuth, FatalAPIError, OAuth2ClientCredentials, paginate
from demandsync.connectors.http.paginators import PageNumberPaginator
from demandsync.domain import Quarantined

log = logging.getLogger("demandsync.uservoice")


class UserVoiceOptions(ApiSourceOptions):
    """``[[sources]] kind = "uservoice"`` keys: ``subdomain`` (or a full ``url``) and a token or key + secret."""

    url: str = ""
    #: ``per_page`` is 1–100 (UNCONFIRMED: only a third-party tool schema says so,
    #: https://glama.ai/mcp/connectors/io.usefulapi/uservoice/tools/uservoice_list_supporters; 100 is the safe cap).
    page_size: int = Field(100, ge=1, le=100)
    subdomain: str | None = None
    token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    since_param: str = "engagement_since"
    #: Look up each supporter's account through external_users (one call per distinct supporter per run).
    accounts: bool = True

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
    """One record per suggestion, with its supporters as voters."""

    kind: ClassVar[str] = "uservoice"
    Options: ClassVar[type[SourceOptions]] = UserVoiceOptions
    default_preset: ClassVar[str | None] = "uservoice"
    vendor = "UserVoice"

    opts: UserVoiceOptions

    def auth(self, options: UserVoiceOptions) -> httpx.Auth:
        return _uservoice_auth(options)

    def check_endpoint(self) -> Endpoint:
        return Endpoint("GET", "suggestions", "suggestions", PageNumberPaginator(per_page=1))

    def pull(self, cursor: Cursor) -> Iterator[Record | Quarantined]:
        started = datetime.now(UTC)
        # version 2: one record per suggestion (was one per suggestion and supporter)
        state = Incremental.from_cursor(cursor, "since", full=self.context.full, version=2)
        self._accounts: dict[str, str | None] = {}
        self._refused_logged = False
        params: dict[str, Any] = {"includes": "users"}
        if state.start:
            params[self.opts.since_param] = iso(state.start)
        suggestions: dict[str, dict[str, Any]] = {}
        creators: dict[str, dict[str, Any]] = {}
        pages = PageNumberPaginator(per_page=self.opts.page_size, items_key="suggestions")
        for page in paginate(self.client, "GET", "suggestions", pages, params=params):
            creators.update(_by_id(page.get("users")))
            rows = page.get("suggestions")
            if not isinstance(rows, list):
                raise UnexpectedShape("UserVoice answered suggestions without a suggestions list")
            for suggestion in rows:
                if not isinstance(suggestion, dict) or suggestion.get("id") is None:
                    yield quarantine(self.context.name, "uservoice suggestion ?",
                                     "UserVoice returned a suggestion without an id", suggestion)
                    continue
                suggestions.setdefault(str(suggestion["id"]), suggestion)
        folded: dict[str, list[str]] = {sid: [sid] for sid in suggestions}
        for sid, suggestion in suggestions.items():
            parent = _link(suggestion, "parent_suggestion")
            if parent is not None and parent in folded and parent != sid:
                folded[parent].append(sid)
                del folded[sid]
        for sid, members in folded.items():
            yield self._record(suggestions[sid], members, creators)
        state.observe(started)
        self.cursor = state.cursor()
        self.read_everything = state.full

    def _record(self, suggestion: dict[str, Any], members: list[str],
                creators: Mapping[str, dict[str, Any]]) -> Record | Quarantined:
        sid = str(suggestion["id"])
        people: dict[str, dict[str, Any]] = {}
        creator_id = _link(suggestion, "created_by")
        creator = creators.get(creator_id or "", {})
        if creator_id is not None and not creator.get("is_admin"):
            people[creator_id] = self._person(creator_id, creator, "author")
        for member in members:
            pages = PageNumberPaginator(per_page=self.opts.page_size, items_key="supporters")
            for page in paginate(self.client, "GET", "supporters", pages, params={"suggestion": member,
                                                                                  "includes": "users"}):
                users = _by_id(page.get("users"))
                supporters = page.get("supporters")
                if not isinstance(supporters, list):  # not "no supporters": the shape changed under us
                    raise UnexpectedShape(f"UserVoice answered supporters?suggestion={member} without a "
                                          "supporters list; nothing was counted")
                for supporter in supporters:
                    user_id = _link(supporter, "user")
                    of = _link(supporter, "suggestion")
                    if user_id is None or of is None:
                        return quarantine(self.context.name, f"uservoice suggestion {member} supporter "
                                          f"{supporter.get('id', '?') if isinstance(supporter, dict) else '?'}",
                                          "supporter has no user or suggestion link, so this suggestion's "
                                          "supporters are unknown", supporter)
                    if of != member:
                        raise UnexpectedShape(
                            f"UserVoice answered supporters?suggestion={member} with a supporter of suggestion "
                            f"{of}: the filter was ignored, so no supporter count can be trusted; nothing was counted")
                    people[user_id] = self._person(user_id, users.get(user_id, {}), "voter")
        data = {**suggestion, "record_id": sid, "people": list(people.values()), "merged_ids": members[1:],
                "creator": creator}
        return Record(data=data, locator=f"uservoice suggestion {sid}")

    def _person(self, user_id: str, user: Mapping[str, Any], role: str) -> dict[str, Any]:
        return {"id": user_id, "email": user.get("email_address"), "name": user.get("name"),
                "account": self._account(user_id), "role": role, "weight": 1 if role == "voter" else 0}

    def _account(self, user_id: str) -> str | None:
        """The account name of a user's first external user that links one, cached; None when unknown."""
        if not self.opts.accounts:
            return None
        if user_id not in self._accounts:
            name = None
            try:
                body = self.client.request_json("GET", "external_users", params={
                    "user": user_id, "includes": "external_accounts", "per_page": 100}) or {}
            except FatalAPIError as exc:
                if not self._refused_logged:
                    log.warning("%s: UserVoice refused external_users (%s); counting supporters without accounts",
                                self.context.name, exc)
                    self._refused_logged = True
                body = {}
            accounts = _by_id(body.get("external_accounts"))
            for external in body.get("external_users") or []:
                if _link(external, "user") not in (None, user_id):
                    continue  # not this user's: the filter was ignored
                account = accounts.get(_link(external, "external_account") or "")
                if account and account.get("name"):
                    name = str(account["name"])
                    break
            self._accounts[user_id] = name
        return self._accounts[user_id]


def _link(row: Any, key: str) -> str | None:
    links = row.get("links") if isinstance(row, dict) else None
    value = links.get(key) if isinstance(links, dict) else None
    return None if value is None else str(value)


def _by_id(rows: Any) -> dict[str, dict[str, Any]]:
    return {str(r["id"]): r for r in rows or [] if isinstance(r, dict) and r.get("id") is not None}
