"""`status` for the ops engineer; `forget` for a GDPR erasure request."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import cli, run_json

from demandsync.sandbox.jira import JiraSandbox


def test_status_shows_runs_sources_and_failures(sandbox: JiraSandbox, config: Path) -> None:
    run_json(config)
    config.write_text(config.read_text().replace('sources = "Demand sources"', 'votes = "Not on screen"'))
    run_json(config, exit_code=1)  # the field not on the screen fails its writes
    code, stdout, _ = cli("status", "--config", str(config), "--json")
    doc = json.loads(stdout)
    assert code == 0
    assert [r["status"] for r in doc["runs"]] == ["partial", "ok"]
    assert doc["runs"][1]["new_items"] == 22 and doc["items"] == 22
    assert {s["name"] for s in doc["sources"]} == {"exit-survey", "sales-notes"}
    assert all(s["last_error"] is None and s["cursor"] for s in doc["sources"])
    assert {w["field"] for w in doc["failed_writes_last_run"]} == {"customfield_10099"}
    code, stdout, _ = cli("status", "--config", str(config))
    assert code == 0 and "Recent runs" in stdout and "partial" in stdout


def test_forget_removes_a_person_and_counts_drop(sandbox: JiraSandbox, config: Path) -> None:
    run_json(config)
    assert sandbox.state.issue("PROD-1")["fields"]["customfield_10051"] == 5
    code, stdout, _ = cli("forget", " Ines@Globex.com", "--config", str(config))
    assert code == 0 and "removed 1 item(s)" in stdout
    run_json(config)
    fields = sandbox.state.issue("PROD-1")["fields"]
    assert (fields["customfield_10050"], fields["customfield_10051"], fields["customfield_10052"]) == (5, 4, 1)


def test_a_run_that_cannot_reach_jira_is_recorded_as_failed(sandbox: JiraSandbox, config: Path) -> None:
    run_json(config)
    sandbox.stop()  # Jira goes away
    config.write_text(config.read_text().replace("[jira]\n", "[jira]\nmax_attempts = 1\ntimeout = 2\n", 1))
    report = run_json(config, exit_code=1)
    assert report["exit_code"] == 1 and report["errors"][0]["stage"] == "jira"
    code, stdout, _ = cli("status", "--config", str(config), "--json")
    runs = json.loads(stdout)["runs"]
    assert [r["status"] for r in runs] == ["failed", "ok"]
