"""Team-managed projects own their fields: one name, one id per project."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_json

from demandsync.sandbox.jira import JiraSandbox, demo_state
from demandsync.sandbox.state import FieldDef


@pytest.fixture
def sandbox() -> Iterator[JiraSandbox]:
    state = demo_state()
    # PROD's "Customer requests" becomes PROD's own, and MOB (team-managed) gets another one
    state.fields = [dataclasses.replace(f, project="PROD") if f.id == "customfield_10050" else f
                    for f in state.fields]
    state.fields.append(FieldDef("customfield_20050", "Customer requests", "number",
                                 "com.atlassian.jira.plugin.system.customfieldtypes:float", project="MOB"))
    state.add_issue("MOB", "Offline sync in the mobile app")
    with JiraSandbox(state) as sb:
        sb.start()
        yield sb


def test_one_field_name_resolves_per_project(sandbox: JiraSandbox, config: Path) -> None:
    text = config.read_text().replace('epics = "project = PROD AND issuetype = Epic ORDER BY key"',
                                      'epics = "issuetype = Epic ORDER BY key"')
    config.write_text(text)
    notes = config.parent / "exports" / "sales-call-notes.csv"
    notes.write_text(notes.read_text() + "2026-11-07,Acme,kim@acme.org,pro,Offline sync on phones,MOB-1\n")
    report = run_json(config)
    assert report["errors"] == [] and report["epics"] == 7
    assert sandbox.state.issue("MOB-1")["fields"]["customfield_20050"] == 1
    assert "customfield_10050" not in sandbox.state.issue("MOB-1")["fields"] or \
        sandbox.state.issue("MOB-1")["fields"]["customfield_10050"] is None
    assert sandbox.state.issue("PROD-1")["fields"]["customfield_10050"] == 6
    assert run_json(config)["writes"]["planned"] == 0
