"""What the PM sees on the epic, end to end: the managed summary comment, the
requester list for closing the loop, and the Slack digest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx
from conftest import cli, run_json

from demandsync.connectors.jira.adf import adf_to_text
from demandsync.sandbox.jira import JiraSandbox

WEBHOOK = "https://hooks.slack.com/services/T000/B000/secretpart123"


def comments(sandbox: JiraSandbox, key: str) -> list[dict[str, object]]:
    return sandbox.state.comments(sandbox.state.issue(key))


@pytest.fixture
def slack() -> Iterator[respx.Route]:
    with respx.mock:
        respx.route(host="127.0.0.1").pass_through()
        yield respx.post(WEBHOOK).mock(return_value=httpx.Response(200, text="ok"))


def test_managed_summary_is_written_once_and_edited_in_place(sandbox: JiraSandbox, config: Path) -> None:
    config.write_text(config.read_text() + '\n[summary]\nenabled = true\ntop = 3\n')
    report = run_json(config)
    assert report["summaries"]["created"] == 5  # PROD-3 has no demand: nothing to say
    first = comments(sandbox, "PROD-1")
    assert len(first) == 1
    text = adf_to_text(first[0]["body"])
    assert "6 requests" in text and "Asked again for single sign-on" in text and "demandsync" in text
    assert comments(sandbox, "PROD-3") == []

    again = run_json(config)
    assert again["summaries"]["unchanged"] == 5 and again["summaries"]["created"] == 0
    assert comments(sandbox, "PROD-1") == first
    config.write_text(config.read_text().replace("top = 3", "top = 2"))
    fewer = run_json(config)  # other settings, other content, though nothing else changed
    assert fewer["summaries"]["updated"] >= 1 and len(comments(sandbox, "PROD-1")) == 1
    assert run_json(config)["summaries"] == again["summaries"]

    notes = config.parent / "exports" / "sales-call-notes.csv"
    notes.write_text(notes.read_text() + "2026-11-20,Wayne,bruce@wayne.com,enterprise,SSO for Wayne too,PROD-1\n")
    changed = run_json(config)
    assert changed["summaries"]["updated"] == 1
    now = comments(sandbox, "PROD-1")
    assert len(now) == 1 and now[0]["id"] == first[0]["id"]
    text = adf_to_text(now[0]["body"])
    assert "“SSO for Wayne too” — Wayne" in text  # the newest request and its account ...
    assert "bruce@wayne.com" not in text  # ... but no e-mail reaches Jira unless [summary] show_emails


def test_summary_is_found_again_after_the_store_is_lost(sandbox: JiraSandbox, config: Path, tmp_path: Path,
                                                        store_url: str) -> None:
    if not store_url.startswith("sqlite"):
        pytest.skip("losing the store is simulated with a fresh SQLite file")
    config.write_text(config.read_text() + '\n[summary]\nenabled = true\n')
    run_json(config)
    lost = config.read_text().replace(store_url, f"sqlite:///{tmp_path / 'fresh.db'}")
    config.write_text(lost)
    run_json(config)
    assert all(len(comments(sandbox, k)) == 1 for k in ("PROD-1", "PROD-2", "PROD-4", "PROD-5", "PROD-6"))


def test_requesters_lists_who_asked_with_contact(sandbox: JiraSandbox, config: Path) -> None:
    run_json(config)
    code, stdout, _ = cli("requesters", "PROD-1", "--config", str(config), "--format", "csv")
    assert code == 0
    lines = stdout.strip().splitlines()
    assert lines[0] == "person,contact,account,sources,items,votes,first_asked,last_asked"
    assert len(lines) == 1 + 5
    assert any(line.startswith("ines@globex.com,ines@globex.com,Globex,sales-notes") for line in lines)


def test_slack_digest_after_a_change_never_leaks_the_webhook(
    sandbox: JiraSandbox, config: Path, slack: respx.Route
) -> None:
    config.write_text(config.read_text() + f'\n[notify]\nslack_webhook = "{WEBHOOK}"\n')
    run_json(config)
    assert slack.call_count == 0  # the first run is the baseline: nothing has moved yet
    notes = config.parent / "exports" / "sales-call-notes.csv"
    notes.write_text(notes.read_text() + "2026-11-20,Wayne,bruce@wayne.com,enterprise,Slack alerts please,PROD-4\n")
    code, stdout, stderr = cli("run", "--config", str(config), "--json", "--log-json", "-v")
    assert code == 0
    assert slack.call_count == 1
    payload = json.loads(slack.calls.last.request.content)
    assert "PROD-4" in json.dumps(payload)
    assert "secretpart123" not in stdout + stderr


def test_slack_failure_never_fails_the_sync(sandbox: JiraSandbox, config: Path, slack: respx.Route) -> None:
    slack.mock(return_value=httpx.Response(500, text="no_service"))
    config.write_text(config.read_text() + f'\n[notify]\nslack_webhook = "{WEBHOOK}"\n')
    run_json(config)
    notes = config.parent / "exports" / "sales-call-notes.csv"
    notes.write_text(notes.read_text() + "2026-11-20,Wayne,bruce@wayne.com,enterprise,Slack alerts please,PROD-4\n")
    code, _, _ = cli("run", "--config", str(config), "--json")
    assert code == 0
