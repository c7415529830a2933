"""A PM steering links: link/unlink, export/import round trips, suggest, review."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from conftest import cli, run_json

from demandsync.sandbox.jira import JiraSandbox

REQUESTS = "customfield_10050"


def requests_on(sandbox: JiraSandbox, key: str) -> int:
    return int(sandbox.state.issue(key)["fields"].get(REQUESTS) or 0)


def explain(config: Path, key: str, state: str = "accepted") -> list[dict[str, str]]:
    code, stdout, _ = cli("explain", key, "--config", str(config), "--json", "--state", state)
    assert code == 0
    return list(json.loads(stdout)["items"])


def test_unlink_and_link_stick_across_runs(sandbox: JiraSandbox, config: Path) -> None:
    run_json(config)
    sso = [i for i in explain(config, "PROD-1") if i["source"] == "exit-survey"][0]
    ref = f"exit-survey:{sso['item_id']}"
    assert cli("unlink", ref, "PROD-1", "--config", str(config))[0] == 0
    assert cli("link", ref, "PROD-3", "--config", str(config))[0] == 0
    for _ in range(2):
        run_json(config)
        assert (requests_on(sandbox, "PROD-1"), requests_on(sandbox, "PROD-3")) == (5, 1)
    rejected = explain(config, "PROD-1", "rejected")
    assert [(r["item_id"], r["method"]) for r in rejected] == [(sso["item_id"], "manual")]


def test_link_names_unknown_items_and_epics(sandbox: JiraSandbox, config: Path) -> None:
    run_json(config)
    code, _, err = cli("link", "exit-survey:nope", "PROD-1", "--config", str(config))
    assert code == 2 and "no item 'nope' in source 'exit-survey'" in err
    code, _, err = cli("link", "no-colon", "PROD-1", "--config", str(config))
    assert code == 2 and "SOURCE:ITEM_ID" in err


def test_export_import_round_trip(sandbox: JiraSandbox, config: Path, tmp_path: Path) -> None:
    run_json(config)
    code, exported, _ = cli("links", "export", "--state", "accepted", "--config", str(config))
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert len(rows) == 16 and set(rows[0]) == {"source", "item_id", "epic", "method", "score", "state", "text",
                                                  "handle"}
    untouched = tmp_path / "links.csv"
    untouched.write_text(exported)
    code, out, _ = cli("links", "import", str(untouched), "--config", str(config))
    assert code == 0 and "0 decision(s) saved, 16 unchanged" in out
    # a PM rejects one PROD-2 link in the spreadsheet
    target = next(r for r in rows if r["epic"] == "PROD-2")
    target["state"] = "rejected"
    edited = tmp_path / "edited.csv"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    edited.write_text(buf.getvalue())
    code, out, _ = cli("links", "import", str(edited), "--config", str(config))
    assert code == 0 and "1 decision(s) saved" in out
    run_json(config)
    assert requests_on(sandbox, "PROD-2") == 3
    # and the export now says so, as a manual decision
    code, exported, _ = cli("links", "export", "--state", "rejected", "--format", "json", "--config", str(config))
    assert [(r["item_id"], r["method"]) for r in json.loads(exported)] == [(target["item_id"], "manual")]


def test_import_reports_bad_rows_by_row_number(sandbox: JiraSandbox, config: Path, tmp_path: Path) -> None:
    run_json(config)
    bad = tmp_path / "bad.csv"
    bad.write_text("source,item_id,epic,method,score,state,text\nexit-survey,ghost,PROD-1,rule,1,accepted,x\n"
                   "exit-survey,,PROD-1,rule,1,accepted,x\n")
    code, _, err = cli("links", "import", str(bad), "--config", str(config))
    assert code == 1
    assert "bad.csv row 2: no item 'ghost'" in err and "bad.csv row 3: missing item_id" in err


def test_suggest_ranks_matching_feedback_first_and_review_accepts(sandbox: JiraSandbox, config: Path) -> None:
    config.write_text(config.read_text().replace("similarity = false", "similarity = true\nsuggest = 0.1"))
    run_json(config)
    # "dark mode pls", "Would love a dark mode…" and "…too bright at night - a dark theme please!" (the
    # epic's description says "dark colour theme") say what the epic is: linked without review
    assert requests_on(sandbox, "PROD-3") == 3
    code, stdout, _ = cli("suggest", "PROD-3", "--config", str(config), "--json", "--limit", "3")
    assert code == 0
    top = json.loads(stdout)
    assert [r["state"] for r in top] == ["accepted", "accepted", "accepted"]
    assert all("dark mode" in r["text"].lower() for r in top[:2])
    assert [set(r["why"]) for r in top[:2]] == [{"dark", "mode"}, {"dark", "mode"}]  # why they matched
    theme = next(i for i in explain(config, "PROD-3", "accepted") if "dark theme" in i["text"])
    assert theme["why"][0] == "dark"
    code, stdout, _ = cli("explain", "PROD-3", "--config", str(config), "--state", "accepted")
    assert code == 0 and "matched: dark, theme" in " ".join(stdout.split())
    # the review queue is in score order: "work offline on my phone" (for "Mobile offline mode") comes first
    queue = json.loads(cli("links", "export", "--config", str(config), "--format", "json")[1])
    assert [r["text"] for r in queue[:2]] == ["Please let me work offline on my phone and sync later.",
                                              "The mobile app is useless on the train without a connection."]
    assert [r["score"] for r in queue] == sorted((r["score"] for r in queue), reverse=True)
    offline = requests_on(sandbox, "PROD-5")
    code, stdout, _ = cli("review", "--config", str(config), input="a\n" + "s\n" * 20)
    assert code == 0 and "1 decision(s) saved" in stdout
    run_json(config)
    assert requests_on(sandbox, "PROD-5") == offline + 1


def test_import_takes_what_a_european_excel_saves(sandbox: JiraSandbox, config: Path, tmp_path: Path) -> None:
    """Excel in a German/French locale saves a CSV with ';' and in cp1252: imported alike."""
    run_json(config)
    _, exported, _ = cli("links", "export", "--state", "accepted", "--config", str(config))
    rows = list(csv.DictReader(io.StringIO(exported)))
    target = next(r for r in rows if r["epic"] == "PROD-2")
    target["state"] = "rejected"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), delimiter=";", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({**r, "text": r["text"] + " – geprüft"} for r in rows)
    edited = tmp_path / "edited.csv"
    edited.write_bytes(buf.getvalue().encode("cp1252", errors="replace"))
    code, out, err = cli("links", "import", str(edited), "--config", str(config))
    assert (code, err) == (0, "") and "1 decision(s) saved, 15 unchanged, 0 skipped" in out
    run_json(config)
    assert requests_on(sandbox, "PROD-2") == 3
