"""JiraSource: feedback issues become records, and the cursor makes pulls incremental."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
import respx

from demandsync.connectors.base import Record, SourceContext
from demandsync.connectors.jira.source import JiraSource, JiraSourceOptions, epic_keys, incremental_jql, split_order_by
from demandsync.domain import Quarantined

URL = "https://acme.atlassian.net"
SEARCH = f"{URL}/rest/api/3/search/jql"
TOKEN = "ATATT-source-secret"


def _feedback(key: str, updated: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": key.split("-")[1], "key": key, "self": f"{URL}/rest/api/3/issue/{key}",
        "fields": {
            "summary": f"Please add SSO ({key})",
            "description": {"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "We need Okta."}]}]},
            "reporter": {"accountId": "5b10a2844c20165700ede21g", "emailAddress": "ann@globex.com",
                         "displayName": "Ann", "accountType": "customer"},
            "created": "2024-04-30T09:00:00.000+0000",
            "updated": updated,
            "labels": ["sso"],
            **fields,
        },
    }


def _source(tmp_path: Path, full: bool = False, **options: Any) -> JiraSource:
    opts = JiraSourceOptions(url=URL, email="ops@acme.com", api_token=TOKEN,
                             jql="project = FB ORDER BY created DESC", **options)
    return JiraSource(opts, SourceContext(name="jira-feedback", base_dir=tmp_path, full=full), sleep=lambda s: None)


def _mock(issues: list[dict[str, Any]], tz: str = "America/Los_Angeles") -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []

    def search(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"issues": issues, "isLast": True})

    respx.post(SEARCH).mock(side_effect=search)
    respx.get(f"{URL}/rest/api/3/myself").mock(return_value=httpx.Response(200, json={"accountId": "x", "timeZone": tz}))
    return bodies


@respx.mock
def test_records_carry_flat_text_epic_keys_and_locator(tmp_path: Path) -> None:
    issue = _feedback(
        "FB-1", "2024-05-01T10:15:30.000+0000",
        parent={"id": "1", "key": "PROD-7", "fields": {"summary": "SSO", "issuetype": {"name": "Epic", "hierarchyLevel": 1}}},
        issuelinks=[
            {"id": "1", "type": {"name": "Relates", "inward": "relates to", "outward": "relates to"},
             "outwardIssue": {"id": "2", "key": "PROD-9", "fields": {"issuetype": {"name": "Epic", "hierarchyLevel": 1}}}},
            {"id": "2", "type": {"name": "Blocks"}, "inwardIssue": {"id": "3", "key": "PROD-7"}},
            {"id": "3", "type": {"name": "Relates"}, "inwardIssue": {"id": "4", "key": "PROD-100",
                                                                      "fields": {"issuetype": {"name": "Sub-task", "hierarchyLevel": -1}}}},
        ],
    )
    bodies = _mock([issue])
    source = _source(tmp_path)
    (record,) = list(source.pull({}))
    assert isinstance(record, Record)
    assert record.locator == "jira issue FB-1"
    data = record.data
    assert data["key"] == "FB-1"
    assert data["fields"]["description_text"] == "We need Okta."
    assert data["fields"]["description"]["type"] == "doc"  # the original is kept too
    assert data["epic_keys"] == ["PROD-7", "PROD-9"]
    assert data["browse_url"] == f"{URL}/browse/FB-1"
    assert data["fields"]["reporter"]["emailAddress"] == "ann@globex.com"
    assert bodies[0]["jql"] == "project = FB ORDER BY created DESC"
    assert bodies[0]["fields"] == ["summary", "description", "reporter", "created", "updated", "labels", "parent", "issuelinks"]
    assert issue["fields"].get("description_text") is None  # the API payload itself is not mutated


@respx.mock
def test_cursor_is_newest_update_in_the_accounts_time_zone(tmp_path: Path) -> None:
    _mock([
        _feedback("FB-1", "2024-05-01T10:15:30.000+0000"),
        _feedback("FB-2", "2024-05-01T12:59:59.999+0200"),  # 10:59:59 UTC: the newest
        _feedback("FB-3", "2024-04-01T00:00:00.000+0000"),
    ])
    source = _source(tmp_path)
    assert len(list(source.pull({}))) == 3
    assert source.cursor == {"updated": "2024-05-01 03:59"}  # PDT is UTC-7; minutes floor, >= re-reads the boundary


@respx.mock
def test_incremental_pull_appends_updated_clause(tmp_path: Path) -> None:
    bodies = _mock([_feedback("FB-4", "2024-05-02T08:00:00.000+0000")], tz="UTC")
    source = _source(tmp_path)
    list(source.pull({"updated": "2024-05-01 03:59"}))
    assert bodies[0]["jql"] == '(project = FB) AND updated >= "2024-05-01 03:59" ORDER BY created DESC'
    assert source.cursor == {"updated": "2024-05-02 08:00"}


@respx.mock
def test_full_pull_ignores_the_cursor(tmp_path: Path) -> None:
    bodies = _mock([_feedback("FB-4", "2024-05-02T08:00:00.000+0000")], tz="UTC")
    source = _source(tmp_path, full=True)
    list(source.pull({"updated": "2024-05-01 03:59"}))
    assert bodies[0]["jql"] == "project = FB ORDER BY created DESC"
    assert source.complete() is True


@respx.mock
def test_nothing_new_keeps_the_old_cursor(tmp_path: Path) -> None:
    _mock([])
    source = _source(tmp_path)
    assert list(source.pull({"updated": "2024-05-01 03:59"})) == []
    assert source.cursor == {"updated": "2024-05-01 03:59"}


@respx.mock
def test_malformed_cursor_falls_back_to_a_full_read(tmp_path: Path) -> None:
    bodies = _mock([], tz="UTC")
    list(_source(tmp_path).pull({"updated": '2024" OR 1=1'}))
    assert bodies[0]["jql"] == "project = FB ORDER BY created DESC"


@respx.mock
def test_issue_without_fields_is_quarantined(tmp_path: Path) -> None:
    _mock([{"id": "99", "key": "FB-99"}, _feedback("FB-1", "2024-05-01T10:15:30.000+0000")], tz="UTC")
    out = list(_source(tmp_path).pull({}))
    assert isinstance(out[0], Quarantined) and out[0].locator == "jira issue FB-99" and out[0].source == "jira-feedback"
    assert isinstance(out[1], Record)


@respx.mock
def test_organization_and_epic_link_fields(tmp_path: Path) -> None:
    issue = _feedback("FB-5", "2024-05-01T10:15:30.000+0000",
                      customfield_10002=[{"id": "1", "name": "Globex"}, {"id": "2", "name": "Initech"}],
                      customfield_10014="PROD-12")
    bodies = _mock([issue], tz="UTC")
    source = _source(tmp_path, organization_field="customfield_10002", epic_link_field="customfield_10014")
    (record,) = list(source.pull({}))
    assert isinstance(record, Record)
    assert record.data["organizations"] == ["Globex", "Initech"] and record.data["organization"] == "Globex"
    assert record.data["epic_keys"] == ["PROD-12"]
    assert bodies[0]["fields"][-2:] == ["customfield_10002", "customfield_10014"]


def test_epic_keys_skip_a_sub_tasks_story_parent() -> None:
    fields = {"parent": {"key": "PROD-3", "fields": {"issuetype": {"name": "Story", "hierarchyLevel": 0}}}}
    assert epic_keys(fields) == []
    assert epic_keys({"parent": {"key": "PROD-3"}}) == ["PROD-3"]  # level unknown: let the linker decide


def test_split_order_by_and_incremental_jql() -> None:
    assert split_order_by("project = FB") == ("project = FB", "")
    assert split_order_by("project = FB order by updated") == ("project = FB", "ORDER BY updated")
    assert split_order_by('summary ~ "sort ORDER BY date"') == ('summary ~ "sort ORDER BY date"', "")
    assert incremental_jql("ORDER BY created", "2024-01-01 00:00") == 'updated >= "2024-01-01 00:00" ORDER BY created'
    assert incremental_jql("a = 1 OR b = 2", "2024-01-01 00:00") == '(a = 1 OR b = 2) AND updated >= "2024-01-01 00:00"'
    assert incremental_jql("a = 1", None) == "a = 1"
    with pytest.raises(ValueError):
        incremental_jql("a = 1", 'x" OR project = SECRET')


def test_options_validation_names_the_problem() -> None:
    ok = JiraSourceOptions(url=URL, jql="project = FB", pat="p")
    assert ok.page_size == 100 and TOKEN not in repr(JiraSourceOptions(url=URL, jql="x", email="a@b.c", api_token=TOKEN))
    with pytest.raises(pydantic.ValidationError, match="email \\+ api_token"):
        JiraSourceOptions(url=URL, jql="project = FB")
    with pytest.raises(pydantic.ValidationError, match="not both"):
        JiraSourceOptions(url=URL, jql="project = FB", pat="p", email="a@b.c", api_token="t")
    with pytest.raises(pydantic.ValidationError, match="plain-http"):
        JiraSourceOptions(url="http://jira.acme.com", jql="project = FB", pat="p")
    with pytest.raises(pydantic.ValidationError, match="extra"):
        JiraSourceOptions(url=URL, jql="project = FB", pat="p", tokn="typo")
    with pytest.raises(pydantic.ValidationError):
        JiraSourceOptions(url=URL, jql="", pat="p")
    assert JiraSource.kind == "jira"


def test_check_proves_the_credentials_and_the_jql_or_names_the_refusal(tmp_path: Path) -> None:
    from demandsync.connectors.base import SourceCheckFailed
    from demandsync.sandbox.jira import JiraSandbox, demo_state

    with JiraSandbox(demo_state(), email="demo@example.com", api_token="sandbox-token") as sb:
        sb.start()

        def source(token: str) -> JiraSource:
            opts = JiraSourceOptions(url=sb.url, email="demo@example.com", api_token=token, jql="project = PROD")
            return JiraSource(opts, SourceContext("support", tmp_path), max_attempts=1)

        assert source("sandbox-token").check().endswith("the JQL selects at least one issue")
        with pytest.raises(SourceCheckFailed) as exc:
            source("wrong").check()
    assert str(exc.value).startswith("source 'support' (Jira): HTTP 401") and "wrong" not in str(exc.value).split(":", 1)[1]
