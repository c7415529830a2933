"""JiraTracker against Jira Cloud's REST v3 shapes (examples copied from the
official OpenAPI spec, /work/shared/realdata/jira_cloud_platform_openapi_v3.json)."""

from __future__ import annotations

import base64
import copy
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from demandsync.connectors.base import TrackerField, WriteRejected
from demandsync.connectors.http import FatalAPIError
from demandsync.connectors.jira.adf import adf_to_text, text_to_adf
from demandsync.connectors.jira.tracker import JiraTracker
from demandsync.sync.fields import AmbiguousFieldError, UnknownFieldError, resolve_field

URL = "https://acme.atlassian.net"
API_TOKEN = "ATATT3xFfGF0_secret_token"
AIRBYTE = Path(__file__).parent / "fixtures" / "jira" / "jira_v3_issue_epic_airbyte_issues_stream.json"

# GET /rest/api/3/field — the spec's example, plus two custom fields of ours.
FIELDS = [
    {"clauseNames": ["description"], "custom": False, "id": "description", "name": "Description", "navigable": True,
     "orderable": True, "schema": {"system": "description", "type": "string"}, "searchable": True},
    {"clauseNames": ["summary"], "custom": False, "id": "summary", "key": "summary", "name": "Summary",
     "navigable": True, "orderable": True, "schema": {"system": "summary", "type": "string"}, "searchable": True},
    {"clauseNames": ["cf[10050]", "Customer requests"], "custom": True, "id": "customfield_10050",
     "key": "customfield_10050", "name": "Customer requests", "navigable": True, "orderable": True,
     "schema": {"custom": "com.atlassian.jira.plugin.system.customfieldtypes:float", "customId": 10050,
                "type": "number"}, "searchable": True},
    {"clauseNames": ["cf[10060]"], "custom": True, "id": "customfield_10060", "key": "customfield_10060",
     "name": "Requesting accounts", "schema": {"custom": "com.atlassian.jira.plugin.system.customfieldtypes:labels",
                                               "customId": 10060, "items": "string", "type": "array"}},
]


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def tracker(sleeps: list[float]) -> JiraTracker:
    return JiraTracker(URL, email="ops@acme.com", api_token=API_TOKEN, page_size=2, sleep=sleeps.append)


def _issue(key: str, n: int, **extra: Any) -> dict[str, Any]:
    return {
        "id": str(10000 + n), "key": key, "self": f"{URL}/rest/api/3/issue/{10000 + n}",
        "fields": {
            "summary": f"Epic {n}",
            "description": {"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": f"Body {n}"}]}]},
            "labels": ["demand"],
            "status": {"name": "To Do", "statusCategory": {"id": 2, "key": "new", "name": "To Do"}},
            "project": {"id": "10016", "key": "PROD", "name": "Product"},
            "issuetype": {"id": "10000", "name": "Epic", "hierarchyLevel": 1},
            "customfield_10050": n * 10,
            **extra,
        },
    }


# -- search ------------------------------------------------------------------------


@respx.mock
def test_epics_pages_through_search_jql_with_the_right_bodies(tracker: JiraTracker) -> None:
    old = respx.route(url__startswith=f"{URL}/rest/api/3/search?").mock(return_value=httpx.Response(410))
    old_exact = respx.route(url=f"{URL}/rest/api/3/search").mock(return_value=httpx.Response(410))
    pages = {
        None: {"issues": [_issue("PROD-1", 1), _issue("PROD-2", 2)], "nextPageToken": "tok-2", "isLast": False},
        "tok-2": {"issues": [_issue("PROD-3", 3), _issue("PROD-4", 4)], "nextPageToken": "tok-3", "isLast": False},
        "tok-3": {"issues": [_issue("PROD-5", 5)], "isLast": True},
    }
    bodies: list[dict[str, Any]] = []
    auth: list[str] = []

    def search(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        auth.append(request.headers["Authorization"])
        return httpx.Response(200, json=pages[body.get("nextPageToken")])

    respx.post(f"{URL}/rest/api/3/search/jql").mock(side_effect=search)
    epics = list(tracker.epics("project = PROD AND issuetype = Epic", ["customfield_10050", "customfield_10060"]))

    assert [e.key for e in epics] == ["PROD-1", "PROD-2", "PROD-3", "PROD-4", "PROD-5"]
    assert [b.get("nextPageToken") for b in bodies] == [None, "tok-2", "tok-3"]
    for body in bodies:
        assert body["jql"] == "project = PROD AND issuetype = Epic"
        assert body["maxResults"] == 2
        assert body["fields"] == ["summary", "description", "labels", "status", "project", "issuetype", "parent",
                                  "customfield_10050", "customfield_10060"]
    first = epics[0]
    assert (first.id, first.summary, first.description, first.labels) == ("10001", "Epic 1", "Body 1", ["demand"])
    assert (first.status_category, first.project) == ("new", "PROD")
    assert first.values == {"customfield_10050": 10, "customfield_10060": None}
    assert auth[0] == "Basic " + base64.b64encode(f"ops@acme.com:{API_TOKEN}".encode()).decode()
    assert not old.called and not old_exact.called
    assert tracker.client.request_counts[("POST", "/rest/api/3/search/jql")] == 3


@respx.mock
def test_search_stops_when_next_page_token_is_absent(tracker: JiraTracker) -> None:
    route = respx.post(f"{URL}/rest/api/3/search/jql").mock(return_value=httpx.Response(200, json={"issues": [_issue("PROD-1", 1)]}))
    assert [e.key for e in tracker.epics("project = PROD", [])] == ["PROD-1"]
    assert route.call_count == 1


@respx.mock
def test_epic_from_the_real_airbyte_issue(tracker: JiraTracker) -> None:
    issues = json.loads(AIRBYTE.read_text())["issues"]
    respx.post(f"{URL}/rest/api/3/search/jql").mock(return_value=httpx.Response(200, json={"issues": issues, "isLast": True}))
    (epic,) = tracker.epics("issuetype = Epic", ["customfield_10011"])
    assert epic.key == "TESTKEY13-1" and epic.id == "10627"
    assert epic.summary == "My Summary"
    assert epic.description == "Test issue"
    assert epic.labels == ["test"]
    assert epic.status_category == "new" and epic.project == "TESTKEY13"
    assert set(epic.values) == {"customfield_10011"}


def test_adf_to_text_on_real_airbyte_description() -> None:
    description = json.loads(AIRBYTE.read_text())["issues"][0]["fields"]["description"]
    assert description["type"] == "doc"
    assert adf_to_text(description) == "Test issue"


def test_adf_to_text_rich_document() -> None:
    doc = {"type": "doc", "version": 1, "content": [
        {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Why"}]},
        {"type": "paragraph", "content": [
            {"type": "text", "text": "Customers ask for "}, {"type": "text", "text": "SSO", "marks": [{"type": "strong"}]},
            {"type": "hardBreak"}, {"type": "mention", "attrs": {"id": "1", "text": "@Ann"}},
            {"type": "text", "text": " see "}, {"type": "inlineCard", "attrs": {"url": "https://x.io/1"}}]},
        {"type": "bulletList", "content": [
            {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Okta"}]},
                                             {"type": "bulletList", "content": [{"type": "listItem", "content": [
                                                 {"type": "paragraph", "content": [{"type": "text", "text": "SCIM"}]}]}]}]},
            {"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Azure AD"}]}]}]},
        {"type": "table", "content": [{"type": "tableRow", "content": [
            {"type": "tableCell", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "ACME"}]}]},
            {"type": "tableCell", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Enterprise"}]}]}]}]},
        {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "abc", "type": "file"}}]},
        {"type": "codeBlock", "attrs": {"language": "sql"}, "content": [{"type": "text", "text": "select 1"}]},
    ]}
    assert adf_to_text(doc) == (
        "Why\n\nCustomers ask for SSO\n@Ann see https://x.io/1\n\n- Okta\n  - SCIM\n- Azure AD\n\n"
        "ACME | Enterprise\n\nselect 1"
    )
    assert adf_to_text(None) == "" and adf_to_text("  wiki *markup*  ") == "wiki *markup*"


def test_adf_to_text_drops_blanks_at_line_ends_and_extra_blank_lines() -> None:
    """Descriptions typed in the Jira editor end lines in spaces or a tab and leave empty
    paragraphs; the text linking and the epic view see has neither."""
    def para(*texts: str) -> dict[str, Any]:
        nodes: list[dict[str, Any]] = []
        for i, text in enumerate(texts):
            nodes += [{"type": "hardBreak"}] if i else []
            nodes.append({"type": "text", "text": text})
        return {"type": "paragraph", "content": nodes}

    doc = {"type": "doc", "content": [para("Please add SSO  ", "for Okta\t"), {"type": "paragraph", "content": []},
                                      {"type": "paragraph"}, para("Thanks \t ")]}
    assert adf_to_text(doc) == "Please add SSO\nfor Okta\n\nThanks"
    assert adf_to_text({"type": "doc", "content": [para("tab\t", "only")]}) == "tab\nonly"
    assert adf_to_text({"type": "doc", "content": [para("above"), {"type": "rule"}, para("below")]}) == "above\n\nbelow"


def test_text_to_adf_round_trips_to_the_same_text() -> None:
    text = "# Demand\n\n42 requests from **17** accounts\nsee [why](https://x.io/explain)\n\n- Acme\n- Globex\n\n1. one\n2. two"
    doc = text_to_adf(text)
    assert doc["type"] == "doc" and doc["version"] == 1
    kinds = [b["type"] for b in doc["content"]]
    assert kinds == ["heading", "paragraph", "bulletList", "orderedList"]
    para = doc["content"][1]["content"]
    assert {"type": "text", "text": "17", "marks": [{"type": "strong"}]} in para
    assert {"type": "hardBreak"} in para
    assert {"type": "text", "text": "why", "marks": [{"type": "link", "attrs": {"href": "https://x.io/explain"}}]} in para
    assert adf_to_text(doc) == "Demand\n\n42 requests from 17 accounts\nsee why\n\n- Acme\n- Globex\n\n1. one\n2. two"


# -- fields ---------------------------------------------------------------------------


@respx.mock
def test_fields_maps_schema(tracker: JiraTracker) -> None:
    respx.get(f"{URL}/rest/api/3/field").mock(return_value=httpx.Response(200, json=FIELDS))
    fields = {f.id: f for f in tracker.fields()}
    assert fields["summary"] == TrackerField("summary", "Summary", "string", False, "", "")
    assert fields["customfield_10050"] == TrackerField(
        "customfield_10050", "Customer requests", "number", True, "", "com.atlassian.jira.plugin.system.customfieldtypes:float")
    assert fields["customfield_10060"].items == "string" and fields["customfield_10060"].type == "array"


FIELD_LIST = [
    TrackerField("summary", "Summary", "string"),
    TrackerField("customfield_10050", "Customer requests", "number", True),
    TrackerField("customfield_10051", "Votes", "number", True),
    TrackerField("customfield_10052", "votes", "number", True),
    TrackerField("customfield_10070", "Accounts", "number", True, custom_type="x:float"),
    TrackerField("customfield_10071", "Accounts", "string", True, custom_type="x:textfield"),
]


def test_resolve_field_by_id_and_name() -> None:
    assert resolve_field("customfield_10050", FIELD_LIST).name == "Customer requests"
    assert resolve_field("Customer requests", FIELD_LIST).id == "customfield_10050"
    assert resolve_field("customer REQUESTS", FIELD_LIST).id == "customfield_10050"
    # exact case wins over a case-insensitive tie
    assert resolve_field("votes", FIELD_LIST).id == "customfield_10052"
    assert resolve_field("Votes", FIELD_LIST).id == "customfield_10051"


def test_resolve_field_ambiguous_names_both_ids() -> None:
    with pytest.raises(AmbiguousFieldError) as info:
        resolve_field("Accounts", FIELD_LIST)
    message = str(info.value)
    assert "customfield_10070" in message and "customfield_10071" in message and "Use the id" in message
    with pytest.raises(AmbiguousFieldError):
        resolve_field("VOTES", FIELD_LIST)  # no exact match, two case-insensitive ones


def test_resolve_field_unknown_suggests_close_names() -> None:
    with pytest.raises(UnknownFieldError, match=r"'Custmer requests'.*did you mean 'Customer requests' \(customfield_10050\)"):
        resolve_field("Custmer requests", FIELD_LIST)
    with pytest.raises(UnknownFieldError, match="Custom fields"):
        resolve_field("Zzz", FIELD_LIST)
    assert isinstance(UnknownFieldError("x"), LookupError)


# -- writes ---------------------------------------------------------------------------------


@respx.mock
def test_update_puts_fields_without_notifying(tracker: JiraTracker) -> None:
    route = respx.put(f"{URL}/rest/api/3/issue/PROD-7").mock(return_value=httpx.Response(204))
    tracker.update("PROD-7", {"customfield_10050": 42, "customfield_10060": ["acme"]})
    request = route.calls.last.request
    assert request.url.params["notifyUsers"] == "false"
    assert json.loads(request.content) == {"fields": {"customfield_10050": 42, "customfield_10060": ["acme"]}}


@respx.mock
def test_cloud_writes_carry_no_session_cookie(tracker: JiraTracker) -> None:
    """On Cloud every request carries its API token; a session cookie (a load balancer's, an old
    JSESSIONID) is neither kept nor sent back with the next write."""
    route = respx.put(url__regex=rf"{URL}/rest/api/3/issue/PROD-\d+").mock(return_value=httpx.Response(
        204, headers={"Set-Cookie": "JSESSIONID=8C1D5A0B; Path=/; HttpOnly"}))
    tracker.update("PROD-7", {"customfield_10050": 42})
    tracker.update("PROD-8", {"customfield_10050": 43})
    assert [c.request.headers.get("Cookie") for c in route.calls] == [None, None]
    assert route.calls.last.request.headers["Authorization"].startswith("Basic ")


@respx.mock
def test_data_center_writes_reuse_the_session_cookie() -> None:
    """Data Center keeps its cookie jar: reusing the JSESSIONID spares Jira a session per request
    (Atlassian's Server cookie-based-authentication page) and a sticky cookie keeps one node."""
    tracker = JiraTracker("https://jira.acme.internal", pat="dc-pat-secret")
    route = respx.put(url__regex=r"https://jira.acme.internal/rest/api/2/issue/PROD-\d+").mock(
        return_value=httpx.Response(204, headers={"Set-Cookie": "JSESSIONID=8C1D5A0B; Path=/; HttpOnly"}))
    tracker.update("PROD-7", {"customfield_10050": 42})
    tracker.update("PROD-8", {"customfield_10050": 43})
    assert [c.request.headers.get("Cookie") for c in route.calls] == [None, "JSESSIONID=8C1D5A0B"]


@respx.mock
def test_notify_users_true_sends_no_parameter() -> None:
    tracker = JiraTracker(URL, email="ops@acme.com", api_token=API_TOKEN, notify_users=True)
    route = respx.put(f"{URL}/rest/api/3/issue/PROD-7").mock(return_value=httpx.Response(204))
    tracker.update("PROD-7", {"customfield_10050": 42})
    assert "notifyUsers" not in route.calls.last.request.url.params


@respx.mock
def test_400_is_reported_per_field_in_admin_words(tracker: JiraTracker) -> None:
    respx.get(f"{URL}/rest/api/3/field").mock(return_value=httpx.Response(200, json=FIELDS))
    respx.put(f"{URL}/rest/api/3/issue/PROD-7").mock(return_value=httpx.Response(400, json={
        "errorMessages": [],
        "errors": {
            "customfield_10050": "Field 'customfield_10050' cannot be set. It is not on the appropriate screen, or unknown.",
            "customfield_10060": "Operation value must be a string",
        },
    }))
    with pytest.raises(WriteRejected) as info:
        tracker.update("PROD-7", {"customfield_10050": 42, "customfield_10060": [1]})
    rejected = info.value
    assert rejected.key == "PROD-7" and rejected.status == 400
    by_field = {e.field: e.message for e in rejected.errors}
    assert by_field["customfield_10050"].startswith(
        "not on the edit screen of PROD-7's issue type — add 'Customer requests' (customfield_10050) to the Edit "
        "screen of the project's Epic issue type, or remove it from [jira.fields]")
    assert "Jira refused the value [1] for 'Requesting accounts' (customfield_10060): Operation value must be a string" == by_field["customfield_10060"]


@respx.mock
def test_400_error_messages_without_field_map(tracker: JiraTracker) -> None:
    respx.get(f"{URL}/rest/api/3/field").mock(return_value=httpx.Response(500))
    respx.put(f"{URL}/rest/api/3/issue/PROD-7").mock(
        return_value=httpx.Response(400, json={"errorMessages": ["Issue is locked"], "errors": {}}))
    with pytest.raises(WriteRejected) as info:
        tracker.update("PROD-7", {"customfield_10050": 1})
    assert [(e.field, e.message) for e in info.value.errors] == [("issue", "Issue is locked")]


@respx.mock
def test_notify_users_fallback_is_remembered(tracker: JiraTracker, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="demandsync.jira")
    refusal = {"errorMessages": ["To discard the user notification either admin or project admin permissions are required."],
               "errors": {}}

    def edit(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("notifyUsers") == "false":
            return httpx.Response(403, json=refusal)
        return httpx.Response(204)

    route = respx.put(url__regex=rf"{URL}/rest/api/3/issue/PROD-\d+").mock(side_effect=edit)
    tracker.update("PROD-7", {"customfield_10050": 1})
    tracker.update("PROD-8", {"customfield_10050": 2})
    sent = [(c.request.url.path, c.request.url.params.get("notifyUsers")) for c in route.calls]
    assert sent == [("/rest/api/3/issue/PROD-7", "false"), ("/rest/api/3/issue/PROD-7", None),
                    ("/rest/api/3/issue/PROD-8", None)]
    assert caplog.text.count("notifyUsers=false") == 1
    assert tracker.quiet_writes is False


@respx.mock
def test_404_and_403_are_write_rejected(tracker: JiraTracker) -> None:
    respx.put(f"{URL}/rest/api/3/issue/PROD-404").mock(return_value=httpx.Response(
        404, json={"errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}}))
    respx.put(f"{URL}/rest/api/3/issue/PROD-403").mock(return_value=httpx.Response(
        403, json={"errorMessages": ["You do not have permission to edit issues in this project."], "errors": {}}))
    with pytest.raises(WriteRejected) as nf:
        tracker.update("PROD-404", {"customfield_10050": 1})
    assert nf.value.status == 404 and "does not exist, or the Jira account may not browse it" in str(nf.value)
    with pytest.raises(WriteRejected) as fb:
        tracker.update("PROD-403", {"customfield_10050": 1})
    assert fb.value.status == 403 and "Edit Issues permission" in str(fb.value)
    assert tracker.quiet_writes is True  # a plain permission 403 is not the notification refusal


@respx.mock
def test_401_is_not_a_per_issue_rejection(tracker: JiraTracker) -> None:
    respx.put(f"{URL}/rest/api/3/issue/PROD-7").mock(return_value=httpx.Response(401))
    with pytest.raises(FatalAPIError) as info:
        tracker.update("PROD-7", {"customfield_10050": 1})
    assert info.value.status == 401 and API_TOKEN not in str(info.value)


@respx.mock
def test_429_on_write_is_retried_after_the_servers_wait(tracker: JiraTracker, sleeps: list[float]) -> None:
    route = respx.put(f"{URL}/rest/api/3/issue/PROD-7").mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "5"}), httpx.Response(204)])
    tracker.update("PROD-7", {"customfield_10050": 1})
    assert route.call_count == 2 and sleeps == [5.0]


# -- metadata --------------------------------------------------------------------------------


@respx.mock
def test_editable_fields_from_editmeta(tracker: JiraTracker) -> None:
    # the spec's example response for GET /rest/api/3/issue/{issueIdOrKey}/editmeta, plus our field
    meta = json.loads('{"fields":{"summary":{"allowedValues":["red","blue"],"defaultValue":"red","hasDefaultValue":false,'
                      '"key":"field_key","name":"My Multi Select","operations":["set","add"],"required":false,"schema":'
                      '{"custom":"com.atlassian.jira.plugin.system.customfieldtypes:multiselect","customId":10001,'
                      '"items":"option","type":"array"}}}}')
    meta["fields"]["customfield_10050"] = {"key": "customfield_10050", "name": "Customer requests",
                                           "operations": ["set"], "required": False, "schema": {"type": "number"}}
    respx.get(f"{URL}/rest/api/3/issue/PROD-7/editmeta").mock(return_value=httpx.Response(200, json=meta))
    assert set(tracker.editable_fields("PROD-7")) == {"summary", "customfield_10050"}


@respx.mock
def test_server_info_and_myself(tracker: JiraTracker) -> None:
    respx.get(f"{URL}/rest/api/3/serverInfo").mock(return_value=httpx.Response(200, json={
        "baseUrl": URL, "deploymentType": "Cloud", "version": "1001.0.0-SNAPSHOT", "versionNumbers": [5, 0, 0]}))
    respx.get(f"{URL}/rest/api/3/myself").mock(return_value=httpx.Response(200, json={
        "accountId": "5b10a2844c20165700ede21g", "accountType": "atlassian", "active": True, "timeZone": "Australia/Sydney"}))
    assert tracker.server_info()["deploymentType"] == "Cloud"
    assert tracker.myself()["timeZone"] == "Australia/Sydney"


# -- Data Center ---------------------------------------------------------------------------------


@respx.mock
def test_data_center_uses_pat_v2_and_offset_paging() -> None:
    tracker = JiraTracker("https://jira.acme.internal", pat="dc-pat-secret", page_size=2)
    all_issues = [_issue(f"PROD-{n}", n) for n in range(1, 4)]
    for issue in all_issues:
        issue["fields"]["description"] = "h1. Wiki markup stays text"
    bodies: list[dict[str, Any]] = []

    def search(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer dc-pat-secret"
        body = json.loads(request.content)
        bodies.append(copy.deepcopy(body))
        start = body["startAt"]
        return httpx.Response(200, json={"startAt": start, "maxResults": 2, "total": 3,
                                         "issues": all_issues[start:start + body["maxResults"]]})

    respx.post("https://jira.acme.internal/rest/api/2/search").mock(side_effect=search)
    epics = list(tracker.epics("project = PROD", ["customfield_10050"]))
    assert [e.key for e in epics] == ["PROD-1", "PROD-2", "PROD-3"]
    assert epics[0].description == "h1. Wiki markup stays text"
    assert [b["startAt"] for b in bodies] == [0, 2]


def test_constructor_wants_one_kind_of_credentials() -> None:
    with pytest.raises(ValueError, match="email \\+ api_token"):
        JiraTracker(URL)
    with pytest.raises(ValueError, match="not both"):
        JiraTracker(URL, email="a@b.c", api_token="t", pat="p")
    with pytest.raises(ValueError, match="plain-http"):
        JiraTracker("http://jira.acme.com", pat="p")
    JiraTracker("http://jira.acme.com", pat="p", allow_insecure_http=True)


@respx.mock
def test_a_comment_update_refused_for_notify_users_is_sent_again_without_it(
        tracker: JiraTracker, caplog: pytest.LogCaptureFixture) -> None:
    """A non-admin gets the same 403 for a quiet comment update as for a quiet issue edit (issue 11)."""
    caplog.set_level(logging.WARNING, logger="demandsync.jira")
    refusal = {"errorMessages": ["To discard the user notification either admin or project admin permissions are required."],
               "errors": {}}

    def edit(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("notifyUsers") == "false":
            return httpx.Response(403, json=refusal)
        return httpx.Response(200, json={"id": "10100", "body": json.loads(request.content)["body"]})

    route = respx.put(url__regex=rf"{URL}/rest/api/3/issue/PROD-\d+/comment/\d+").mock(side_effect=edit)
    assert tracker.update_comment("PROD-7", "10100", "new body")["id"] == "10100"
    tracker.update_comment("PROD-8", "10200", "other body")
    sent = [(c.request.url.path, c.request.url.params.get("notifyUsers")) for c in route.calls]
    assert sent == [("/rest/api/3/issue/PROD-7/comment/10100", "false"), ("/rest/api/3/issue/PROD-7/comment/10100", None),
                    ("/rest/api/3/issue/PROD-8/comment/10200", None)]
    assert caplog.text.count("notifyUsers=false") == 1 and tracker.quiet_writes is False


@respx.mock
def test_a_comment_update_refused_for_another_reason_is_not_retried(tracker: JiraTracker) -> None:
    route = respx.put(f"{URL}/rest/api/3/issue/PROD-7/comment/10100").mock(
        return_value=httpx.Response(403, json={"errorMessages": ["You do not have permission to edit this comment."]}))
    with pytest.raises(FatalAPIError, match="permission to edit this comment"):
        tracker.update_comment("PROD-7", "10100", "new body")
    assert route.call_count == 1 and tracker.quiet_writes is True
