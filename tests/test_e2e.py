"""End to end: the `demandsync` command over real HTTP against the Jira sandbox.

The fixture lays out the demo's exports and config (two overlapping Hotjar
exports + sales notes with accounts) with similarity linking off, so every
expected number below can be checked by hand against
``src/demandsync/examples/``.
"""

from __future__ import annotations

import gc
import json
import shutil
from pathlib import Path

import pytest
from conftest import cli, run_json
from typer.testing import CliRunner

from demandsync.cli.main import PLAN_ROWS, app, print_report
from demandsync.sandbox.jira import JiraSandbox
from demandsync.sync.run import RunReport
from demandsync.sync.store.lock import RunLock
from demandsync.sync.store.store import Store

REQUESTS, REQUESTERS, ACCOUNTS, LAST, SOURCES = (
    "customfield_10050", "customfield_10051", "customfield_10052", "customfield_10055", "customfield_10058")
PUT = ("PUT", "/rest/api/3/issue/{key}")

# Worked out by hand from the example files (see the module docstring).
EXPECTED = {
    "PROD-1": {REQUESTS: 6, REQUESTERS: 5, ACCOUNTS: 2, LAST: "2026-10-20", SOURCES: "exit-survey 4 · sales-notes 2"},
    "PROD-2": {REQUESTS: 4, REQUESTERS: 3, ACCOUNTS: 1, LAST: "2026-10-18", SOURCES: "exit-survey 3 · sales-notes 1"},
    "PROD-3": {REQUESTS: 0, REQUESTERS: 0, ACCOUNTS: 0, LAST: None, SOURCES: None},
    "PROD-4": {REQUESTS: 3, REQUESTERS: 3, ACCOUNTS: 1, LAST: "2026-10-20", SOURCES: "exit-survey 2 · sales-notes 1"},
    "PROD-5": {REQUESTS: 1, REQUESTERS: 1, ACCOUNTS: 1, LAST: "2026-11-03", SOURCES: "sales-notes 1"},
    "PROD-6": {REQUESTS: 2, REQUESTERS: 2, ACCOUNTS: 1, LAST: "2026-11-05", SOURCES: "exit-survey 1 · sales-notes 1"},
}


def values(sandbox: JiraSandbox, key: str) -> dict[str, object]:
    fields = sandbox.state.issue(key)["fields"]
    return {fid: _num(fields.get(fid)) for fid in (REQUESTS, REQUESTERS, ACCOUNTS, LAST, SOURCES)}


def _num(v: object) -> object:
    return int(v) if isinstance(v, float) and v.is_integer() else v


def test_first_run_writes_the_right_numbers_and_second_run_writes_nothing(sandbox: JiraSandbox, config: Path) -> None:
    code, stdout, _ = cli("run", "--config", str(config), "--json")
    assert code == 0, stdout
    report = json.loads(stdout)
    assert report["sources"]["exit-survey"] == {
        "pulled": 23, "new": 17, "changed": 0, "unchanged": 5, "quarantined": 0, "skipped": 1, "deleted": 0,
        "forgotten": 0, "error": None}  # the 5 rows both monthly exports hold are read twice, stored once
    assert report["sources"]["sales-notes"]["new"] == 5
    assert report["epics"] == 6
    assert report["links"] == {"explicit": 5, "rule": 11}
    for key, want in EXPECTED.items():
        assert values(sandbox, key) == want, key
    puts = sandbox.requests[PUT]
    assert puts == 6  # one PUT per changed epic, all its fields at once
    assert report["writes"]["applied"] == len(report["plan"]) and report["writes"]["failed"] == 0

    sandbox.reset_counters()
    code, stdout, _ = cli("run", "--config", str(config), "--json")
    again = json.loads(stdout)
    assert code == 0
    assert again["writes"] == {"planned": 0, "applied": 0, "failed": 0} and again["plan"] == []
    assert sandbox.requests[PUT] == 0
    assert again["sources"]["exit-survey"]["pulled"] == 0  # unchanged files are not re-read


def test_dry_run_prints_the_plan_and_writes_nothing(sandbox: JiraSandbox, config: Path) -> None:
    code, stdout, _ = cli("run", "--config", str(config), "--dry-run")
    assert code == 0
    assert "dry run" in stdout and "PROD-1" in stdout and "Customer requests" in stdout
    assert sandbox.requests[PUT] == 0
    assert values(sandbox, "PROD-1")[REQUESTS] is None
    code, stdout, _ = cli("run", "--config", str(config), "--json")  # the real run still has all to do
    assert json.loads(stdout)["writes"]["applied"] == 28  # 6 epics x 5 fields, less PROD-3's two empty ones


def test_a_long_plan_lists_its_first_writes_and_counts_the_rest(capsys: pytest.CaptureFixture[str]) -> None:
    """A first run plans a write per epic and figure: the run table lists the first PLAN_ROWS of them
    and says how many more there are (--json has them all), instead of laying out 10,000 rows."""
    report = RunReport(run_id=1, dry_run=True)
    report.plan = [{"epic": f"PROD-{n}", "field": REQUESTS, "field_name": "Customer requests", "figure": "requests",
                    "old": None, "new": n} for n in range(1, PLAN_ROWS + 51)]
    print_report(report)
    out = capsys.readouterr().out
    assert f"PROD-{PLAN_ROWS} " in out and f"PROD-{PLAN_ROWS + 1} " not in out
    assert "… and 50 more writes (--json lists every one)" in out


def test_reimporting_overlapping_exports_never_double_counts(sandbox: JiraSandbox, config: Path) -> None:
    assert cli("run", "--config", str(config))[0] == 0
    exports = config.parent / "exports"
    # the same export downloaded again under another name, and a copy of the older one
    shutil.copy(exports / "hotjar-exit-survey-2026-11.csv", exports / "hotjar-exit-survey-2026-11-again.csv")
    shutil.copy(exports / "hotjar-exit-survey-2026-10.csv", exports / "hotjar-exit-survey-2026-10 (1).csv")
    sandbox.reset_counters()
    code, stdout, _ = cli("run", "--config", str(config), "--json")
    report = json.loads(stdout)
    assert code == 0
    # the two new files are read (23 rows), every row already known: nothing new, nothing to write
    assert report["sources"]["exit-survey"]["pulled"] == 23 and report["sources"]["exit-survey"]["new"] == 0
    assert report["writes"]["planned"] == 0
    for key, want in EXPECTED.items():
        assert values(sandbox, key) == want, key


def test_explain_lists_the_items_behind_a_number(sandbox: JiraSandbox, config: Path) -> None:
    cli("run", "--config", str(config))
    code, stdout, _ = cli("explain", "PROD-1", "--config", str(config), "--json")
    doc = json.loads(stdout)
    assert code == 0 and doc["demand"]["requests"] == 6 and len(doc["items"]) == 6
    by_source = sorted((i["source"], i["method"]) for i in doc["items"])
    assert by_source == [("exit-survey", "rule")] * 4 + [("sales-notes", "explicit"), ("sales-notes", "rule")]
    code, stdout, _ = cli("explain", "PROD-1", "--config", str(config))
    assert "Blocker for renewal" in stdout


def test_unknown_or_ambiguous_field_exits_2_naming_the_key(sandbox: JiraSandbox, config: Path) -> None:
    text = config.read_text()
    config.write_text(text.replace('requests = "Customer requests"', 'requests = "Customer requets"'))
    code, _, stderr = cli("run", "--config", str(config))
    assert code == 2
    assert "jira.fields.requests" in stderr and "Customer requests" in stderr  # the close match is suggested
    config.write_text(text.replace('accounts = "Accounts"', 'accounts = "Team"'))
    code, _, stderr = cli("run", "--config", str(config))
    assert code == 2 and "jira.fields.accounts" in stderr and "Team" in stderr
    assert sandbox.requests[PUT] == 0


def test_config_error_exits_2_before_touching_anything(sandbox: JiraSandbox, config: Path) -> None:
    config.write_text(config.read_text().replace("[[rules]]\nepic = \"PROD-1\"", "[[rules]]\nepik = \"PROD-1\""))
    code, _, stderr = cli("run", "--config", str(config))
    assert code == 2 and "rules[0].epik" in stderr
    assert sum(sandbox.requests.values()) == 0


def test_field_not_on_screen_is_reported_per_field_and_the_rest_is_written(sandbox: JiraSandbox, config: Path) -> None:
    config.write_text(config.read_text().replace('sources = "Demand sources"', 'votes = "Not on screen"'))
    code, stdout, _ = cli("run", "--config", str(config), "--json")
    report = json.loads(stdout)
    assert code == 1
    failed = {(e["epic"], e["field"]) for e in report["errors"]}
    assert ("PROD-1", "customfield_10099") in failed
    assert all("screen" in e["error"] for e in report["errors"])
    assert values(sandbox, "PROD-1")[REQUESTS] == 6  # the epic's other fields still landed


def test_a_second_run_while_one_holds_the_lock_exits_75(sandbox: JiraSandbox, config: Path, store_url: str) -> None:
    store = Store.open(store_url)
    try:
        with RunLock.acquire(store.engine):
            code, _, stderr = cli("run", "--config", str(config))
    finally:
        store.close()
    assert code == 75
    assert "holds the" in stderr and "pid" in stderr


def test_wrong_token_fails_without_printing_it(sandbox: JiraSandbox, config: Path) -> None:
    config.write_text(config.read_text().replace('api_token = "sandbox-token"', 'api_token = "wrong-s3cret-tok"'))
    result = CliRunner().invoke(app, ["run", "--config", str(config), "--json", "--log-json"])
    assert result.exit_code == 1
    assert "wrong-s3cret-tok" not in result.output  # stdout and stderr
    report = json.loads(result.stdout)
    assert [e["stage"] for e in report["errors"]] == ["jira"]
    assert "HTTP 401" in report["errors"][0]["error"] and "credentials were refused" in report["errors"][0]["error"]
    assert sandbox.requests[PUT] == 0


def test_a_run_inside_another_program_leaves_its_garbage_collector_alone(sandbox: JiraSandbox, config: Path) -> None:
    # The `demandsync` executable freezes the collector's view of its imports (cli/gcfreeze.py); a caller
    # running the command in-process (a scheduler, a test) must not find its own objects frozen for good.
    frozen = gc.get_freeze_count()
    run_json(config)
    assert gc.get_freeze_count() == frozen


def test_bad_rows_are_quarantined_reported_and_listed(sandbox: JiraSandbox, config: Path) -> None:
    notes = config.parent / "exports" / "sales-call-notes.csv"
    notes.write_text(notes.read_text() + "someday,Acme,x@acme.org,pro,Wants dark mode,\n"
                     "2026-11-06,Acme,y@acme.org,pro,too,many,columns,here,\n")
    code, stdout, _ = cli("run", "--config", str(config), "--json")
    report = json.loads(stdout)
    assert code == 0  # bad input never fails the run...
    assert report["sources"]["sales-notes"]["quarantined"] == 2  # ...and never vanishes
    assert report["sources"]["sales-notes"]["new"] == 5
    code, stdout, _ = cli("quarantine", "--config", str(config), "--json")
    rows = {r["locator"]: r["reason"] for r in json.loads(stdout)}
    assert set(rows) == {"exports/sales-call-notes.csv row 7", "exports/sales-call-notes.csv row 8"}
    assert "someday" in rows["exports/sales-call-notes.csv row 7"]
    assert "column" in rows["exports/sales-call-notes.csv row 8"]
    for key, want in EXPECTED.items():
        assert values(sandbox, key) == want, key


def test_preview_shows_detected_preset_and_mapped_rows(sandbox: JiraSandbox, config: Path) -> None:
    code, stdout, _ = cli("preview", "exit-survey", "--config", str(config), "--rows", "2")
    assert code == 0
    assert "hotjar-survey" in stdout and "Hotjar User ID" in stdout and "row 2" in stdout
    code, _, stderr = cli("preview", "nope", "--config", str(config))
    assert code == 2 and "exit-survey" in stderr


def test_overlap_across_ingest_batches_is_still_counted_once(
    sandbox: JiraSandbox, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import demandsync.sync.pull as pull_module

    monkeypatch.setattr(pull_module, "_ITEM_BATCH", 3)  # the two exports' overlap spans many batches
    code, stdout, _ = cli("run", "--config", str(config), "--json")
    assert code == 0, stdout
    assert json.loads(stdout)["sources"]["exit-survey"]["new"] == 17
    for key, want in EXPECTED.items():
        assert values(sandbox, key) == want, key
