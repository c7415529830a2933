"""The run lock is taken before migrations (issue 19: two first runs at once on an empty
PostgreSQL database made the loser crash with a UniqueViolation, exit 1, instead of exit 75)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import demo_config

from demandsync.sandbox.jira import JiraSandbox, demo_state
from demandsync.sync.store.lock import RunLock
from demandsync.sync.store.store import HEAD_REVISION, Store, make_engine, schema_revision


def _run(config: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEMANDSYNC_")}
    return subprocess.Popen([sys.executable, "-m", "demandsync.cli.main", "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=config.parent)


def test_a_run_finding_the_lock_held_on_an_empty_store_exits_75_and_creates_nothing(
        tmp_path: Path, store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        with RunLock.acquire(engine):  # another run has just started on an empty database
            proc = _run(demo_config(tmp_path, "http://127.0.0.1:9", store_url))
            _, stderr = proc.communicate(timeout=120)
            assert proc.returncode == 75, stderr
            assert "holds" in stderr and "Traceback" not in stderr
            with engine.connect() as conn:
                assert schema_revision(conn) is None  # it did not migrate behind the holder's back
    finally:
        engine.dispose()


def test_two_first_runs_at_once_one_exits_75(tmp_path: Path, store_url: str) -> None:
    """The winner is held inside its first Jira request (so it surely still holds the lock, whatever
    the machine's load) while the loser starts on the same empty store."""
    with JiraSandbox(demo_state(), email="demo@example.com", api_token="sandbox-token") as sandbox:
        sandbox.start()
        entered, release = threading.Event(), threading.Event()
        answer = sandbox.handle

        def held(*args: Any, **kwargs: Any) -> Any:
            entered.set()
            release.wait(timeout=120)
            return answer(*args, **kwargs)

        sandbox.handle = held  # type: ignore[method-assign]
        configs = [demo_config(tmp_path / name, sandbox.url, store_url) for name in ("a", "b")]
        winner = _run(configs[0])
        assert entered.wait(timeout=120), "the first run never reached Jira"
        loser = _run(configs[1])
        loser_out = loser.communicate(timeout=120)
        release.set()
        winner_out = winner.communicate(timeout=300)
    assert (winner.returncode, loser.returncode) == (0, 75), (winner_out, loser_out)
    assert "holds" in loser_out[1]
    assert not any("UniqueViolation" in err or "Traceback" in err for _, err in (winner_out, loser_out))


def test_commands_opening_an_empty_store_together_take_turns_migrating(store_url: str) -> None:
    if store_url.startswith("sqlite"):
        pytest.skip("SQLite migrations take turns through BEGIN IMMEDIATE (tests/test_crash_safety.py)")
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            Store.open(store_url).close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        assert schema_revision(conn) == HEAD_REVISION
    engine.dispose()
