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
