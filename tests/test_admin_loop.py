"""The admin's and ops engineer's loop (issue 13): check, typos, Jira down, dry runs,
JSON logs, interrupted runs, short item handles, help and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import cli

from demandsync.sandbox.jira import JiraSandbox
from demandsync.sync.store.store import Store

PUT = ("PUT", "/rest/api/3/issue/{key}")


def _store_url(config: Path) -> str:
    from demandsync.config import load_config

    return load_config(config).store_url


# ---- --dry-run changes nothing anywhere ---------------------------------------------------------


def test_dry_run_leaves_the_store_as_it_was_and_plans_what_the_real_run_does(
    sandbox: JiraSandbox, config: Path
) -> None:
    code, stdout, stderr = cli("run", "--config", str(config), "--dry-run", "--json")
    assert code == 0, stderr
    dry = json.loads(stdout)
    assert dry["sources"]["exit-survey"]["new"] == 17
    store = Store.open(_store_url(config))
    try:
        assert store.count_items() == 0
        assert store.get_cursor("exit-survey") == {}
        assert store.runs() == []
        assert store.link_counts() == {}
    finally:
        store.close()
    assert sandbox.requests[PUT] == 0

    code, stdout, _ = cli("run", "--config", str(config), "--json")
    real = json.loads(stdout)
    assert code == 0
    assert real["sources"]["exit-survey"]["new"] == 17  # the dry run had not pulled them
    assert real["plan"] == dry["plan"]
    # five fields on five epics, and zeros (no last date, no sources) on PROD-3, which nobody asked for
    assert real["writes"]["applied"] == len(dry["plan"]) == 5 * 5 + 3


# ---- Jira down fails fast, naming the cause and the key -----------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_is_not_retried_and_names_the_cause() -> None:
    from demandsync.connectors.http import ApiClient, ConnectFailed

    sleeps: list[float] = []
    port = _closed_port()
    client = ApiClient(f"http://127.0.0.1:{port}", sleep=sleeps.append)
    try:
        client.request("GET", "/rest/api/3/myself")
        raise AssertionError("expected ConnectFailed")
    except ConnectFailed as exc:
        assert exc.cause == "connection refused"
        assert str(exc) == (f"cannot connect to 127.0.0.1:{port} (GET http://127.0.0.1:{port}/rest/api/3/myself): "
                            "connection refused")
    finally:
        client.close()
    assert sleeps == [] and client.request_counts[("GET", "/rest/api/3/myself")] == 1


def test_unknown_host_and_tls_failures_are_not_retried(sandbox: JiraSandbox) -> None:
    import socket

    import httpx

    from demandsync.connectors.http import ApiClient, ConnectFailed

    def dns_fails(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known") from socket.gaierror(
            -2, "Name or service not known")

    sleeps: list[float] = []
    client = ApiClient("https://jira.exmaple.com", sleep=sleeps.append, transport=httpx.MockTransport(dns_fails))
    try:
        client.request("GET", "/x")
        raise AssertionError("expected ConnectFailed")
    except ConnectFailed as exc:
        assert exc.cause == "unknown host (DNS lookup failed: Name or service not known)"
        assert exc.host == "jira.exmaple.com:443"
    # https:// to a plain-http server (the sandbox) is a real TLS handshake failure on loopback
    tls = ApiClient(sandbox.url.replace("http://", "https://"), sleep=sleeps.append)
    try:
        tls.request("GET", "/rest/api/3/myself")
        raise AssertionError("expected ConnectFailed")
    except ConnectFailed as exc:
        assert exc.cause.startswith("TLS handshake failed"), exc.cause
    finally:
        tls.close()
    assert sleeps == []


def test_run_with_jira_down_fails_in_one_line_naming_jira_url(config: Path) -> None:
    import time

    port = _closed_port()
    text = config.read_text()
    start = text.index('url = "http://127.0.0.1:')
    end = text.index('"', start + 7)
    config.write_text(text[:start] + f'url = "http://127.0.0.1:{port}' + text[end:])
    began = time.monotonic()
    code, stdout, stderr = cli("run", "--config", str(config), "--json")
    assert time.monotonic() - began < 15  # no back-off (it used to take 19-28 s); one request is asserted too
    assert code == 1
    errors = json.loads(stdout)["errors"]
    assert errors == [{"stage": "jira", "error": f"cannot connect to 127.0.0.1:{port} (GET http://127.0.0.1:{port}"
                       f"/rest/api/3/field): connection refused; check jira.url in demandsync.toml"}]
    code, _, stderr = cli("run", "--config", str(config))
    assert code == 1
    failed = [line for line in stderr.splitlines() if line.startswith("failed:")]
    assert failed == [f"failed: jira: cannot connect to 127.0.0.1:{port} (GET http://127.0.0.1:{port}"
                      "/rest/api/3/field): connection refused; check jira.url in demandsync.toml"]


# ---- --source typos -----------------------------------------------------------------------------


def test_unknown_source_exits_2_listing_the_names(sandbox: JiraSandbox, config: Path) -> None:
    code, stdout, stderr = cli("run", "--config", str(config), "--source", "exit-survy")
    assert code == 2
    assert "no source named 'exit-survy'; the config has: exit-survey, sales-notes" in stderr
    assert sandbox.requests[PUT] == 0 and sum(sandbox.requests.values()) == 0


def test_several_sources_can_be_named(sandbox: JiraSandbox, config: Path) -> None:
    code, stdout, _ = cli("run", "--config", str(config), "--json", "--source", "sales-notes",
                          "--source", "exit-survey")
    assert code == 0
    assert sorted(json.loads(stdout)["sources"]) == ["exit-survey", "sales-notes"]
    code, stdout, _ = cli("run", "--config", str(config), "--json", "--full", "--source", "sales-notes")
    assert list(json.loads(stdout)["sources"]) == ["sales-notes"]


# ---- --log-json: JSON lines only, with structured fields ----------------------------------------


def test_log_json_prints_only_json_lines_with_structured_fields(sandbox: JiraSandbox, config: Path) -> None:
    from typer.testing import CliRunner

    from demandsync.cli.main import app

    result = CliRunner().invoke(app, ["run", "--config", str(config), "--log-json"])
    assert result.exit_code == 0
    out_lines = result.stdout.splitlines()
    err_lines = result.stderr.splitlines()
    docs = [json.loads(line) for line in out_lines + err_lines]  # every line parses
    assert len(out_lines) == 1 and docs[0]["event"] == "report" and docs[0]["writes"]["applied"] == 28
    pulled = {d["source"]: d for d in docs if d.get("event") == "source_pulled"}
    assert pulled["exit-survey"]["pulled"] == 23 and pulled["exit-survey"]["new"] == 17
    assert pulled["sales-notes"]["new"] == 5
    run_id = docs[0]["run_id"]
    assert all(d["run_id"] == run_id for d in docs if d.get("event") in ("source_pulled", "run_finished"))
    finished = next(d for d in docs if d.get("event") == "run_finished")
    assert finished["status"] == "ok" and finished["applied"] == 28


def test_log_json_config_error_is_a_json_line(sandbox: JiraSandbox, config: Path) -> None:
    from typer.testing import CliRunner

    from demandsync.cli.main import app

    result = CliRunner().invoke(app, ["run", "--config", str(config), "--log-json", "--source", "nope"])
    assert result.exit_code == 2 and result.stdout == ""
    [doc] = [json.loads(line) for line in result.stderr.splitlines()]
    assert doc["level"] == "error" and doc["exit_code"] == 2 and "no source named 'nope'" in doc["msg"]


def test_progress_logs_a_line_every_few_seconds_off_a_terminal(caplog: object) -> None:
    import logging

    from demandsync.cli.progress import LogProgress

    now = [0.0]
    progress = LogProgress(every=5.0, clock=lambda: now[0])
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("demandsync.progress")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        for step, t in enumerate((1.0, 4.9, 5.1, 6.0, 10.2)):
            now[0] = t
            progress.update("writes", step + 1, 5)
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in records] == ["progress: writes 3/5", "progress: writes 5/5"]


# ---- check finds what an admin gets wrong -------------------------------------------------------


def _check(config: Path) -> tuple[int, dict[str, dict[str, object]]]:
    code, stdout, stderr = cli("check", "--config", str(config), "--json")
    doc = json.loads(stdout)
    assert doc["exit_code"] == code, stderr
    return code, {c["check"]: c for c in doc["checks"]}


def test_check_a_glob_that_matches_nothing_exits_2_naming_the_path(sandbox: JiraSandbox, config: Path) -> None:
    config.write_text(config.read_text().replace('path = "exports/hotjar-exit-survey-*.csv"',
                                                 'path = "export/hotjar-exit-survey-*.csv"'))
    code, checks = _check(config)
    assert code == 2
    bad = checks["source exit-survey"]
    assert bad["ok"] is False and bad["kind"] == "config"
    assert "path 'export/hotjar-exit-survey-*.csv' matches no file" in str(bad["detail"])
    assert bad["fix"] == "fix sources[0] (exit-survey).path or put the export there"
    assert checks["source sales-notes"]["ok"] is True  # the other checks still ran
    assert checks["jira credentials"]["ok"] is True


def test_check_a_mapped_column_missing_from_the_export_exits_2(sandbox: JiraSandbox, config: Path) -> None:
    config.write_text(config.read_text().replace('account = "Customer"', 'account = "Company"'))
    code, checks = _check(config)
    assert code == 2
    bad = checks["source sales-notes mapping"]
    assert bad["ok"] is False and bad["kind"] == "config"
    assert "sources.sales-notes.map.account: column 'Company' is not in" in str(bad["detail"])
    assert bad["fix"] == "fix sources[1] (sales-notes).map (or its preset)"


def test_check_a_rule_for_an_epic_the_jql_does_not_select_exits_2(sandbox: JiraSandbox, config: Path) -> None:
    config.write_text(config.read_text().replace('epic = "PROD-4"', 'epic = "PROD-44"'))
    code, checks = _check(config)
    assert code == 2
    bad = checks["rule PROD-44"]
    assert bad["detail"] == "rules[2].epic = 'PROD-44' is not selected by jira.epics: the rule links nothing"
    assert checks["rule PROD-1"]["ok"] is True


def _add_sales_note(config: Path, request: str, *, at_end: bool) -> None:
    """One sales-notes row naming PROD-77 (which jira.epics does not select): at the end or first."""
    notes = config.parent / "exports" / "sales-call-notes.csv"
    lines = notes.read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    row = dict.fromkeys(header, "")
    row.update({"Request": request, "Epic": "PROD-77", "Contact email": "a@b.example",
                "Date": "2026-11-01", "Customer": "Acme"})
    new = ",".join(row[h] for h in header) + "\n"
    notes.write_text("".join(lines) + new if at_end else lines[0] + new + "".join(lines[1:]))


def test_check_an_explicit_key_in_the_data_that_is_not_selected_fails(sandbox: JiraSandbox, config: Path) -> None:
    # the last row, not the first: check reads every row of a file source, not a sample
    _add_sales_note(config, "please add PROD-77 soon", at_end=True)
    code, checks = _check(config)
    assert code == 1
    bad = checks["explicit key PROD-77"]
    assert bad["kind"] == "outside"
    assert bad["detail"] == ("PROD-77 is named in 1 item(s) but not selected by jira.epics: "
                             "they do not count for it")
    code, _, _ = cli("run", "--config", str(config))  # now in the store as well: still one item
    assert code == 0
    code, checks = _check(config)
    assert code == 1 and str(checks["explicit key PROD-77"]["detail"]).startswith("PROD-77 is named in 1 item(s)")


def test_check_a_postgres_url_without_its_driver_exits_2(sandbox: JiraSandbox, config: Path) -> None:
    text = config.read_text()
    start = text.index('[store]\nurl = "') + len('[store]\nurl = "')
    end = text.index('"', start)
    config.write_text(text[:start] + "postgresql+pg8000://ds:pw@127.0.0.1/ds" + text[end:])
    code, checks = _check(config)
    assert code == 2
    assert checks["store"]["detail"] == ("postgresql+pg8000://ds:***@127.0.0.1/ds: the driver module 'pg8000' "
                                         "is not installed: pip install pg8000")
    assert checks["store"]["fix"] == "fix store.url"
    code, stdout, stderr = cli("run", "--config", str(config))  # no traceback from run either
    assert code == 2 and "Traceback" not in stderr
    assert "store.url: postgresql+pg8000://ds:***@127.0.0.1/ds: the driver module 'pg8000' is not installed" in stderr


def test_check_with_jira_down_exits_1_fast_naming_jira_url(config: Path) -> None:
    import time

    port = _closed_port()
    text = config.read_text()
    start = text.index('url = "http://127.0.0.1:')
    config.write_text(text[:start] + f'url = "http://127.0.0.1:{port}' + text[text.index('"', start + 7):])
    began = time.monotonic()
    code, stdout, _ = cli("check", "--config", str(config))
    assert time.monotonic() - began < 15  # no back-off (it used to take 19-28 s); one request is asserted too
    assert code == 1
    assert f"✗ jira credentials: cannot connect to 127.0.0.1:{port}" in stdout
    assert "connection refused\n    fix: check jira.url\n" in stdout


# ---- status: interrupted runs, and why runs failed ----------------------------------------------


def test_status_shows_a_killed_run_as_interrupted_and_why_runs_failed(sandbox: JiraSandbox, config: Path) -> None:
    from demandsync.sync.store.lock import RunLock

    code, _, _ = cli("run", "--config", str(config))
    assert code == 0
    store = Store.open(_store_url(config))
    try:
        killed = store.start_run("gone-host", 999_999, False)  # what a kill -9 leaves behind
        with RunLock.acquire(store.engine):  # while someone holds the lock, it is still running
            code, stdout, _ = cli("status", "--config", str(config), "--json")
            assert json.loads(stdout)["runs"][0]["status"] == "running"
    finally:
        store.close()
    code, stdout, _ = cli("status", "--config", str(config), "--json")
    runs = json.loads(stdout)["runs"]
    assert runs[0]["id"] == killed and runs[0]["status"] == "interrupted"
    assert runs[0]["why"].startswith("stopped before finishing")
    assert runs[1]["status"] == "ok" and runs[1]["why"] is None

    sandbox.stop()  # Jira goes away: the next run fails, and status says why
    code, _, _ = cli("run", "--config", str(config))
    assert code == 1
    code, stdout, _ = cli("status", "--config", str(config), "--json")
    runs = json.loads(stdout)["runs"]
    assert runs[0]["status"] == "failed"
    assert runs[0]["why"].startswith("jira: cannot connect to 127.0.0.1:")
    assert runs[0]["why"].endswith("connection refused; check jira.url in demandsync.toml")
    assert runs[1]["id"] == killed and runs[1]["status"] == "interrupted"  # the next run marked it so
    code, stdout, _ = cli("status", "--config", str(config))
    assert "interrupted" in stdout and "connection refused" in stdout


# ---- short, shell-safe item handles -------------------------------------------------------------


def test_handles_are_shell_safe_whatever_the_id() -> None:
    import re
    import shlex

    from demandsync.handles import item_handle

    for external_id in ("a b|c", "x'y\"z", "$(rm -rf /)", "0" * 64, "1234"):
        handle = item_handle("exit-survey", external_id)
        assert re.fullmatch(r"exit-survey:[a-z2-7]{8}", handle) and shlex.quote(handle) == handle
    assert item_handle("exit-survey", "a b|c") != item_handle("exit-survey", "a b|d")
    assert item_handle("exit-survey", "1") != item_handle("sales-notes", "1")


def test_handles_shown_by_explain_and_suggest_work_with_link_unlink_and_import(
    sandbox: JiraSandbox, config: Path, tmp_path: Path
) -> None:
    from demandsync.handles import item_handle

    code, _, _ = cli("run", "--config", str(config))
    assert code == 0
    code, stdout, _ = cli("explain", "PROD-1", "--config", str(config), "--json")
    items = json.loads(stdout)["items"]
    note = next(i for i in items if i["source"] == "sales-notes")  # its id is a content hash, "sha256:…"
    assert note["item_id"].startswith("sha256:") and note["handle"] == item_handle("sales-notes", note["item_id"])
    code, stdout, _ = cli("explain", "PROD-1", "--config", str(config))
    assert f"- {note['handle']}  " in stdout and note["item_id"] not in stdout

    code, stdout, _ = cli("unlink", note["handle"], "PROD-1", "--config", str(config))
    assert code == 0, stdout
    code, stdout, _ = cli("explain", "PROD-1", "--config", str(config), "--json", "--state", "rejected")
    assert [i["handle"] for i in json.loads(stdout)["items"]] == [note["handle"]]
    prefix = note["handle"][: len("sales-notes:") + 5]  # an unambiguous prefix will do
    code, _, _ = cli("link", prefix, "PROD-3", "--config", str(config))
    assert code == 0
    code, stdout, _ = cli("suggest", "PROD-3", "--config", str(config), "--json")
    assert note["handle"] in [r["handle"] for r in json.loads(stdout)]
    code, stdout, _ = cli("suggest", "PROD-3", "--config", str(config))
    assert note["handle"] in stdout and "demandsync link HANDLE PROD-3" in stdout

    edited = tmp_path / "decisions.csv"  # a spreadsheet with handles only
    edited.write_text(f"handle,epic,state\n{note['handle']},PROD-1,accepted\n")
    code, stdout, stderr = cli("links", "import", str(edited), "--config", str(config))
    assert code == 0, stderr
    assert "1 decision(s) saved, 0 unchanged, 0 skipped" in stdout
    code, stdout, _ = cli("link", f"sales-notes:{note['item_id']}", "PROD-2", "--config", str(config))
    assert code == 0  # the long id still works


# ---- demo --keep leaves a directory the README's commands work on --------------------------------


def test_demo_keep_leaves_a_config_that_works_once_the_sandbox_is_served(tmp_path: Path) -> None:
    from demandsync.sandbox.jira import demo_state

    kept = tmp_path / "demo"
    port = _closed_port()
    code, stdout, _ = cli("demo", "--keep", str(kept), "--sandbox-port", str(port), "--json")
    assert code == 0
    demo_writes = json.loads(stdout)["first"]["writes"]["applied"]
    config = kept / "demandsync.toml"
    text = config.read_text()
    assert f'url = "http://127.0.0.1:{port}"' in text and f"#   demandsync sandbox --port {port}\n" in text

    code, stdout, _ = cli("explain", "PROD-1", "--config", str(config))  # the store alone: no Jira needed
    assert code == 0 and "6 accepted item(s)" in stdout
    # what `demandsync sandbox --port PORT` serves: the demo site with its default credentials
    served = JiraSandbox(demo_state())
    served.start(port=port)
    try:
        code, stdout, _ = cli("check", "--config", str(config))
        assert code == 0, stdout
        code, stdout, _ = cli("run", "--config", str(config), "--json")
        # a fresh sandbox holds no figures yet: the kept store's run writes what the demo wrote
        assert code == 0 and json.loads(stdout)["writes"]["applied"] == demo_writes == 30
    finally:
        served.stop()
    code, stdout, _ = cli("demo", "--keep", str(tmp_path / "again"), "--sandbox-port", str(port))
    assert code == 0 and f"`demandsync sandbox --port {port}`" in stdout


def test_live_progress_on_a_terminal_shows_rows_per_source_and_writes(sandbox: JiraSandbox, config: Path) -> None:
    import io

    from rich.console import Console

    from demandsync.cli.progress import progress_for
    from demandsync.config import load_config
    from demandsync.sync.run import run_sync

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=80, color_system=None)
    with progress_for(console, live=True) as progress:
        report = run_sync(load_config(config), progress=progress)
    assert report.writes["applied"] == 28
    import re

    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())  # cursor moves between refreshes
    final = [line.split() for line in text.replace("\r", "\n").splitlines()]
    shown = {(w[0], w[1]) if w[0] == "source" else (w[0],): w[-2] for w in final if len(w) >= 3}
    assert shown[("source", "exit-survey")] == "23/23" and shown[("source", "sales-notes")] == "5/5"
    assert shown[("epics",)] == "6/6" and shown[("writes",)] == "6/6"  # one PUT per changed epic


# ---- help, -V, and the README's exit codes ------------------------------------------------------


def test_every_option_of_every_command_has_help() -> None:
    from typer.main import get_command

    from demandsync.cli.main import app

    missing: list[str] = []

    def walk(command: object, path: str) -> None:
        for param in getattr(command, "params", []):
            if param.name != "help" and not getattr(param, "help", None):
                missing.append(f"{path} {param.name}")
        for name, sub in getattr(command, "commands", {}).items():
            code, stdout, _ = cli(*path.split()[1:], name, "--help")
            assert code == 0 and stdout.strip(), f"{path} {name} --help"
            walk(sub, f"{path} {name}")

    walk(get_command(app), "demandsync")
    assert missing == []


def test_dash_capital_v_prints_the_version() -> None:
    from demandsync import __version__

    assert cli("-V") == (0, f"demandsync {__version__}\n", "")


def _readme_exit_codes() -> dict[int, str]:
    import re

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    table = readme.split("### Exit codes", 1)[1].split("###", 1)[0]
    return {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d+) \| (.+) \|$", table, re.M)}


def test_readme_exit_code_table_matches_what_happens(sandbox: JiraSandbox, config: Path) -> None:
    codes = _readme_exit_codes()
    assert sorted(codes) == [0, 1, 2, 75]
    good = config.read_text()
    config.write_text(good.replace('api_token = "sandbox-token"', 'api_token = "wrong-token"'))
    code, _, _ = cli("run", "--config", str(config))
    assert "wrong token" in codes[code] and code == 1
    code, _, _ = cli("check", "--config", str(config))
    assert code == 1
    config.write_text(good)
    code, _, _ = cli("run", "--config", str(config), "--source", "nope")
    assert "unknown `--source`" in codes[code] and code == 2
    code, _, _ = cli("run", "--config", str(config))
    assert "all done" in codes[code] and code == 0


def test_run_reports_items_naming_an_epic_the_jql_does_not_select(sandbox: JiraSandbox, config: Path) -> None:
    _add_sales_note(config, "please add this soon", at_end=False)
    code, stdout, _ = cli("run", "--config", str(config), "--json")
    assert code == 0
    assert json.loads(stdout)["unselected_keys"] == {"PROD-77": 1}
    code, _, stderr = cli("run", "--config", str(config))  # every run says it, not only the one that pulled it
    assert code == 0
    assert "warning: 1 item(s) name PROD-77, which the config's epic selection leaves out: they count for no epic" in stderr


def test_check_an_api_source_authenticates_and_reads_one_page(sandbox: JiraSandbox, config: Path) -> None:
    from conftest import jira_source

    good = config.read_text()
    config.write_text(good + jira_source(sandbox.url, name="support", jql="project = PROD ORDER BY key"))
    code, checks = _check(config)
    assert code == 0
    assert checks["source support"]["ok"] is True
    assert checks["source support"]["detail"] == "Jira: credentials of Demo accepted; the JQL selects at least one issue"
    assert checks["source support mapping"]["ok"] is True

    config.write_text(good + jira_source(sandbox.url, name="support", token="wrong-token"))
    code, checks = _check(config)
    assert code == 1
    bad = checks["source support"]
    assert bad["kind"] == "outside" and "HTTP 401" in str(bad["detail"])
    assert bad["fix"] == "check the credentials of sources[2] (support) (or DEMANDSYNC_SOURCES__SUPPORT__… in the environment)"
    assert checks["jira credentials"]["ok"] is True  # the tracker's own token is fine

    port = _closed_port()
    config.write_text(good + jira_source(f"http://127.0.0.1:{port}", name="support"))
    code, checks = _check(config)
    assert code == 1
    assert checks["source support"]["fix"] == "check sources[2] (support).url"
    assert str(checks["source support"]["detail"]).endswith("connection refused")
