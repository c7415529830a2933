"""Jira: the tracker demand is written to, and a source feedback can come from.

Cloud speaks REST v3 (email + API token, ``POST /rest/api/3/search/jql`` paged
by ``nextPageToken``, ADF rich text); Data Center speaks REST v2 (PAT as a
bearer token, ``POST /rest/api/2/search`` paged by ``startAt``, wiki-markup
strings). :class:`JiraTracker` hides the difference; everything else
(retries, ``Retry-After``, redaction) is the shared HTTP layer's job.

Public sources of the vendor facts. OA = Atlassian's Jira Cloud platform OpenAPI
(https://developer.atlassian.com/cloud/jira/platform/swagger-v3.v3.json; copy in
``shared/realdata/jira_cloud_platform_openapi_v3.json``), paths as ``P[path].method``:

- Search: ``P["/rest/api/3/search/jql"].post`` body ``SearchAndReconcileRequestBean``
  ``{jql, fields, maxResults, nextPageToken}``, answer ``SearchAndReconcileResults``
  ``{issues, nextPageToken, isLast}``. Data Center: ``POST /rest/api/2/search`` with
  ``startAt``/``maxResults``, answer with ``total`` (Jira Server REST reference,
  https://docs.atlassian.com/software/jira/docs/api/REST/latest/#api/2/search).
- Deployment: ``GET /rest/api/{2,3}/serverInfo`` ``deploymentType`` (OA
  ``ServerInformation``: "always returned as *Cloud*"; anything else is read as Data Center).
- Credentials: Cloud basic auth with e-mail + API token
  (https://developer.atlassian.com/cloud/jira/platform/basic-auth-for-rest-apis/); Data
  Center personal access token as ``Authorization: Bearer``
  (https://confluence.atlassian.com/enterprise/using-personal-access-tokens-1026032365.html).
- Comments page by ``startAt``/``maxResults`` (``P["/rest/api/3/issue/{issueIdOrKey}/comment"].get``);
  writes take ``notifyUsers`` (``P["/rest/api/3/issue/{issueIdOrKey}"].put`` and ``…/comment/{id}``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import httpx

from demandsync.connectors.base import FieldError, Tracker, TrackerField, WriteRejected
from demandsync.connectors.http import (
    ApiClient,
    BearerAuth,
    FatalAPIError,
    JiraTokenPaginator,
    OffsetPaginator,
    Secret,
    basic_auth,
    iter_items,
)
from demandsync.connectors.http.errors import describe_body
from demandsync.connectors.jira.adf import adf_to_text
from demandsync.connectors.jira.render import render_summary
from demandsync.domain import Epic, SummaryContent

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


# -- the tracker ----------------------------------------------------------------


def _user_id(user: Mapping[str, Any]) -> str | None:
    """A Jira user's id: ``accountId`` on Cloud, ``name`` (else ``key``) on Data Center."""
    found = user.get("accountId") or user.get("name") or user.get("key")
    return str(found) if found else None


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
    kind = deployment or guessed
    # Cloud: no cookie jar. Every request carries its API token (cookie-based auth is deprecated
    # there: developer.atlassian.com/cloud/jira/platform/jira-rest-api-cookie-based-authentication),
    # so session cookies buy nothing, and filing them cost ~8 % of our CPU per PUT
    # (bench/apply_speed.py). Data Center keeps its jar: Atlassian's Server page
    # (developer.atlassian.com/server/jira/platform/cookie-based-authentication) names reusing the
    # session as a performance benefit, and a load balancer's sticky cookie keeps us on one node.
    client = ApiClient(
        url.rstrip("/"), auth=auth, connect_timeout=connect_timeout, read_timeout=read_timeout,
        allow_insecure_http=allow_insecure_http, cookies=kind == "datacenter", **client_kwargs,
    )
    return client, kind  # type: ignore[return-value]


class JiraTracker(Tracker):
    """Reads epics from Jira and writes demand fields onto them.

    >>> tracker = JiraTracker("https://acme.atlassian.net", email="ops@acme.com", api_token="…")  # doctest: +SKIP
    >>> for epic in tracker.epics("project = PROD AND issuetype = Epic", ["customfield_10050"]):  # doctest: +SKIP
    ...     print(epic.key, epic.values)
    """

    section: ClassVar[str] = "jira"
    display_name: ClassVar[str] = "Jira"
    credentials_hint: ClassVar[str] = "jira.email and jira.api_token (or jira.pat)"

    @classmethod
    def from_settings(cls, settings: Any) -> JiraTracker:
        """From the validated ``[jira]`` section (:class:`demandsync.config.JiraConfig`)."""
        tracker = cls(
            settings.url, email=settings.email, api_token=settings.api_token, pat=settings.pat,
            read_timeout=settings.timeout, allow_insecure_http=settings.allow_insecure_http,
            page_size=settings.page_size, deployment=settings.deployment,
            max_attempts=settings.max_attempts, max_wait_total=settings.max_wait_total,
        )
        tracker.quiet_writes = not settings.notify_users
        return tracker

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
        self._own_id: str | None = None

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

    def myself(self) -> dict[str, Any]:
        return self.client.request_json("GET", f"{self.api}/myself") or {}

    def server_info(self) -> dict[str, Any]:
        return self.client.request_json("GET", f"{self.api}/serverInfo") or {}

    def issue(self, key: str, fields: Sequence[str]) -> dict[str, Any]:
        """One issue with ``fields`` (``GET …/issue/{key}?fields=…``)."""
        params = {"fields": ",".join(dict.fromkeys(fields))}
        return self.client.request_json("GET", f"{self.api}/issue/{quote(key)}", params=params) or {}

    def editable_fields(self, key: str) -> dict[str, str]:
        """``field id -> name`` of every field on ``key``'s edit screen (``GET …/issue/{key}/editmeta``).
        Team-managed projects have their own fields, so this is also how a figure's field is found per project."""
        meta = self.client.request_json("GET", f"{self.api}/issue/{quote(key)}/editmeta") or {}
        return {fid: str((f or {}).get("name") or fid) for fid, f in (meta.get("fields") or {}).items()}

    def whoami(self) -> str:
        me = self.myself()
        return str(me.get("displayName") or me.get("emailAddress") or me.get("name") or me.get("accountId") or "?")

    def browse_url(self, key: str) -> str:
        return f"{self.url}/browse/{quote(key)}"

    def released(self, keys: Sequence[str], *, chunk: int = 100) -> list[str]:
        """Keys whose ``fixVersions`` are all released (and there is at least one)."""
        out: list[str] = []
        for i in range(0, len(keys), chunk):
            part = list(keys[i:i + chunk])
            try:
                out += self._released(part)
            except FatalAPIError as exc:
                if exc.status != 400 or len(part) == 1:
                    raise
                # JQL refuses the whole list when one key no longer exists (deleted, moved): go one by one.
                for key in part:
                    try:
                        out += self._released([key])
                    except FatalAPIError as one:
                        if one.status != 400:
                            raise
        return out

    def _released(self, keys: Sequence[str]) -> list[str]:
        out = []
        for issue in self.search(f"key in ({', '.join(keys)})", ["fixVersions"]):
            versions = (issue.get("fields") or {}).get("fixVersions") or []
            if versions and all(isinstance(v, Mapping) and v.get("released") is True for v in versions):
                out.append(str(issue["key"]))
        return out

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
        path = f"{self.api}/issue/{quote(key)}/comment/{quote(str(comment_id))}"
        try:
            return self.client.request_json("PUT", path, params=params, json={"body": body}) or {}
        except FatalAPIError as exc:
            if not self._notify_refused(exc, params):
                raise
            return self.update_comment(key, comment_id, body)

    # the managed summary (Tracker protocol): bodies rendered in .render

    def summary_comments(self, key: str) -> Iterator[tuple[str, str, str | None]]:
        for c in self.comments(key):
            body = c.get("body")
            text = adf_to_text(body) if isinstance(body, dict) else str(body or "")
            yield str(c.get("id") or ""), text, _user_id(c.get("author") or {})

    def own_account_id(self) -> str | None:
        """Our account's id (``GET …/myself``: ``accountId`` on Cloud, ``name`` on Data Center), read once."""
        if self._own_id is None:
            self._own_id = _user_id(self.myself()) or ""
        return self._own_id or None

    def add_summary_comment(self, key: str, content: SummaryContent, changed_on: date) -> str:
        body = render_summary(content, changed_on, cloud=self.deployment == "cloud")
        return str(self.add_comment(key, body).get("id") or "")

    def update_summary_comment(self, key: str, comment_id: str, content: SummaryContent, changed_on: date) -> bool:
        body = render_summary(content, changed_on, cloud=self.deployment == "cloud")
        try:
            self.update_comment(key, comment_id, body)
        except FatalAPIError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def field_text(self, key: str, field_id: str) -> str:
        value = (self.issue(key, [field_id]).get("fields") or {}).get(field_id)
        return adf_to_text(value) if isinstance(value, dict) else str(value or "")

    def write_summary_field(self, key: str, field_id: str, content: SummaryContent, changed_on: date,
                            plain: bool = False) -> None:
        self.update(key, {field_id: render_summary(content, changed_on, cloud=self.deployment == "cloud", plain=plain)})

    # writes

    def update(self, key: str, values: Mapping[str, Any]) -> None:
        params = {"notifyUsers": "false"} if self.quiet_writes else None
        try:
            self.client.request("PUT", f"{self.api}/issue/{quote(key)}", params=params, json={"fields": dict(values)})
        except FatalAPIError as exc:
            if self._notify_refused(exc, params):
                self.update(key, values)
                return
            if exc.status == 401:
                raise
            raise self._rejected(key, values, exc) from None

    def close(self) -> None:
        self.client.close()

    # helpers

    def _notify_refused(self, exc: FatalAPIError, params: Mapping[str, str] | None) -> bool:
        """True (and quiet writes switched off) when Jira refused ``notifyUsers=false``: it needs
        Administer Jira or project admin, for issue edits and comment updates alike
        (OpenAPI spec: ``PUT /rest/api/3/issue/{issueIdOrKey}`` and ``…/comment/{id}``, parameter
        ``notifyUsers``)."""
        if not (exc.status == 403 and params and "notif" in describe_body(exc.body).lower()):
            return False
        self.quiet_writes = False
        log.warning("Jira refused notifyUsers=false (it needs Administer Jira or project admin); "
                    "demand updates from now on will notify the epics' watchers")
        return True

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


