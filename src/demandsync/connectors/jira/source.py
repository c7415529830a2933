"""Jira as a feedback source: issues of a feedback project selected by JQL.

Incremental by ``updated >=`` in the account's time zone (JQL compares in the
user's zone, minute resolution); parent, Epic Link and issue links become
explicit epic hints. The HTTP work is :class:`~demandsync.connectors.jira.tracker.JiraTracker`'s.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timezone
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator

from demandsync.connectors.apisource import parse_time
from demandsync.connectors.base import Source, SourceCheckFailed, SourceContext, SourceOptions
from demandsync.connectors.http import APIError, ConnectFailed, FatalAPIError, check_base_url
from demandsync.connectors.jira.adf import adf_to_text
from demandsync.connectors.jira.tracker import SOURCE_FIELDS, Deployment, JiraTracker
from demandsync.domain import Cursor, Quarantined, Record

log = logging.getLogger("demandsync.jira")

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

    def check(self) -> str:
        """Credentials accepted (``/myself``) and the first page of the JQL read; see ``Source.check``."""
        try:
            who = self.jira.whoami()
            first = next(iter(self.jira.search(self.opts.jql, ["summary"])), None)
        except ConnectFailed:  # not the vendor's answer: `check` names the url to fix
            raise
        except APIError as exc:
            raise SourceCheckFailed(self.context.name, "Jira", str(exc), exc.status) from None
        found = "at least one issue" if first is not None else "no issues yet"
        return f"Jira: credentials of {who} accepted; the JQL selects {found}"

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
