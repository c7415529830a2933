"""Jira Data Center / Server over real HTTP against the sandbox's Data Center flavour:
REST v2, PAT as bearer, offset paging with ``total``, wiki-markup text, the Epic Link field."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from conftest import demo_config

from demandsync.config import load_config
from demandsync.connectors.base import Record, SourceContext
from demandsync.connectors.jira.source import JiraSource, JiraSourceOptions
from demandsync.connectors.jira.tracker import JiraTracker, deployment_of
from demandsync.domain import find_marker
from demandsync.sandbox.jira import JiraSandbox, demo_state
from demandsync.sync.demand import DemandRules, count_demand
from demandsync.sync.projects import plan_writes_per_project, resolve_targets_per_project
from demandsync.sync.run import run_sync
from demandsync.sync.store.store import LinkedItem, Store
from demandsync.sync.summary import items_by_epic, meta_key, sync_summaries
from demandsync.sync.writeback import apply_plan, plan_writes, resolve_targets

PAT = "dc-personal-access-token"
REQUESTS, LAST = "customfield_10050", "customfield_10055"
EPICS_JQL = "project = PROD AND issuetype = Epic ORDER BY key"
SEARCH = ("POST", "/rest/api/2/search")


@pytest.fixture
def dc() -> Iterator[JiraSandbox]:
    with JiraSandbox(demo_state(), flavor="datacenter", pat=PAT) as sb:
        yield sb


@pytest.fixture
def tracker(dc: JiraSandbox) -> Iterator[JiraTracker]:
    t = JiraTracker(dc.url, pat=PAT, allow_insecure_http=True, page_size=2)
    yield t
    t.close()


def test_deployment_is_read_from_server_info() -> None:
    assert deployment_of({"deploymentType": "Cloud"}) == "cloud"
    assert deployment_of({"deploymentType": "Server"}) == "datacenter"
    assert deployment_of({"deploymentType": "DataCenter"}) == "datacenter"
    assert deployment_of({}) == "datacenter"  # old Server releases; Cloud always says Cloud


def test_auto_detection_on_first_call(dc: JiraSandbox) -> None:
    # Basic auth would make the tracker guess Cloud; "auto" asks the server instead.
    t = JiraTracker(dc.url, email=dc.email, api_token=dc.api_token, deployment="auto", allow_insecure_http=True)
    try:
        assert [e.key for e in t.epics(EPICS_JQL, [])][:2] == ["PROD-1", "PROD-2"]
        assert t.deployment == "datacenter" and t.api == "/rest/api/2"
        assert dc.requests[("GET", "/rest/api/2/serverInfo")] == 1
    finally:
        t.close()
    with JiraSandbox(demo_state()) as cloud:
        t = JiraTracker(cloud.url, email=cloud.email, api_token=cloud.api_token, deployment="auto",
                        allow_insecure_http=True)
        try:
            assert t.detect_deployment() == "cloud" and t.api == "/rest/api/3"
        finally:
            t.close()


def test_search_pages_by_start_at_and_reads_v2_fields(dc: JiraSandbox, tracker: JiraTracker) -> None:
    assert tracker.deployment == "datacenter"  # a PAT means Data Center
    epics = list(tracker.epics(EPICS_JQL, [REQUESTS]))
    assert [e.key for e in epics] == [f"PROD-{i}" for i in range(1, 7)]
    assert dc.requests[SEARCH] == 3  # 6 epics, 2 per page, stopped at total
    assert epics[1].description.startswith("Customers want to take report data")  # wiki text, not ADF
    assert epics[0].status_category == "indeterminate" and epics[0].project == "PROD"
    fields = {f.id: f for f in tracker.fields()}
    assert fields[REQUESTS].name == "Customer requests" and fields[REQUESTS].type == "number"
    assert tracker.epic_link_field() == "customfield_10014"
    assert dc.requests[("GET", "/rest/api/2/field")] == 2


def test_writeback_plan_and_apply_over_v2(dc: JiraSandbox, tracker: JiraTracker, store: Store) -> None:
    targets = resolve_targets({"requests": "Customer requests", "last_requested": "Last requested"},
                              tracker.fields())
    epics = list(tracker.epics(EPICS_JQL, [t.field.id for t in targets]))
    items = [LinkedItem("PROD-1", 1, "s", "1", "sso", "a@x.com", "X", datetime(2026, 11, 2, tzinfo=UTC),
                        None, 1, {}, "explicit", 1.0, "accepted")]
    demand = count_demand(items, [e.key for e in epics], DemandRules(), datetime(2026, 11, 10, tzinfo=UTC))
    plan = plan_writes(epics, demand, targets)
    expected = {("PROD-1", REQUESTS, 1), ("PROD-1", LAST, "2026-11-02")}
    expected |= {(k, REQUESTS, 0) for k in ("PROD-2", "PROD-3", "PROD-4", "PROD-5", "PROD-6")}
    assert {(w.epic_key, w.field_id, w.new) for w in plan} == expected
    result = apply_plan(tracker, store, store.start_run("h", 1, False), plan)
    assert (result.applied, result.failed) == (len(plan), 0)
    assert dc.state.issue("PROD-1")["fields"][REQUESTS] == 1
    assert dc.requests[("PUT", "/rest/api/2/issue/{key}")] == 6
    again = list(tracker.epics(EPICS_JQL, [t.field.id for t in targets]))
    assert plan_writes(again, demand, targets) == []


def test_team_managed_style_resolution_per_project(dc: JiraSandbox, tracker: JiraTracker) -> None:
    epics = list(tracker.epics(EPICS_JQL, []))
    targets = resolve_targets_per_project(tracker, {"requests": "Customer requests"}, epics)
    assert targets.problems == [] and [t.field.id for t in targets.for_project("PROD")] == [REQUESTS]
    assert dc.requests[("GET", "/rest/api/2/issue/{key}/editmeta")] == 1  # one per project
    demand = count_demand([], [e.key for e in epics], DemandRules(), datetime(2026, 11, 10, tzinfo=UTC))
    assert len(plan_writes_per_project(epics, demand, targets)) == 6
    off = resolve_targets_per_project(tracker, {"requests": "Not on screen"}, epics)
    assert off.by_project == {} and "project PROD" in off.problems[0][1]


def test_wiki_comments_round_trip(dc: JiraSandbox, tracker: JiraTracker) -> None:
    created = tracker.add_comment("PROD-3", "h3. Hello\n\n* one\n* two")
    listed = list(tracker.comments("PROD-3"))
    assert [c["id"] for c in listed] == [created["id"]]
    assert listed[0]["body"] == "h3. Hello\n\n* one\n* two"
    tracker.update_comment("PROD-3", created["id"], "changed *text*")
    assert [c["body"] for c in tracker.comments("PROD-3")] == ["changed *text*"]
    assert dc.requests[("PUT", "/rest/api/2/issue/{key}/comment/{id}")] == 1


def test_managed_summary_in_wiki_markup(dc: JiraSandbox, tracker: JiraTracker, store: Store,
                                        tmp_path: Path) -> None:
    items = [LinkedItem("PROD-2", i, "survey", str(i), f"Excel export #{i} [urgent]", f"u{i}@acme.com", "Acme",
                        datetime(2026, 11, i, tzinfo=UTC), f"https://survey.example.com/r/{i}", 1, {}, "rule", 1.0,
                        "accepted") for i in (1, 2, 3)]
    demand = count_demand(items, ["PROD-2"], DemandRules(), datetime(2026, 11, 10, tzinfo=UTC))
    result = sync_summaries(tracker, store, ["PROD-2"], demand, items_by_epic(items), today=date(2026, 11, 10))
    assert result.created == 1
    [comment] = list(tracker.comments("PROD-2"))
    body = comment["body"]
    assert isinstance(body, str) and body.startswith("h3. Customer demand\n*3 requests*")
    # No e-mail reaches Jira unless [summary] show_emails: the account names the requester.
    assert "* _“Excel export \\#3 \\[urgent\\]”_ — Acme · [source|https://survey.example.com/r/3]" in body
    assert find_marker(body)[0] == "PROD-2"
    assert store.get_meta(meta_key("PROD-2"))["comment_id"] == comment["id"]

    lost = Store.open(f"sqlite:///{tmp_path / 'lost.db'}")
    try:
        dc.reset_counters()
        again = sync_summaries(tracker, lost, ["PROD-2"], demand, items_by_epic(items), today=date(2026, 11, 11))
        assert again.unchanged == 1 and dc.requests[("POST", "/rest/api/2/issue/{key}/comment")] == 0
        fewer = count_demand(items[:1], ["PROD-2"], DemandRules(), datetime(2026, 11, 10, tzinfo=UTC))
        changed = sync_summaries(tracker, lost, ["PROD-2"], fewer, items_by_epic(items[:1]), today=date(2026, 11, 11))
        assert changed.updated == 1 and len(list(tracker.comments("PROD-2"))) == 1
    finally:
        lost.close()


def test_epic_link_children_as_feedback_source(dc: JiraSandbox, tmp_path: Path) -> None:
    opts = JiraSourceOptions(url=dc.url, jql="project = PROD AND issuetype != Epic", pat=PAT,
                             allow_insecure_http=True, epic_link_field="customfield_10014")
    source = JiraSource(opts, SourceContext("dc", tmp_path))
    try:
        records = [r for r in source.pull({}) if isinstance(r, Record)]
    finally:
        source.close()
    linked = {r.data["key"]: r.data["epic_keys"] for r in records}
    assert linked["PROD-8"] == ["PROD-1"] and linked["PROD-10"] == ["PROD-4"]  # through Epic Link
    assert linked["PROD-11"] == []  # a child without an epic
    assert all(isinstance(r.data["fields"]["description"], str) for r in records)


def test_run_end_to_end_against_data_center(dc: JiraSandbox, tmp_path: Path, store_url: str) -> None:
    path = demo_config(tmp_path, dc.url, store_url)
    path.write_text(path.read_text().replace('email = "demo@example.com"\napi_token = "sandbox-token"', f'pat = "{PAT}"'))
    first = run_sync(load_config(path))
    assert first.exit_code == 0, first.errors
    # 6 epics x 5 fields, less PROD-3's empty date and sources (no demand: nothing to write there)
    assert first.writes["applied"] == 28 and dc.requests[SEARCH] == 1
    assert dc.state.issue("PROD-1")["fields"][REQUESTS] == 6  # same figures as the Cloud e2e test
    second = run_sync(load_config(path))
    assert second.writes == {"planned": 0, "applied": 0, "failed": 0}
