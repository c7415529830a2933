"""The sandbox's Jira data: fields, issues, comments, and the rules for editing them.

Everything here is plain data plus the validation Jira applies on
``PUT /rest/api/3/issue/{key}``, kept apart from HTTP so tests (and
:mod:`demandsync.sandbox.jira`) can read and seed it directly. Issues are stored
in the shape Jira Cloud returns them (modelled on a real epic payload): a dict
``{"id", "key", "fields": {...}}``, with custom fields present as ``null`` when
unset, exactly like ``fields=*all`` on a real site.

Stored values are never mutated in place, only replaced, so the HTTP layer can
serialise a shallow copy outside the lock without tearing.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from demandsync.sandbox.jql import Catalog

Issue = dict[str, Any]
JsonDict = dict[str, Any]

_CF = "com.atlassian.jira.plugin.system.customfieldtypes:"
FLOAT, DATEPICKER, DATETIME, TEXTFIELD, SELECT = (
    _CF + "float", _CF + "datepicker", _CF + "datetime", _CF + "textfield", _CF + "select",
)
TEAM = _CF + "atlassian-team"
EPIC_LINK = "com.pyxis.greenhopper.jira:gh-epic-link"

#: Textfield (single line) limit Jira enforces on write.
TEXTFIELD_MAX = 255
#: Fields nobody can set through the edit screen, whatever the configuration.
_NEVER_EDITABLE = frozenset(
    {"issuekey", "project", "status", "statusCategory", "issuetype", "created", "updated"}
)
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def cannot_set(field_id: str) -> str:
    """Jira's per-field message for a field that is off-screen, read-only or unknown."""
    return f"Field '{field_id}' cannot be set. It is not on the appropriate screen, or unknown."


# ---------------------------------------------------------------------------
# Fields
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One entry of ``GET /rest/api/3/field`` (schema ``FieldDetails``)."""

    id: str
    name: str
    type: str  # JsonTypeBean.type: number, date, string, array, option, team, ...
    custom_type: str | None = None  # JsonTypeBean.custom (custom fields only)
    items: str | None = None
    clause_names: tuple[str, ...] = ()
    navigable: bool = True
    orderable: bool = True
    searchable: bool = True
    #: Team-managed ("next-gen") projects own their fields: the project key, or None (site-wide).
    project: str | None = None

    @property
    def custom(self) -> bool:
        return self.custom_type is not None

    @property
    def custom_id(self) -> int | None:
        return int(self.id.removeprefix("customfield_")) if self.custom else None

    def to_json(self) -> JsonDict:
        schema: JsonDict = {"type": self.type}
        if self.items:
            schema["items"] = self.items
        if self.custom:
            schema.update(custom=self.custom_type, customId=self.custom_id)
        else:
            schema["system"] = self.id
        clauses = self.clause_names or (
            (f"cf[{self.custom_id}]", self.name) if self.custom else (self.id,)
        )
        out: JsonDict = {
            "id": self.id, "key": self.id, "name": self.name, "custom": self.custom,
            "orderable": self.orderable, "navigable": self.navigable,
            "searchable": self.searchable, "clauseNames": list(clauses),
        }
        if self.type:  # statusCategory/issuekey carry no schema on real sites
            out["schema"] = schema
        if self.project is not None:  # FieldDetails.scope, as Cloud gives it for team-managed fields
            out["scope"] = {"type": "PROJECT", "project": {"key": self.project}}
        return out


def _system(fid: str, name: str, typ: str, *clauses: str, items: str | None = None,
            orderable: bool = True) -> FieldDef:
    return FieldDef(fid, name, typ, items=items, clause_names=clauses or (fid,),
                    orderable=orderable)


SYSTEM_FIELDS: tuple[FieldDef, ...] = (
    _system("issuekey", "Key", "", "id", "issue", "issuekey", "key", orderable=False),
    _system("summary", "Summary", "string"),
    _system("description", "Description", "string"),
    _system("labels", "Labels", "array", items="string"),
    _system("status", "Status", "status", orderable=False),
    _system("statusCategory", "Status Category", "", orderable=False),
    _system("issuetype", "Issue Type", "issuetype", "issuetype", "type"),
    _system("project", "Project", "project", orderable=False),
    _system("parent", "Parent", "issuelink", orderable=False),
    _system("created", "Created", "datetime", "created", "createdDate", orderable=False),
    _system("updated", "Updated", "datetime", "updated", "updatedDate", orderable=False),
)

#: The demand fields demandsync writes, plus the awkward ones tests need.
DEMO_CUSTOM_FIELDS: tuple[FieldDef, ...] = (
    FieldDef("customfield_10050", "Customer requests", "number", FLOAT),
    FieldDef("customfield_10051", "Requesters", "number", FLOAT),
    FieldDef("customfield_10052", "Accounts", "number", FLOAT),
    FieldDef("customfield_10053", "Votes", "number", FLOAT),
    FieldDef("customfield_10054", "Demand score", "number", FLOAT),
    FieldDef("customfield_10055", "Last requested", "date", DATEPICKER),
    FieldDef("customfield_10056", "Requests (30d)", "number", FLOAT),
    FieldDef("customfield_10057", "Requests (90d)", "number", FLOAT),
    FieldDef("customfield_10058", "Demand sources", "string", TEXTFIELD),
    FieldDef("customfield_10016", "Story Points", "number", FLOAT),
    # Two fields called "Team": a real Cloud site has the Atlassian team field,
    # and admins often add their own select list with the same name.
    FieldDef("customfield_10001", "Team", "team", TEAM),
    FieldDef("customfield_10060", "Team", "option", SELECT),
    FieldDef("customfield_10099", "Not on screen", "number", FLOAT),
)
NOT_ON_EPIC_SCREEN = "customfield_10099"


# ---------------------------------------------------------------------------
# Statuses, issue types, ADF, time
# ---------------------------------------------------------------------------

_CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
STATUSES: dict[str, tuple[str, str]] = {  # name -> (id, category key)
    "To Do": ("10000", "new"),
    "In Progress": ("3", "indeterminate"),
    "Done": ("10001", "done"),
}
ISSUE_TYPES: dict[str, tuple[str, int, str]] = {  # name -> (id, hierarchyLevel, description)
    "Epic": ("10000", 1, "A big user story that needs to be broken down."),
    "Story": ("10001", 0, "Functionality or a feature expressed as a user goal."),
    "Task": ("10002", 0, "A small, distinct piece of work."),
    "Sub-task": ("10003", -1, "A small piece of work that's part of a larger task."),
}


def status_json(name: str) -> JsonDict:
    sid, cat = STATUSES[name]
    return {"description": "", "name": name, "id": sid, "statusCategory": dict(_CATEGORIES[cat])}


def issuetype_json(name: str) -> JsonDict:
    tid, level, desc = ISSUE_TYPES[name]
    return {"id": tid, "description": desc, "name": name, "subtask": level < 0,
            "hierarchyLevel": level}


def adf(*paragraphs: str, bullets: Iterable[str] = ()) -> JsonDict:
    """An Atlassian Document Format doc: one paragraph per string, optional bullet list."""
    content: list[JsonDict] = [
        {"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paragraphs
    ]
    items = [
        {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": b}]}]}
        for b in bullets
    ]
    if items:
        content.append({"type": "bulletList", "content": items})
    return {"version": 1, "type": "doc", "content": content}


def jira_time(dt: datetime) -> str:
    """Jira's timestamp format, e.g. ``2022-06-09T16:29:31.871+0000``."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def utcnow() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------
# Edit validation
# ---------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_value(fd: FieldDef, value: Any) -> str | None:
    """Jira's complaint about ``value`` for field ``fd``, or None when acceptable.

    Messages are the ones Jira Cloud returns in ``errors[field_id]``.
    """
    if value is None:
        return "You must specify a summary of the issue." if fd.id == "summary" else None
    if fd.id == "description":
        if not (isinstance(value, dict) and value.get("type") == "doc"):
            return "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
        return None
    if fd.type == "number":
        return None if _is_number(value) else "Operation value must be a number"
    if fd.type in ("date", "datetime", "string", "team"):
        if not isinstance(value, str):
            return "Operation value must be a string"
        if fd.type == "date" and not _valid_date(value):
            return f"Error parsing date string: {value}"
        if fd.type == "datetime" and not _valid_datetime(value):
            return f"Error parsing date string: {value}"
        if fd.id == "summary" and not value.strip():
            return "You must specify a summary of the issue."
        if fd.id == "summary" and len(value) > 255:
            return "Summary must be less than 255 characters."
        if fd.custom_type == TEXTFIELD and len(value) > TEXTFIELD_MAX:
            return ("The entered text is too long. It exceeds the allowed limit of "
                    f"{TEXTFIELD_MAX} characters.")
        return None
    if fd.type == "array" and fd.items == "string":
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            return "Operation value must be an array of strings"
        spaced = next((v for v in value if " " in v), None)
        return f"The label '{spaced}' contains spaces which is invalid." if spaced else None
    if fd.type == "option":
        ok = isinstance(value, dict) and ("value" in value or "id" in value)
        return None if ok else f"Specify a valid 'id' or 'name' for {fd.name}"
    return None


def _valid_date(text: str) -> bool:
    if not _DATE_RE.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _valid_datetime(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------
# The state
# ---------------------------------------------------------------------------


@dataclass
class EditResult:
    """Outcome of an edit: per-field errors (nothing written) or whether anything changed."""

    errors: dict[str, str] = field(default_factory=dict)
    changed: bool = False


@dataclass
class SandboxState:
    """All issues, fields and comments of one sandbox site; guard mutations with ``lock``.

    ``off_screen`` maps an issue type name to the field ids missing from its
    edit screen, which is how Jira decides "cannot be set" per issue.
    """

    fields: list[FieldDef] = field(default_factory=lambda: [*SYSTEM_FIELDS, *DEMO_CUSTOM_FIELDS])
    off_screen: dict[str, set[str]] = field(
        default_factory=lambda: {"Epic": {NOT_ON_EPIC_SCREEN}}
    )
    projects: dict[str, JsonDict] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    #: Bumped on every change, so search results can be cached per version.
    version: int = 0
    _issues: dict[str, Issue] = field(default_factory=dict, repr=False)  # key -> issue, insertion order
    _by_id: dict[str, str] = field(default_factory=dict, repr=False)
    _comments: dict[str, list[JsonDict]] = field(default_factory=dict, repr=False)  # issue id -> comments
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(10000), repr=False)
    _comment_ids: Iterator[int] = field(default_factory=lambda: itertools.count(10000), repr=False)
    _next_number: dict[str, int] = field(default_factory=dict, repr=False)

    # -- reading ------------------------------------------------------------

    def issue(self, key_or_id: str) -> Issue | None:
        """The live issue by key (any case) or numeric id; None when absent."""
        key = self._by_id.get(key_or_id) or key_or_id.upper()
        return self._issues.get(key)

    def issues(self) -> list[Issue]:
        """All issues in creation order (a new list; the issues themselves are live)."""
        return list(self._issues.values())

    def field_by_id(self, field_id: str) -> FieldDef | None:
        return next((f for f in self.fields if f.id == field_id), None)

    def fields_named(self, name: str) -> list[FieldDef]:
        return [f for f in self.fields if f.name.casefold() == name.casefold()]

    def catalog(self) -> Catalog:
        """What the JQL compiler needs to validate names and values."""
        custom: dict[str, list[tuple[str, str]]] = {}
        for f in self.fields:
            if f.custom:
                for clause in (f"cf[{f.custom_id}]", f.name):
                    custom.setdefault(clause.casefold(), []).append((f.id, f.type))
        projects = {p["key"].casefold() for p in self.projects.values()}
        projects |= {p["id"] for p in self.projects.values()}
        projects |= {p["name"].casefold() for p in self.projects.values()}
        return Catalog(
            projects=projects,
            issue_types={n.casefold() for n in ISSUE_TYPES} | {t[0] for t in ISSUE_TYPES.values()},
            statuses={n.casefold() for n in STATUSES} | {s[0] for s in STATUSES.values()},
            custom_fields=custom,
            now=utcnow,
            issue_exists=lambda key: self.issue(key) is not None,
        )

    def comments(self, issue: Issue) -> list[JsonDict]:
        return list(self._comments.get(issue["id"], ()))

    # -- seeding ------------------------------------------------------------

    def add_project(self, key: str, name: str) -> JsonDict:
        with self.lock:
            proj = {"id": str(10000 + len(self.projects)), "key": key, "name": name,
                    "projectTypeKey": "software", "simplified": False}
            self.projects[key] = proj
            return proj

    def add_issue(self, project: str, summary: str, *, issuetype: str = "Epic",
                  status: str = "To Do", description: JsonDict | None = None,
                  labels: Iterable[str] = (), parent: str | None = None,
                  created: datetime | None = None, updated: datetime | None = None,
                  values: Mapping[str, Any] | None = None) -> Issue:
        """Create an issue the way Jira would store it; returns the live dict."""
        with self.lock:
            proj = self.projects.get(project) or self.add_project(project, project.title())
            number = self._next_number.get(project, 1)
            self._next_number[project] = number + 1
            created = created or utcnow()
            fields: JsonDict = {
                "statuscategorychangedate": jira_time(created),
                "issuetype": issuetype_json(issuetype),
                "project": dict(proj),
                "created": jira_time(created),
                "updated": jira_time(updated or created),
                "labels": list(labels),
                "status": status_json(status),
                "summary": summary,
                "description": description,
            }
            fields.update({f.id: None for f in self.fields if f.custom})
            fields.update(values or {})
            issue: Issue = {"id": str(next(self._ids)), "key": f"{project}-{number}", "fields": fields}
            if parent:
                fields["parent"] = self._parent_ref(parent)
            self._issues[issue["key"]] = issue
            self._by_id[issue["id"]] = issue["key"]
            self.version += 1
            return issue

    def delete_issue(self, key: str) -> None:
        """Remove an issue (``DELETE /issue/{key}`` is not served; tests call this directly)."""
        with self.lock:
            issue = self._issues.pop(key)
            self._by_id.pop(issue["id"], None)
            self._comments.pop(issue["id"], None)
            self.version += 1

    def _parent_ref(self, key: str) -> JsonDict:
        """The ``parent`` value Jira embeds: id, key and a few of the parent's fields."""
        p = self.issue(key)
        if p is None:
            raise KeyError(key)
        pf = p["fields"]
        return {"id": p["id"], "key": p["key"], "fields": {
            "summary": pf["summary"], "status": pf["status"], "issuetype": pf["issuetype"]}}

    # -- editing ------------------------------------------------------------

    def edit(self, issue: Issue, changes: Mapping[str, Any]) -> EditResult:
        """Validate every field first, then apply all or nothing (like Jira).

        ``changes`` maps field id to new value. Returns per-field errors when
        any value is refused; otherwise writes and bumps ``updated`` when a
        value actually differs.
        """
        with self.lock:
            result = EditResult(errors=self._edit_errors(issue, changes))
            if result.errors:
                return result
            fields = issue["fields"]
            for fid, value in changes.items():
                if value is None and fid == "labels":
                    value = []  # Jira stores no labels as an empty list
                if fid == "parent":
                    value = self._parent_ref(value["key"]) if value else None
                if fields.get(fid) != value:
                    result.changed = True
                    if value is None and fid == "parent":
                        fields.pop("parent", None)
                    else:
                        fields[fid] = value
            if result.changed:
                fields["updated"] = jira_time(utcnow())
                self.version += 1
            return result

    def edit_screen(self, issue: Issue) -> list[FieldDef]:
        """Fields on ``issue``'s edit screen: what ``editmeta`` lists and ``PUT`` accepts."""
        hidden = self.off_screen.get(issue["fields"]["issuetype"]["name"], set())
        project = issue["fields"]["project"]["key"]
        return [f for f in self.fields
                if f.id not in _NEVER_EDITABLE and f.id not in hidden and f.type
                and f.project in (None, project)]

    def _edit_errors(self, issue: Issue, changes: Mapping[str, Any]) -> dict[str, str]:
        on_screen = {f.id: f for f in self.edit_screen(issue)}
        errors: dict[str, str] = {}
        for fid, value in changes.items():
            fd = on_screen.get(fid)
            if fd is None:
                errors[fid] = cannot_set(fid)
            elif fid == "parent":
                if value is not None and not (isinstance(value, dict) and self.issue(
                        str(value.get("key") or value.get("id") or ""))):
                    errors[fid] = "Could not find issue by id or key."
            elif (msg := validate_value(fd, value)) is not None:
                errors[fid] = msg
        return errors

    def add_comment(self, issue: Issue, body: JsonDict, author: JsonDict) -> JsonDict:
        with self.lock:
            now = jira_time(utcnow())
            comment = {"id": str(next(self._comment_ids)), "author": author, "body": body,
                       "updateAuthor": author, "created": now, "updated": now,
                       "jsdPublic": True}
            self._comments.setdefault(issue["id"], []).append(comment)
            self.version += 1
            return comment

    def update_comment(self, issue: Issue, comment_id: str, body: JsonDict,
                       author: JsonDict) -> JsonDict | None:
        with self.lock:
            comments = self._comments.get(issue["id"], [])
            for i, old in enumerate(comments):
                if old["id"] == comment_id:
                    comments[i] = {**old, "body": body, "updateAuthor": author,
                                   "updated": jira_time(utcnow())}
                    self.version += 1
                    return comments[i]
            return None


# ---------------------------------------------------------------------------
# Seeded states
# ---------------------------------------------------------------------------

_DEMO_EPICS: tuple[tuple[str, str, tuple[str, ...], list[str], list[str]], ...] = (
    ("Single sign-on (SAML/SSO) for enterprise", "In Progress", ("enterprise", "security"),
     ["Let enterprise customers sign in through their identity provider (Okta, Azure AD, "
      "Google Workspace) using SAML 2.0.",
      "Several large prospects list SSO as a hard requirement in security reviews."],
     ["SAML 2.0 SP-initiated login", "Just-in-time user provisioning", "Enforce SSO per workspace"]),
    ("Export reports to CSV/Excel", "To Do", ("reporting",),
     ["Customers want to take report data into spreadsheets for finance and board decks."],
     ["CSV export of any report", "XLSX export keeping column formats"]),
    ("Dark mode", "Done", ("ui", "accessibility"),
     ["A dark colour theme for the web app, following the OS preference by default."], []),
    ("Slack integration for notifications", "To Do", ("integrations",),
     ["Send mentions, assignments and status changes to a Slack channel or DM."],
     ["Per-channel routing rules", "Slash command to create items"]),
    ("Mobile offline mode", "To Do", ("mobile",),
     ["Field teams lose connectivity; the mobile app should queue edits and sync later."], []),
    ("Bulk edit of records", "In Progress", ("productivity",),
     ["Select many records and change a field on all of them at once."],
     ["Multi-select in list views", "Undo a bulk change"]),
)

_DEMO_CHILDREN: tuple[tuple[str, str, str, str | None], ...] = (
    ("Story", "SAML metadata upload in admin settings", "In Progress", "PROD-1"),
    ("Task", "Spike: evaluate SAML libraries", "Done", "PROD-1"),
    ("Story", "CSV export button on report page", "To Do", "PROD-2"),
    ("Story", "Slack OAuth app installation flow", "To Do", "PROD-4"),
    ("Task", "Upgrade CI runners", "To Do", None),
)


def demo_state(*, start: datetime | None = None) -> SandboxState:
    """Project PROD with six recognisable epics and a few children, for demos and e2e tests."""
    start = start or datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    state = SandboxState()
    state.add_project("PROD", "Product")
    for i, (summary, status, labels, paras, bullets) in enumerate(_DEMO_EPICS):
        at = start + timedelta(days=7 * i, hours=i)
        state.add_issue("PROD", summary, status=status, labels=labels,
                        description=adf(*paras, bullets=bullets), created=at,
                        updated=at + timedelta(days=2))
    for j, (itype, summary, status, parent) in enumerate(_DEMO_CHILDREN):
        at = start + timedelta(days=50 + j)
        state.add_issue("PROD", summary, issuetype=itype, status=status, parent=parent,
                        description=adf(summary + "."), created=at)
    return state


_AREAS = ("reports", "dashboards", "notifications", "permissions", "search", "billing",
          "the mobile app", "the API", "integrations", "audit logs", "user management",
          "workflows", "templates", "file attachments", "calendar", "comments")
_ASKS = ("Export {a} to CSV", "Faster {a}", "Bulk actions in {a}", "Custom fields in {a}",
         "Dark theme for {a}", "Offline access to {a}", "Webhooks for {a}",
         "Role-based access to {a}", "Scheduled emails of {a}", "Keyboard shortcuts in {a}",
         "Localisation of {a}", "Version history for {a}")
_WHY = ("Requested repeatedly by enterprise accounts.", "Top complaint in the last NPS survey.",
        "Blocks two deals in the current quarter.", "Support sees this weekly.")


def generate_state(n_epics: int = 2000, seed: int = 1, *, project: str = "PROD",
                   children_per_epic: int = 0) -> SandboxState:
    """A reproducible site with ``n_epics`` epics (for benchmarks); same fields as the demo."""
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    state = SandboxState()
    state.add_project(project, "Product")
    statuses = ("To Do", "To Do", "In Progress", "Done")
    labels = ("enterprise", "ui", "api", "mobile", "reporting", "integrations", "security")
    epic_keys: list[str] = []
    for n in range(n_epics):
        area = rng.choice(_AREAS)
        summary = rng.choice(_ASKS).format(a=area)
        summary = summary[0].upper() + summary[1:] + f" (#{n + 1})"
        at = start + timedelta(minutes=n * 37 + rng.randrange(30))
        desc = adf(f"Customers ask for {summary.lower()}.", rng.choice(_WHY))
        epic = state.add_issue(project, summary, status=rng.choice(statuses),
                               labels=rng.sample(labels, rng.randrange(3)), description=desc,
                               created=at, updated=at + timedelta(hours=rng.randrange(200)))
        epic_keys.append(epic["key"])
    for key in epic_keys:
        for c in range(children_per_epic):
            state.add_issue(project, f"Story {c + 1} of {key}", issuetype="Story",
                            parent=key, created=start + timedelta(days=400))
    return state

