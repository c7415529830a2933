"""`fields` and `check`: what an admin runs while writing [jira.fields]."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import cli

from demandsync.sandbox.jira import JiraSandbox


def test_fields_lists_ids_names_and_types(sandbox: JiraSandbox, config: Path) -> None:
    code, stdout, _ = cli("fields", "--config", str(config), "--json")
    assert code == 0
    fields = {f["id"]: f for f in json.loads(stdout)}
    assert fields["customfield_10050"] == {"id": "customfield_10050", "name": "Customer requests",
                                           "type": "number", "custom": True}
    assert [f["name"] for f in fields.values()].count("Team") == 2
    code, stdout, _ = cli("fields", "--config", str(config))
    assert code == 0 and "customfield_10055" in stdout


def test_check_passes_on_a_good_config(sandbox: JiraSandbox, config: Path) -> None:
    code, stdout, stderr = cli("check", "--config", str(config))
    assert code == 0, stdout + stderr
    assert "✓ jira fields: requests -> Customer requests (customfield_10050), requesters" in stdout
    assert "✓ epics: 6 selected by jira.epics\n" in stdout
    assert "✗" not in stdout and stdout.endswith("14 ok, 0 failed\n")


def test_check_names_a_field_missing_from_the_edit_screen(sandbox: JiraSandbox, config: Path) -> None:
    config.write_text(config.read_text().replace('sources = "Demand sources"', 'votes = "Not on screen"'))
    code, stdout, _ = cli("check", "--config", str(config))
    assert code == 1
    assert ("✗ edit screen of project PROD: Not on screen (customfield_10099) not on the edit screen of PROD-1\n"
            "    fix: add it to project PROD's Epic edit screen\n") in stdout


def test_check_rejects_a_figure_on_a_field_of_the_wrong_type(sandbox: JiraSandbox, config: Path) -> None:
    config.write_text(config.read_text().replace('sources = "Demand sources"', 'sources = "Customer requests"'))
    code, stdout, _ = cli("check", "--config", str(config))
    assert code == 2
    assert "✗ jira fields: jira.fields.sources:" in stdout and "needs a string field" in stdout
    assert "fix: fix jira.fields.sources" in stdout


def test_version_and_bare_command() -> None:
    from demandsync import __version__

    code, stdout, _ = cli("--version")
    assert code == 0 and stdout.strip() == f"demandsync {__version__}"
    code, _, _ = cli()
    assert code == 2  # usage: the help, and a non-zero exit cron would notice
