"""`demandsync serve`: schedules, a loop that outlives bad runs, clean SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from demandsync.sandbox.jira import JiraSandbox
from demandsync.sync.run import RunReport
from demandsync.sync.schedule import Schedule, Stopper, parse_every, serve
from demandsync.sync.store.lock import LockHeld


def test_parse_every_and_schedule_errors() -> None:
    assert (parse_every("15m"), parse_every("1h"), parse_every("30"), parse_every("1.5d")) == (900, 3600, 30, 129600)
    for bad in ("0m", "fortnightly", "-5m"):
        with pytest.raises(ValueError, match="positive duration"):
            parse_every(bad)
    with pytest.raises(ValueError, match="exactly one"):
        Schedule.build("15m", "* * * * *")
    with pytest.raises(ValueError, match="not a valid cron"):
        Schedule.build(None, "every quarter hour")


def test_cron_schedule_waits_until_the_next_slot() -> None:
    s = Schedule.build(None, "*/15 * * * *")
    assert s.seconds_until_next(datetime(2026, 11, 22, 10, 7, 30, tzinfo=UTC), None) == 450
    every = Schedule.build("10m", None)
    start = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert every.seconds_until_next(start, None) == 0
    assert every.seconds_until_next(datetime(2026, 11, 22, 10, 4, tzinfo=UTC), start) == 360


def test_loop_survives_failing_and_locked_runs(config: Path) -> None:
    outcomes: list[object] = [LockHeld("busy"), RuntimeError("boom"), RunReport(run_id=3)]

    def runner(_cfg: object) -> RunReport:
        result = outcomes.pop(0)
        if isinstance(result, Exception):
            raise result
        assert isinstance(result, RunReport)
        return result

    code = serve(config, Schedule(every=0.01), stopper=Stopper(), max_runs=3, runner=runner)
    assert code == 0 and outcomes == []


def test_a_signal_while_the_loop_holds_the_wait_lock_does_not_hang() -> None:
    """The handler runs in the main thread, possibly inside ``event.wait()`` while that holds the
    Event's lock: setting the event there directly waited forever for its own thread's lock."""
    stopper = Stopper()
    handled = threading.Event()

    def main_thread() -> None:
        with stopper.event._cond:  # what event.wait() holds around its bookkeeping (CPython)
            stopper._handle(signal.SIGTERM, None)
            handled.set()

    t = threading.Thread(target=main_thread, daemon=True)
    t.start()
    assert handled.wait(5), "the signal handler hung on the event's lock"
    assert stopper.event.wait(5)  # and the loop is told to stop once the lock is free


def test_sigterm_stops_serve_cleanly(sandbox: JiraSandbox, config: Path) -> None:
    exe = Path(sys.executable).parent / "demandsync"
    proc = subprocess.Popen([str(exe), "serve", "--config", str(config), "--every", "1h"],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    seen = ""
    while "next run in" not in seen and time.monotonic() < deadline:
        seen += proc.stderr.readline()
    assert "finished: ok" in seen, seen
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=20)[1]
    assert proc.returncode == 0
    assert "SIGTERM received" in rest and "serve stopped after 1 run(s)" in rest
    assert sandbox.state.issue("PROD-1")["fields"]["customfield_10050"] == 6
