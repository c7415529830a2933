"""The Jira sandbox, exercised the way clients use it: real HTTP over loopback with httpx.

Whatever the sandbox gets wrong, every e2e test and benchmark built on it
inherits, so these tests pin the Jira behaviours that bite (docs/architecture.md,
"Jira facts that bite") rather than the implementation.
"""

from __future__ import annotations

import base64
import http.client
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from demandsync.sandbox.jira import JiraSandbox, SandboxState, demo_state, generate_state
from demandsync.sandbox.jql import JqlError, compile_jql
from demandsync.sandbox.state import adf

AUTH = ("demo@example.com", "sandbox-token")
SEARCH = "/rest/api/3/search/jql"
EPICS = "project = PROD AND issuetype = Epic"


@pytest.fixture
def sandbox() -> Iterator[JiraSandbox]:
    with JiraSandbox(demo_state()) as sb:
        yield sb


@pytest.fixture
def client(sandbox: JiraSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, auth=AUTH, timeout=5) as c:
        yield c


def search_all(client: httpx.Client, jql: str, **extra: Any) -> tuple[list[dict[str, Any]], int]:
    """Follow nextPageToken until it is absent; returns (issues, pages)."""
    issues: list[dict[str, Any]] = []
    body: dict[str, Any] = {"jql": jql, **extra}
    pages = 0
    while True:
        page = client.post(SEARCH, json=body)
        assert page.status_code == 200, page.text
        data = page.json()
        pages += 1
        issues += data["issues"]
        assert "total" not in data and "startAt" not in data
        if "nextPageToken" not in data:
            assert data["isLast"] is True
            return issues, pages
        assert data["isLast"] is False
        body["nextPageToken"] = data["nextPageToken"]


# -- search ------------------------------------------------------------------


def test_pagination_follows_tokens_and_caps_page_size() -> None:
    with JiraSandbox(generate_state(n_epics=250, seed=1), page_cap=100) as sb, \
            httpx.Client(base_url=sb.url, auth=AUTH) as c:
        issues, pages = search_all(c, EPICS, maxResults=1000, fields=["summary"])
        assert (len(issues), pages) == (250, 3)  # 1000 asked, capped at 100
        assert len({i["key"] for i in issues}) == 250
        _, pages = search_all(c, EPICS, maxResults=60)
        assert pages == 5  # a smaller maxResults is honoured
        assert sb.requests[("POST", SEARCH)] == 8


def test_generated_state_is_reproducible_and_pages_through_2000_epics() -> None:
    """(How fast the sandbox answers is bench/run.py's epic-read scenario, not a timed test.)"""
    a, b = generate_state(n_epics=2000, seed=1), generate_state(n_epics=2000, seed=1)
    assert [i["fields"]["summary"] for i in a.issues()] == [i["fields"]["summary"] for i in b.issues()]
    with JiraSandbox(a) as sb, httpx.Client(base_url=sb.url, auth=AUTH) as c:
        issues, pages = search_all(c, EPICS, maxResults=100, fields=["summary", "description", "labels",
                                                                     "status", "customfield_10050"])
        assert (len(issues), pages) == (2000, 20)
        assert len({i["key"] for i in issues}) == 2000


def test_fields_default_to_ids_only(client: httpx.Client) -> None:
    issues = client.post(SEARCH, json={"jql": EPICS}).json()["issues"]
    assert len(issues) == 6 and all(set(i) == {"id"} for i in issues)


def test_fields_selection_all_unknown_and_excluded(client: httpx.Client) -> None:
    one = client.post(SEARCH, json={"jql": "key = PROD-1", "fields": ["summary", "customfield_10050",
                                                                      "nosuchfield"]}).json()["issues"][0]
    assert (one["key"], one["self"].endswith("/rest/api/3/issue/" + one["id"])) == ("PROD-1", True)
    assert one["fields"] == {"summary": "Single sign-on (SAML/SSO) for enterprise", "customfield_10050": None}
    everything = client.get(SEARCH, params={"jql": "key = PROD-1", "fields": "*all,-description"}).json()
    fields = everything["issues"][0]["fields"]
    assert "description" not in fields and fields["customfield_10055"] is None
    assert fields["issuetype"] == {"id": "10000", "description": fields["issuetype"]["description"],
                                   "name": "Epic", "subtask": False, "hierarchyLevel": 1}
    assert fields["status"]["statusCategory"]["key"] == "indeterminate"
    assert fields["project"]["key"] == "PROD"


def test_search_default_order_is_newest_first(client: httpx.Client) -> None:
    issues = client.post(SEARCH, json={"jql": EPICS, "fields": ["summary"]}).json()["issues"]
    assert [i["key"] for i in issues] == ["PROD-6", "PROD-5", "PROD-4", "PROD-3", "PROD-2", "PROD-1"]


@pytest.mark.parametrize("body, message", [
    ({"jql": "order by key"}, "Unbounded JQL queries are not allowed"),
    ({"jql": EPICS, "startAt": 0}, 'Unrecognized field "startAt"'),
    ({"jql": EPICS, "nextPageToken": "garbage"}, "next page token"),
    ({"jql": "project = PROD AND"}, "Error in the JQL Query"),
])
def test_bad_search_requests_are_400(client: httpx.Client, body: dict[str, Any], message: str) -> None:
    r = client.post(SEARCH, json=body)
    assert r.status_code == 400 and message in r.json()["errorMessages"][0]


def test_token_from_another_query_is_refused(client: httpx.Client) -> None:
    token = client.post(SEARCH, json={"jql": EPICS, "maxResults": 2}).json()["nextPageToken"]
    assert client.post(SEARCH, json={"jql": "project = PROD", "nextPageToken": token}).status_code == 400


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("path", ["/rest/api/3/search", "/rest/api/2/search"])
def test_removed_search_is_410(client: httpx.Client, method: str, path: str) -> None:
    r = client.request(method, path, params={"jql": EPICS}, json={"jql": EPICS} if method == "POST" else None)
    assert r.status_code == 410
    assert r.json()["errorMessages"][0].startswith("The requested API has been removed. Please migrate "
                                                   "to the /rest/api/3/search/jql API.")


# -- auth --------------------------------------------------------------------


@pytest.mark.parametrize("auth", [None, ("demo@example.com", "wrong"), ("other@example.com", "sandbox-token")])
def test_every_endpoint_needs_basic_auth(sandbox: JiraSandbox, auth: tuple[str, str] | None) -> None:
    for method, path in [("GET", "/rest/api/3/myself"), ("POST", SEARCH), ("GET", "/rest/api/3/field"),
                         ("PUT", "/rest/api/3/issue/PROD-1"), ("GET", "/rest/api/3/search")]:
        r = httpx.request(method, sandbox.url + path, auth=auth, json={})
        assert r.status_code == 401, (method, path)
        assert "WWW-Authenticate" in r.headers


def test_bearer_pat_accepted_only_when_configured() -> None:
    with JiraSandbox(demo_state(), pat="pat-123") as sb:
        ok = httpx.get(sb.url + "/rest/api/3/myself", headers={"Authorization": "Bearer pat-123"})
        bad = httpx.get(sb.url + "/rest/api/3/myself", headers={"Authorization": "Bearer nope"})
        assert (ok.status_code, bad.status_code) == (200, 401)
        assert ok.json()["emailAddress"] == "demo@example.com"
    with JiraSandbox(demo_state()) as sb:
        assert httpx.get(sb.url + "/rest/api/3/myself",
                         headers={"Authorization": "Bearer pat-123"}).status_code == 401


# -- fields, issues and edits -----------------------------------------------


def test_field_list_matches_spec_shape(client: httpx.Client) -> None:
    fields = client.get("/rest/api/3/field").json()
    by_id = {f["id"]: f for f in fields}
    assert {"summary", "description", "labels", "status", "issuetype", "project", "parent", "created",
            "updated"} <= set(by_id)
    cr = by_id["customfield_10050"]
    assert cr == {"id": "customfield_10050", "key": "customfield_10050", "name": "Customer requests",
                  "custom": True, "orderable": True, "navigable": True, "searchable": True,
                  "clauseNames": ["cf[10050]", "Customer requests"],
                  "schema": {"type": "number", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float",
                             "customId": 10050}}
    assert by_id["customfield_10055"]["schema"]["type"] == "date"
    assert by_id["customfield_10058"]["schema"]["type"] == "string"
    assert by_id["labels"]["schema"] == {"type": "array", "items": "string", "system": "labels"}
    assert [f["id"] for f in fields if f["name"] == "Team"] == ["customfield_10001", "customfield_10060"]


def test_get_issue_defaults_to_all_fields_and_404s(client: httpx.Client) -> None:
    issue = client.get("/rest/api/3/issue/PROD-7").json()
    assert issue["fields"]["parent"]["key"] == "PROD-1"
    assert issue["fields"]["issuetype"]["hierarchyLevel"] == 0
    assert issue["fields"]["description"]["type"] == "doc"
    by_id = client.get(f"/rest/api/3/issue/{issue['id']}", params={"fields": "summary"}).json()
    assert by_id["key"] == "PROD-7" and set(by_id["fields"]) == {"summary"}
    missing = client.get("/rest/api/3/issue/PROD-999")
    assert missing.status_code == 404
    assert missing.json()["errorMessages"] == ["Issue does not exist or you do not have permission to see it."]
    assert client.put("/rest/api/3/issue/NOPE-1", json={"fields": {}}).status_code == 404


def test_edit_persists_bumps_updated_and_null_clears(sandbox: JiraSandbox, client: httpx.Client) -> None:
    before = sandbox.state.issue("PROD-1")["fields"]["updated"]
    r = client.put("/rest/api/3/issue/PROD-1", json={"fields": {
        "customfield_10050": 42, "customfield_10054": 17.5, "customfield_10055": "2026-10-31",
        "customfield_10058": "hotjar: 30, sales: 12"}})
    assert (r.status_code, r.content) == (204, b"")
    fields = sandbox.state.issue("PROD-1")["fields"]
    assert (fields["customfield_10050"], fields["customfield_10054"]) == (42, 17.5)
    assert fields["updated"] > before
    got = client.get("/rest/api/3/issue/PROD-1", params={"fields": "customfield_10050,customfield_10055"}).json()
    assert got["fields"] == {"customfield_10050": 42, "customfield_10055": "2026-10-31"}
    stamp = fields["updated"]
    assert client.put("/rest/api/3/issue/PROD-1", json={"fields": {"customfield_10050": 42}}).status_code == 204
    assert sandbox.state.issue("PROD-1")["fields"]["updated"] == stamp  # no change, no bump
    assert client.put("/rest/api/3/issue/PROD-1", json={"fields": {"customfield_10050": None}}).status_code == 204
    assert sandbox.state.issue("PROD-1")["fields"]["customfield_10050"] is None
    assert sandbox.writes["PROD-1"] == 3


def test_update_operations_on_labels(sandbox: JiraSandbox, client: httpx.Client) -> None:
    r = client.put("/rest/api/3/issue/PROD-2", json={"update": {"labels": [{"add": "demand"}, {"remove": "reporting"}]}})
    assert r.status_code == 204
    assert sandbox.state.issue("PROD-2")["fields"]["labels"] == ["demand"]


def test_field_not_on_screen_is_400_per_field(sandbox: JiraSandbox, client: httpx.Client) -> None:
    r = client.put("/rest/api/3/issue/PROD-1", json={"fields": {"customfield_10099": 1, "customfield_10050": 5}})
    assert r.status_code == 400
    assert r.json() == {"errorMessages": [], "errors": {"customfield_10099": (
        "Field 'customfield_10099' cannot be set. It is not on the appropriate screen, or unknown.")}}
    assert sandbox.state.issue("PROD-1")["fields"]["customfield_10050"] is None  # all or nothing
    # The same field is on a story's screen.
    assert client.put("/rest/api/3/issue/PROD-7", json={"fields": {"customfield_10099": 1}}).status_code == 204
    editable = client.get("/rest/api/3/issue/PROD-1/editmeta").json()["fields"]
    assert "customfield_10050" in editable and "customfield_10099" not in editable


@pytest.mark.parametrize("field_id, value, message", [
    ("customfield_10050", "42", "Operation value must be a number"),
    ("customfield_10050", True, "Operation value must be a number"),
    ("customfield_10055", "31/10/2026", "Error parsing date string: 31/10/2026"),
    ("customfield_10055", "2026-02-30", "Error parsing date string: 2026-02-30"),
    ("customfield_10058", 12, "Operation value must be a string"),
    ("customfield_10058", "x" * 256, "exceeds the allowed limit of 255 characters"),
    ("description", "plain text", "Operation value must be an Atlassian Document"),
    ("status", {"name": "Done"}, "cannot be set"),
    ("customfield_12345", 1, "cannot be set"),
])
def test_wrong_type_is_400_with_field_message(client: httpx.Client, field_id: str, value: Any, message: str) -> None:
    r = client.put("/rest/api/3/issue/PROD-1", json={"fields": {field_id: value}})
    assert r.status_code == 400
    assert message in r.json()["errors"][field_id]


def test_invalid_json_body_is_400(client: httpx.Client) -> None:
    r = client.put("/rest/api/3/issue/PROD-1", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and "Invalid request payload" in r.json()["errorMessages"][0]


def test_notify_users_false_needs_admin() -> None:
    body = {"fields": {"customfield_10050": 3}}
    with JiraSandbox(demo_state(), admin=False) as sb, httpx.Client(base_url=sb.url, auth=AUTH) as c:
        r = c.put("/rest/api/3/issue/PROD-1", params={"notifyUsers": "false"}, json=body)
        assert r.status_code == 403
        assert "admin or project admin permissions are required" in r.json()["errorMessages"][0]
        assert sb.state.issue("PROD-1")["fields"]["customfield_10050"] is None
        assert c.put("/rest/api/3/issue/PROD-1", json=body).status_code == 204  # the client's fallback
    with JiraSandbox(demo_state()) as sb, httpx.Client(base_url=sb.url, auth=AUTH) as c:
        assert c.put("/rest/api/3/issue/PROD-1", params={"notifyUsers": "false"}, json=body).status_code == 204


# -- comments, identity ------------------------------------------------------


def test_comments_round_trip(client: httpx.Client) -> None:
    base = "/rest/api/3/issue/PROD-1/comment"
    ids = []
    for n in range(3):
        r = client.post(base, json={"body": adf(f"Demand summary v{n}")})
        assert r.status_code == 201
        ids.append(r.json()["id"])
    page = client.get(base, params={"startAt": 1, "maxResults": 1}).json()
    assert (page["startAt"], page["maxResults"], page["total"]) == (1, 1, 3)
    assert page["comments"][0]["id"] == ids[1]
    r = client.put(f"{base}/{ids[0]}", json={"body": adf("Updated summary")})
    assert r.status_code == 200
    got = client.get(f"{base}/{ids[0]}").json()
    assert got["body"]["content"][0]["content"][0]["text"] == "Updated summary"
    assert got["self"].endswith(f"/comment/{ids[0]}")
    assert client.get(f"{base}/99999").status_code == 404
    assert client.post(base, json={"body": "plain"}).status_code == 400


def test_myself_and_server_info(client: httpx.Client) -> None:
    me = client.get("/rest/api/3/myself").json()
    assert me["emailAddress"] == "demo@example.com" and me["accountId"] and me["active"]
    info = client.get("/rest/api/3/serverInfo").json()
    assert info["deploymentType"] == "Cloud" and info["baseUrl"] == str(client.base_url).rstrip("/")


# -- faults, latency, limits, counters ---------------------------------------


def test_injected_failures_carry_retry_after_at_about_the_rate() -> None:
    with JiraSandbox(demo_state(), fail_rate=0.3, retry_after=0, seed=7) as sb, \
            httpx.Client(base_url=sb.url, auth=AUTH) as c:
        statuses = []
        for _ in range(300):
            r = c.get("/rest/api/3/myself")
            statuses.append(r.status_code)
            if r.status_code != 200:
                assert r.headers["Retry-After"] == "0"
        failed = [s for s in statuses if s != 200]
        assert set(failed) == {429, 503}
        assert 0.2 < len(failed) / len(statuses) < 0.4
        assert sum(sb.faults.values()) == len(failed)
    with JiraSandbox(demo_state(), fail_rate=1.0, retry_after=3) as sb:
        r = httpx.get(sb.url + "/rest/api/3/myself", auth=AUTH)
        assert r.status_code in (429, 503) and r.headers["Retry-After"] == "3"


def test_latency_is_added_to_every_request() -> None:
    with JiraSandbox(demo_state(), latency=0.05) as sb, httpx.Client(base_url=sb.url, auth=AUTH) as c:
        started = time.perf_counter()
        for _ in range(4):
            c.get("/rest/api/3/serverInfo")
        assert time.perf_counter() - started >= 0.2


def test_per_issue_write_limit() -> None:
    body = {"fields": {"customfield_10050": 1}}
    now = [1000.0]  # the sandbox's clock: the window passes when the test says so, not after a real sleep
    with JiraSandbox(demo_state(), write_limit=2, write_window=0.3, clock=lambda: now[0]) as sb, \
            httpx.Client(base_url=sb.url, auth=AUTH) as c:
        assert [c.put("/rest/api/3/issue/PROD-1", json=body).status_code for _ in range(2)] == [204, 204]
        limited = c.put("/rest/api/3/issue/PROD-1", json=body)
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "1"  # whole seconds, rounded up, as Jira sends it
        assert limited.headers["RateLimit-Reason"] == "jira-per-issue-on-write"
        assert c.put("/rest/api/3/issue/PROD-2", json=body).status_code == 204  # other issues unaffected
        now[0] += 0.35
        assert c.put("/rest/api/3/issue/PROD-1", json=body).status_code == 204
        assert sb.writes["PROD-1"] == 3


def test_request_counters_by_route_template(sandbox: JiraSandbox, client: httpx.Client) -> None:
    client.post(SEARCH, json={"jql": EPICS})
    client.get("/rest/api/3/issue/PROD-1")
    client.get("/rest/api/3/issue/PROD-2")
    client.put("/rest/api/3/issue/PROD-2", json={"fields": {"customfield_10050": 1}})
    assert sandbox.requests == {("POST", SEARCH): 1, ("GET", "/rest/api/3/issue/{key}"): 2,
                                ("PUT", "/rest/api/3/issue/{key}"): 1}
    sandbox.reset_counters()
    assert not sandbox.requests and not sandbox.writes


def test_connections_are_kept_alive(sandbox: JiraSandbox) -> None:
    host, port = sandbox.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    auth = "Basic " + base64.b64encode(":".join(AUTH).encode()).decode()
    for _ in range(3):
        conn.request("GET", "/rest/api/3/serverInfo", headers={"Authorization": auth})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200 and not resp.will_close
    sock = conn.sock
    conn.request("GET", "/rest/api/3/myself", headers={"Authorization": auth})
    conn.getresponse().read()
    assert conn.sock is sock  # the same TCP connection served every request
    conn.close()


# -- JQL ---------------------------------------------------------------------


def _keys(state: SandboxState, jql: str) -> list[str]:
    q = compile_jql(jql, state.catalog())
    return [i["key"] for i in q.sort([i for i in state.issues() if q.matches(i)])]


@pytest.fixture(scope="module")
def jql_state() -> SandboxState:
    state = demo_state()
    state.add_project("OPS", "Operations")
    state.add_issue("OPS", "Rotate certificates", issuetype="Task", labels=["security"])
    state.edit(state.issue("PROD-2"), {"customfield_10050": 12, "customfield_10055": "2026-10-01"})
    state.edit(state.issue("PROD-4"), {"customfield_10050": 30})
    return state


@pytest.mark.parametrize("jql, expected", [
    ("project = PROD AND issuetype = Epic ORDER BY key ASC", ["PROD-1", "PROD-2", "PROD-3", "PROD-4", "PROD-5", "PROD-6"]),
    ("project in (PROD, OPS) AND type in (Task) ORDER BY key", ["OPS-1", "PROD-8", "PROD-11"]),
    ("PROJECT = ops", ["OPS-1"]),
    ("key = PROD-3", ["PROD-3"]),
    ("key in (PROD-1, prod-2) order by key asc", ["PROD-1", "PROD-2"]),
    ('status = "In Progress" AND type = Epic', ["PROD-6", "PROD-1"]),
    ("status != Done AND issuetype = Epic AND project = PROD", ["PROD-6", "PROD-5", "PROD-4", "PROD-2", "PROD-1"]),
    ("statusCategory = Done", ["PROD-8", "PROD-3"]),
    ('statusCategory != "To Do" and type = epic', ["PROD-6", "PROD-3", "PROD-1"]),
    ("labels = security", ["PROD-1", "OPS-1"]),
    ("labels in (ui, mobile) ORDER BY key", ["PROD-3", "PROD-5"]),
    ("labels != security AND project = PROD AND type = Epic", ["PROD-6", "PROD-5", "PROD-4", "PROD-3", "PROD-2"]),
    ("parent = PROD-1", ["PROD-8", "PROD-7"]),
    ("parent is EMPTY and project = PROD and type != Epic", ["PROD-11"]),
    ('created >= "2025-03-24" AND type = Epic', ["PROD-6", "PROD-5", "PROD-4"]),
    ('created < "2025/03/11 00:00" AND type = Epic', ["PROD-2", "PROD-1"]),
    ("updated >= -1d", ["PROD-4", "PROD-2", "OPS-1"]),
    ('text ~ "slack"', ["PROD-10", "PROD-4"]),
    ("summary ~ export", ["PROD-9", "PROD-2"]),
    ("(labels = ui OR labels = mobile) AND NOT status = Done", ["PROD-5"]),
    ("type = Epic AND (status = Done OR key = PROD-2) ORDER BY created DESC", ["PROD-3", "PROD-2"]),
    ('"Customer requests" > 10 ORDER BY "Customer requests" DESC', ["PROD-4", "PROD-2"]),
    ("cf[10050] is not EMPTY ORDER BY cf[10050] ASC", ["PROD-2", "PROD-4"]),
    ('"Last requested" >= 2026-09-01', ["PROD-2"]),
])
def test_jql_clauses(jql_state: SandboxState, jql: str, expected: list[str]) -> None:
    assert _keys(jql_state, jql) == expected


@pytest.mark.parametrize("jql, message", [
    ("foo = bar", "Field 'foo' does not exist or you do not have permission to view it."),
    ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
    ("issuetype = Saga", "The value 'Saga' does not exist for the field 'issuetype'."),
    ("status = Shipped", "The value 'Shipped' does not exist for the field 'status'."),
    ("project = PROD status = Done", "Expecting either 'OR' or 'AND' but got 'status'. (line 1, character 16)"),
    ("project = OR", "You must surround 'OR' in quotation marks"),
    ("project PROD", "Expecting operator but got 'PROD'"),
    ('project = "PROD', "has not been completed"),
    ("project = PROD AND (type = Epic", "Expecting ')'"),
    ("project ~ PROD", "The operator '~' is not supported by the 'project' field."),
    ('updated >= "last week"', "Date value 'last week' for field 'updated' is invalid"),
    ("key = PROD-999", "An issue with key 'PROD-999' does not exist for field 'key'."),
    ("project = PROD ORDER BY labels", "Not able to sort using field 'labels'."),
    ("project = PROD%", "The character '%' is a reserved JQL character"),
    ("updated >= startOfDay()", "Unable to find JQL function 'startOfDay()'."),
])
def test_jql_errors_read_like_jira(jql_state: SandboxState, jql: str, message: str) -> None:
    with pytest.raises(JqlError) as err:
        compile_jql(jql, jql_state.catalog())
    assert any(message in m for m in err.value.messages), err.value.messages


def test_jql_error_is_400_over_http(client: httpx.Client) -> None:
    r = client.post(SEARCH, json={"jql": "frobnicate = 1 AND project = NOPE"})
    assert r.status_code == 400
    assert r.json()["errorMessages"] == [
        "Field 'frobnicate' does not exist or you do not have permission to view it.",
        "The value 'NOPE' does not exist for the field 'project'.",
    ]


# -- Data Center flavour -----------------------------------------------------


def test_datacenter_flavor() -> None:
    with JiraSandbox(demo_state(), flavor="datacenter", pat="pat-1") as sb, \
            httpx.Client(base_url=sb.url, headers={"Authorization": "Bearer pat-1"}) as c:
        page = c.get("/rest/api/2/search", params={"jql": "project = PROD", "startAt": 2, "maxResults": 3}).json()
        assert (page["startAt"], page["maxResults"], page["total"], len(page["issues"])) == (2, 3, 11, 3)
        assert "summary" in page["issues"][0]["fields"]  # *navigable by default
        linked = c.post("/rest/api/2/search", json={"jql": '"Epic Link" = PROD-1', "fields": ["customfield_10014"]})
        assert [i["fields"]["customfield_10014"] for i in linked.json()["issues"]] == ["PROD-1", "PROD-1"]
        epic = c.get("/rest/api/2/issue/PROD-2", params={"fields": "description,parent"}).json()
        assert epic["fields"]["description"].startswith("Customers want to take report data")
        assert c.put("/rest/api/2/issue/PROD-11", json={"fields": {"customfield_10014": "PROD-2"}}).status_code == 204
        assert sb.state.issue("PROD-11")["fields"]["parent"]["key"] == "PROD-2"
        assert c.get("/rest/api/2/serverInfo").json()["deploymentType"] == "Server"
        assert c.get("/rest/api/3/field").status_code == 404
