"""Jira: the tracker demand is written to, and a source feedback can come from.

Cloud speaks REST v3 (email + API token, ``POST /rest/api/3/search/jql`` paged
by ``nextPageToken``, ADF rich text); Data Center speaks REST v2 (PAT as a
bearer token, ``POST /rest/api/2/search`` paged by ``startAt``, wiki-markup
strings). :class:`JiraTracker` hides the difference; everything else
(retries, ``Retry-After``, redaction) is the shared HTTP layer's job.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timezone
from typing import Any, ClassVar, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from demandsync.connectors.adf import adf_to_text
from demandsync.connectors.apisource import parse_time
from demandsync.connectors.base import (
    Cursor,
    FieldError,
    Record,
    Source,
    SourceContext,
    SourceOptions,
    Tracker,
    TrackerField,
    WriteRejected,
)
from demandsync.connectors.http import (
    ApiClient,
    BearerAuth,
    FatalAPIError,
    JiraTokenPaginator,
    OffsetPaginator,
    Secret,
    basic_auth,
    check_base_url,
    iter_items,
)
from demandsync.connectors.http.errors import describe_body
from demandsync.domain import Epic, Quarantined

log = logging.getLogger("demandsync.jira")

Deployment = Literal["cloud", "datacenter"]
#: Custom field type of Jira Software's "Epic Link" (Data Center, and company-managed Cloud before 2024).
EPIC_LINK_TYPE = "com.pyxis.greenhopper.jira:gh-epic-link"

#: What an Epic needs besides the target fields.
EPIC_FIELDS = ("summary", "description", "labels", "status", "project", "issuetype", "parent")
#: What a feedback issue needs.
SOURCE_FIELDS = ("summary", "description", "reporter", "created", "updated", "labels", "parent", "issuelinks")
#: Jira's 400 wording when a field is missing from the edit screen (Cloud and DC).
_NOT_ON_SCREEN = re.compile(r"not on the appropriate screen|cannot be set", re.I)


# -- field resolution ----------------------------------------------------------


class FieldLookupError(LookupError):
    """A field named in the config cannot be pinned to one Jira field."""


class UnknownFieldError(FieldLookupError):
    pass


class AmbiguousFieldError(FieldLookupError):
    pass


def resolve_field(ref: str, fields: Sequence[TrackerField]) -> TrackerField:
    """The field ``ref`` names: an id exactly, else a unique name (exact case
    first, then ignoring case).

    Admins write names ("Customer requests"), Jira wants ids
    (``customfield_10050``). Two fields may share a name, so an ambiguous name
    is refused with both ids rather than guessed.
    """
    ref = ref.strip()
    for f in fields:
        if f.id == ref:
            return f
    for matches in (
        [f for f in fields if f.id.casefold() == ref.casefold()],
        [f for f in fields if f.name == ref],
        [f for f in fields if f.name.casefold() == ref.casefold()],
    ):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            listed = ", ".join(f"{f.id} ({f.type or 'no type'}{', ' + f.custom_type.rsplit(':', 1)[-1] if f.custom_type else ''})" for f in matches)
            raise AmbiguousFieldError(
                f"Jira has {len(matches)} fields named {ref!r}: {listed}. "
                f"Use the id instead of the name in the config, e.g. {matches[0].id!r}."
            )
    by_folded = {f.name.casefold(): f for f in fields}
    close = difflib.get_close_matches(ref.casefold(), list(by_folded), n=5, cutoff=0.6)
    hint = (
        "; did you mean " + ", ".join(f"{by_folded[c].name!r} ({by_folded[c].id})" for c in close) + "?"
        if close
        else "; check the name in Jira settings → Issues → Custom fields, and that the account can see the field"
    )
    raise UnknownFieldError(f"no Jira field has the id or name {ref!r}{hint}")


# -- the tracker ----------------------------------------------------------------


def deployment_of(server_info: Mapping[str, Any]) -> Deployment:
    """``"cloud"`` for ``deploymentType: "Cloud"``; ``"datacenter"`` for "Server", "DataCenter"
    or no deploymentType at all (old Server releases do not send it; Cloud always does).

    >>> deployment_of({"deploymentType": "Cloud"}), deployment_of({"deploymentType": "DataCenter"})
    ('cloud', 'datacenter')
    """
    kind = str(server_info.get("deploymentType") or "").strip().lower()
    return "cloud" if kind == "cloud" else "datacenter"


def _jira_client(
    url: str, *, email: str | None, api_token: Secret | None, pat: Secret | None,
    deployment: Deployment | None, connect_timeout: float, read_timeout: float,
    allow_insecure_http: bool, **client_kwargs: Any,
) -> tuple[ApiClient, Deployment]:
    """An ApiClient with the right auth, and whether it talks to Cloud or Data Center."""
    auth: httpx.Auth
    if pat is not None and (email or api_token is not None):
        raise ValueError("give either email + api_token (Jira Cloud) or pat (Data Center), not both")
    if pat is not None:
        auth, guessed = BearerAuth(pat), "datacenter"
    elif email and api_token is not None:
        auth, guessed = basic_auth(email, api_token), "cloud"
    else:
        raise ValueError("Jira needs email + api_token (Cloud) or pat (Data Center)")
    client = ApiClient(
        url.rstrip("/"), auth=auth, connect_timeout=connect_timeout, read_timeout=read_timeout,
        allow_insecure_http=allow_insecure_http, **client_kwargs,
    )
    return client, deployment or guessed  # type: ignore[return-value]


class JiraTracker(Tracker):
    """Reads epics from Jira and writes demand fields onto them.

    >>> tracker = JiraTracker("https://acme.atlassian.net", email="ops@acme.com", api_token="…")  # doctest: +SKIP
    >>> for epic in tracker.epics("project = PROD AND issuetype = Epic", ["customfield_10050"]):  # doctest: +SKIP
    ...     print(epic.key, epic.values)
    """

    def __init__(
        self,
        url: str,
        *,
        email: str | None = None,
        api_token: Secret | None = None,
        pat: Secret | None = None,
        deployment: Deployment | Literal["auto"] | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        allow_insecure_http: bool = False,
        page_size: int = 100,
        notify_users: bool = False,
        **client_kwargs: Any,
    ) -> None:
        # None: Cloud for email + API token, Data Center for a PAT. "auto": ask
        # serverInfo on first use (for Data Center sites that take basic auth).
        self.client, guessed = _jira_client(
            url, email=email, api_token=api_token, pat=pat,
            deployment=None if deployment == "auto" else deployment,
            connect_timeout=connect_timeout, read_timeout=read_timeout,
            allow_insecure_http=allow_insecure_http, **client_kwargs,
        )
        self._deployment: Deployment | None = None if deployment == "auto" else guessed
        self.url = str(self.client.base_url).rstrip("/")
        self.page_size = page_size
        #: Whether writes ask Jira not to e-mail watchers; False when the config
        #: wants notifications, or once Jira refused ``notifyUsers=false`` for this account.
        self.quiet_writes = not notify_users
        self._field_names: dict[str, str] | None = None

    # deployment

    @property
    def deployment(self) -> Deployment:
        """``"cloud"`` (REST v3, ADF) or ``"datacenter"`` (REST v2, wiki markup); detected on first use
        when the tracker was made with ``deployment="auto"``."""
        if self._deployment is None:
            self.detect_deployment()
        assert self._deployment is not None
        return self._deployment

    @deployment.setter
    def deployment(self, value: Deployment) -> None:
        self._deployment = value

    @property
    def api(self) -> str:
        return "/rest/api/3" if self.deployment == "cloud" else "/rest/api/2"

    def detect_deployment(self) -> Deployment:
        """Ask Jira what it is (``serverInfo.deploymentType``) and talk accordingly from now on.

        ``/rest/api/2/serverInfo`` answers on Cloud and Data Center alike; v3 is
        tried when a proxy or test double only serves v3.
        """
        info: dict[str, Any] = {}
        for version in (2, 3):
            try:
                info = self.client.request_json("GET", f"/rest/api/{version}/serverInfo") or {}
                break
            except FatalAPIError as exc:
                if exc.status != 404 or version == 3:
                    raise
        self._deployment = deployment_of(info)
        log.debug("Jira at %s is %s (deploymentType %r)", self.url, self._deployment, info.get("deploymentType"))
        return self._deployment

    # reads

    def fields(self) -> list[TrackerField]:
        raw = self.client.request_json("GET", f"{self.api}/field") or []
        result = []
        for f in raw:
            schema = f.get("schema") or {}
            result.append(TrackerField(
                id=str(f["id"]), name=str(f.get("name", f["id"])), type=schema.get("type", "") or "",
                custom=bool(f.get("custom", False)), items=schema.get("items", "") or "",
                custom_type=schema.get("custom", "") or "",
            ))
        self._field_names = {f.id: f.name for f in result}
        return result

    def search(self, jql: str, fields: Sequence[str]) -> Iterator[dict[str, Any]]:
        """Every issue ``jql`` selects, with ``fields``, page by page as the caller consumes them."""
        body: dict[str, Any] = {"jql": jql, "fields": list(dict.fromkeys(fields))}
        if self.deployment == "cloud":
            body["maxResults"] = self.page_size
            yield from iter_items(self.client, "POST", f"{self.api}/search/jql", JiraTokenPaginator(),
                                  items_key="issues", json=body)
        else:
            paginator = OffsetPaginator(items_key="issues", page_size=self.page_size, place="json")
            yield from iter_items(self.client, "POST", f"{self.api}/search", paginator, items_key="issues", json=body)

    def epics(self, jql: str, value_fields: Sequence[str]) -> Iterator[Epic]:
        for issue in self.search(jql, [*EPIC_FIELDS, *value_fields]):
            f = issue.get("fields") or {}
            yield Epic(
                key=str(issue["key"]),
                id=str(issue.get("id", "")),
                summary=f.get("summary") or "",
                description=adf_to_text(f.get("description")),
                labels=list(f.get("labels") or []),
                status_category=((f.get("status") or {}).get("statusCategory") or {}).get("key"),
                project=(f.get("project") or {}).get("key"),
                values={fid: f.get(fid) for fid in value_fields},
            )

    def editable_fields(self, key: str) -> set[str]:
        """Ids of the fields the account may set on ``key`` (its edit screen), for ``demandsync check``."""
        meta = self.client.request_json("GET", f"{self.api}/issue/{quote(key)}/editmeta") or {}
        return set((meta.get("fields") or {}).keys())

    def myself(self) -> dict[str, Any]:
        return self.client.request_json("GET", f"{self.api}/myself") or {}

    def server_info(self) -> dict[str, Any]:
        return self.client.request_json("GET", f"{self.api}/serverInfo") or {}

    def issue(self, key: str, fields: Sequence[str]) -> dict[str, Any]:
        """One issue with ``fields`` (``GET …/issue/{key}?fields=…``)."""
        params = {"fields": ",".join(dict.fromkeys(fields))}
        return self.client.request_json("GET", f"{self.api}/issue/{quote(key)}", params=params) or {}

    def editable_field_names(self, key: str) -> dict[str, str]:
        """``field id -> name`` of every field on ``key``'s edit screen (team-managed projects have
        their own fields, so this is how a figure's field is found per project)."""
        meta = self.client.request_json("GET", f"{self.api}/issue/{quote(key)}/editmeta") or {}
        return {fid: str((f or {}).get("name") or fid) for fid, f in (meta.get("fields") or {}).items()}

    def epic_link_field(self) -> str | None:
        """Id of the "Epic Link" custom field (Data Center links an epic's children through it), if any."""
        for f in self.fields():
            if f.custom_type == EPIC_LINK_TYPE:
                return f.id
        return None

    # comments (the managed summary; bodies are ADF dicts on Cloud, wiki-markup strings on Data Center)

    def comments(self, key: str) -> Iterator[dict[str, Any]]:
        """Every comment of ``key``, oldest first, paged by ``startAt``/``total``."""
        paginator = OffsetPaginator(items_key="comments", page_size=self.page_size, place="params")
        yield from iter_items(self.client, "GET", f"{self.api}/issue/{quote(key)}/comment", paginator,
                              items_key="comments", params={"orderBy": "created"})

    def add_comment(self, key: str, body: dict[str, Any] | str) -> dict[str, Any]:
        """Add a comment; returns Jira's ``Comment`` (with its ``id``)."""
        return self.client.request_json(
            "POST", f"{self.api}/issue/{quote(key)}/comment", json={"body": body}) or {}

    def update_comment(self, key: str, comment_id: str, body: dict[str, Any] | str) -> dict[str, Any]:
        """Replace a comment's body in place. Cloud is asked not to notify watchers."""
        params = {"notifyUsers": "false"} if self.deployment == "cloud" and self.quiet_writes else None
        return self.client.request_json(
            "PUT", f"{self.api}/issue/{quote(key)}/comment/{quote(str(comment_id))}", params=params,
            json={"body": body}) or {}

    # writes

    def update(self, key: str, values: Mapping[str, Any]) -> None:
        params = {"notifyUsers": "false"} if self.quiet_writes else None
        try:
            self.client.request("PUT", f"{self.api}/issue/{quote(key)}", params=params, json={"fields": dict(values)})
        except FatalAPIError as exc:
            if exc.status == 403 and params and "notif" in describe_body(exc.body).lower():
                self.quiet_writes = False
                log.warning(
                    "Jira refused notifyUsers=false (it needs Administer Jira or project admin); "
                    "demand updates from now on will notify the epics' watchers"
                )
                self.update(key, values)
                return
            if exc.status == 401:
                raise
            raise self._rejected(key, values, exc) from None

    def close(self) -> None:
        self.client.close()

    # helpers

    def _field_name(self, fid: str) -> str:
        if self._field_names is None:
            try:
                self.fields()
            except Exception:  # naming is a nicety; the error message must still be built
                self._field_names = {}
        return (self._field_names or {}).get(fid, fid)

    def _rejected(self, key: str, values: Mapping[str, Any], exc: FatalAPIError) -> WriteRejected:
        body = exc.body if isinstance(exc.body, dict) else {}
        errors: list[FieldError] = []
        if exc.status == 404:
            errors.append(FieldError("issue", f"{key} does not exist, or the Jira account may not browse it"))
        elif exc.status == 403:
            errors.append(FieldError("issue", (
                f"the Jira account may not edit {key}: give it the Edit Issues permission in that project"
                + (f" (Jira said: {describe_body(body)})" if describe_body(body) else "")
            )))
        for fid, message in (body.get("errors") or {}).items():
            errors.append(FieldError(fid, self._explain(key, fid, str(message), values)))
        if exc.status not in (403, 404):
            errors += [FieldError("issue", str(m)) for m in body.get("errorMessages") or []]
        if not errors:
            errors.append(FieldError("issue", f"Jira refused the write: {describe_body(exc.body) or f'HTTP {exc.status}'}"))
        return WriteRejected(key, errors, exc.status or 0)

    def _explain(self, key: str, fid: str, message: str, values: Mapping[str, Any]) -> str:
        name = self._field_name(fid)
        label = f"{name!r} ({fid})" if name != fid else fid
        if _NOT_ON_SCREEN.search(message):
            return (
                f"not on the edit screen of {key}'s issue type — add {label} to the Edit screen of the "
                f"project's Epic issue type, or remove it from [jira.fields] (Jira said: {message})"
            )
        shown = repr(values.get(fid))
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return f"Jira refused the value {shown} for {label}: {message}"


# -- Jira as a source -------------------------------------------------------------

_CURSOR_FORMAT = "%Y-%m-%d %H:%M"
_CURSOR_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$")
_ORDER_BY = re.compile(r"\border\s+by\b", re.I)


def split_order_by(jql: str) -> tuple[str, str]:
    """``(condition, "ORDER BY …")`` of a JQL query; the ORDER BY inside a quoted value does not count.

    >>> split_order_by('project = FB AND summary ~ "order by" ORDER BY created DESC')
    ('project = FB AND summary ~ "order by"', 'ORDER BY created DESC')
    """
    quote_char: str | None = None
    i = 0
    unquoted: list[int] = []  # positions outside quotes
    while i < len(jql):
        c = jql[i]
        if quote_char:
            if c == "\\":
                i += 2
                continue
            if c == quote_char:
                quote_char = None
        elif c in "\"'":
            quote_char = c
        else:
            unquoted.append(i)
        i += 1
    outside = set(unquoted)
    for m in reversed(list(_ORDER_BY.finditer(jql))):
        if m.start() in outside:
            return jql[: m.start()].strip(), "ORDER BY" + jql[m.end():].rstrip()
    return jql.strip(), ""


def incremental_jql(jql: str, since: str | None) -> str:
    """``jql`` restricted to issues updated at or after ``since`` ('yyyy-MM-dd HH:mm').

    >>> incremental_jql("project = FB OR labels = feedback ORDER BY key", "2024-05-01 09:30")
    '(project = FB OR labels = feedback) AND updated >= "2024-05-01 09:30" ORDER BY key'
    """
    if not since:
        return jql
    if not _CURSOR_RE.match(since):
        raise ValueError(f"cursor value {since!r} is not 'yyyy-MM-dd HH:mm'")
    condition, order = split_order_by(jql)
    clause = f'updated >= "{since}"'
    where = f"({condition}) AND {clause}" if condition else clause
    return f"{where} {order}".strip()


def _is_epic_level(issue: Mapping[str, Any]) -> bool:
    """False only when Jira says the issue sits below epic level (a sub-task's
    parent is a story). Data Center carries no hierarchy level: assume yes and
    let the linker check the key against its epics."""
    level = ((issue.get("fields") or {}).get("issuetype") or {}).get("hierarchyLevel")
    return level is None or level == 1


def epic_keys(fields: Mapping[str, Any], epic_link_field: str | None = None) -> list[str]:
    """Jira keys a feedback issue points at explicitly: its parent, its Epic
    Link (Data Center), and every issue it links to, parent first, no repeats."""
    keys: list[str] = []
    parent = fields.get("parent")
    if isinstance(parent, dict) and parent.get("key") and _is_epic_level(parent):
        keys.append(str(parent["key"]))
    if epic_link_field and isinstance(fields.get(epic_link_field), str):
        keys.append(fields[epic_link_field])
    for link in fields.get("issuelinks") or []:
        for side in ("outwardIssue", "inwardIssue"):
            other = link.get(side) if isinstance(link, dict) else None
            if isinstance(other, dict) and other.get("key") and _is_epic_level(other):
                keys.append(str(other["key"]))
    return list(dict.fromkeys(keys))


def organization_names(value: Any) -> list[str]:
    """Names from a JSM Organizations field (``[{"id", "name"}]``), a select
    option (``{"value"}``) or plain text."""
    items = value if isinstance(value, list) else [value]
    names = []
    for item in items:
        if isinstance(item, dict):
            item = item.get("name") or item.get("value")
        if isinstance(item, str) and item.strip():
            names.append(item.strip())
    return names


class JiraSourceOptions(SourceOptions):
    """``[[sources]] kind = "jira"`` keys."""

    url: str
    jql: str = Field(min_length=1)
    email: str | None = None
    api_token: SecretStr | None = None
    pat: SecretStr | None = None
    deployment: Deployment | None = None
    allow_insecure_http: bool = False
    page_size: int = Field(100, ge=1, le=5000)
    #: Field holding the customer's organisation (JSM "Organizations", a select, or text).
    organization_field: str | None = None
    #: Data Center / company-managed "Epic Link" custom field, e.g. customfield_10014.
    epic_link_field: str | None = None

    @model_validator(mode="after")
    def _check(self) -> JiraSourceOptions:
        check_base_url(self.url, allow_insecure_http=self.allow_insecure_http)
        has_cloud = bool(self.email) and self.api_token is not None
        if self.pat is not None and (self.email or self.api_token is not None):
            raise ValueError("set either email + api_token (Jira Cloud) or pat (Data Center), not both")
        if self.pat is None and not has_cloud:
            raise ValueError("set email + api_token (Jira Cloud) or pat (Data Center)")
        return self

    @field_validator("organization_field", "epic_link_field")
    @classmethod
    def _field_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_.\-]+", value):
            raise ValueError(f"{value!r} must be a Jira field id such as customfield_10002")
        return value


class JiraSource(Source):
    """Feedback kept as Jira issues (a JSM or "Feedback" project), chosen by JQL.

    Each record is the issue JSON plus ``fields.description_text`` (plain
    text), ``epic_keys`` (explicit epic references), ``organizations`` /
    ``organization`` and ``browse_url``. The cursor is the newest ``updated``
    seen, in the account's time zone, as JQL expects; re-reading the boundary
    minute is harmless because items are upserted.
    """

    kind: ClassVar[str] = "jira"
    Options: ClassVar[type[SourceOptions]] = JiraSourceOptions
    default_preset: ClassVar[str | None] = "jira"

    def __init__(self, options: SourceOptions, context: SourceContext, **client_kwargs: Any) -> None:
        super().__init__(options, context)
        assert isinstance(options, JiraSourceOptions)
        self.opts = options
        self.jira = JiraTracker(
            options.url, email=options.email, api_token=options.api_token, pat=options.pat,
            deployment=options.deployment, allow_insecure_http=options.allow_insecure_http,
            page_size=options.page_size, **client_kwargs,
        )

    def pull(self, cursor: Cursor) -> Iterator[Record | Quarantined]:
        since = None if self.context.full else (cursor or {}).get("updated")
        try:
            jql = incremental_jql(self.opts.jql, since)
        except ValueError as exc:
            log.warning("%s: ignoring a malformed cursor (%s); reading everything", self.context.name, exc)
            jql = incremental_jql(self.opts.jql, None)
        fields = [*SOURCE_FIELDS, *(f for f in (self.opts.organization_field, self.opts.epic_link_field) if f)]
        newest: datetime | None = None
        for issue in self.jira.search(jql, fields):
            key = issue.get("key")
            locator = f"jira issue {key or issue.get('id', '?')}"
            if not key or not isinstance(issue.get("fields"), dict):
                yield Quarantined(self.context.name, locator, "Jira returned an issue without key or fields",
                                  raw=json.dumps(issue, default=str)[:2000])
                continue
            updated = parse_time(issue["fields"].get("updated"))
            if updated and (newest is None or updated > newest):
                newest = updated
            yield Record(data=self._data(issue), locator=locator)
        if newest is not None:
            self.cursor = {"updated": newest.astimezone(self._jql_zone()).strftime(_CURSOR_FORMAT)}
        else:
            self.cursor = {} if self.context.full else dict(cursor or {})

    def close(self) -> None:
        self.jira.close()

    def _data(self, issue: Mapping[str, Any]) -> dict[str, Any]:
        fields = dict(issue["fields"])
        fields["description_text"] = adf_to_text(fields.get("description"))
        data = dict(issue)
        data["fields"] = fields
        data["epic_keys"] = epic_keys(fields, self.opts.epic_link_field)
        data["browse_url"] = f"{self.jira.url}/browse/{issue['key']}"
        if self.opts.organization_field:
            names = organization_names(fields.get(self.opts.organization_field))
            data["organizations"] = names
            data["organization"] = names[0] if names else None
        return data

    def _jql_zone(self) -> ZoneInfo | timezone:
        """JQL reads dates in the searching user's profile time zone."""
        try:
            name = self.jira.myself().get("timeZone")
            return ZoneInfo(name) if name else UTC
        except (ZoneInfoNotFoundError, ValueError, FatalAPIError) as exc:
            log.warning("%s: cannot tell the Jira account's time zone (%s); using UTC", self.context.name, exc)
            return UTC
