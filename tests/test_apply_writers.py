"""How ``apply_plan`` spreads a plan's PUTs over ``write_concurrency`` writers.

``write_concurrency`` pool threads write (one writes on the caller's own thread, no pool), and
the caller records each outcome as it arrives. What a user sees: against a slow Jira the epics
really are written N at a time (never more), one write waiting out a ``Retry-After`` does not
hold up the others' progress, a Jira that is down is given up on after a few epics however many
are in flight, and Ctrl-C stops the writing instead of finishing the plan, with what did land
journaled as applied.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

from demandsync.connectors.http import RetriesExhausted
from demandsync.sync.store.store import Store
from demandsync.sync.writeback import GIVE_UP_AFTER, PlannedWrite, apply_plan


class SlowJira:
    """A tracker whose every PUT takes ``seconds``; counts what is in flight at once."""

    def __init__(self, seconds: float = 0.0, fail: BaseException | None = None) -> None:
        self.seconds, self.fail = seconds, fail
        self.lock = threading.Lock()
        self.in_flight = self.most_in_flight = 0
        self.written: dict[str, dict[str, Any]] = {}
        self.tried: list[str] = []
        self.threads: set[str] = set()

    def update(self, key: str, values: Mapping[str, Any]) -> None:
        with self.lock:
            self.tried.append(key)
            self.threads.add(threading.current_thread().name)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.seconds)
            if self.fail is not None:
                raise self.fail
            with self.lock:
                self.written[key] = dict(values)
        finally:
            with self.lock:
                self.in_flight -= 1


def plan_for(epics: int) -> list[PlannedWrite]:
    return [PlannedWrite(f"PROD-{n}", f, f, "requests", None, n) for n in range(1, epics + 1) for f in ("f1", "f2")]


def states(store: Store, run: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for row in store.journal(run_id=run, limit=10_000):
        out[row["state"]] = out.get(row["state"], 0) + 1
    return out


@pytest.mark.parametrize("concurrency", [1, 2, 4])
def test_a_slow_jira_gets_n_writes_at_a_time_and_every_one_is_journaled(store: Store, concurrency: int) -> None:
    jira = SlowJira(seconds=0.02)
    run = store.start_run("host", 1, dry_run=False)
    result = apply_plan(jira, store, run, plan_for(24), concurrency=concurrency)  # type: ignore[arg-type]
    assert result.applied == 48 and result.failed == 0 and result.epics_written == 24
    assert jira.written == {f"PROD-{n}": {"f1": n, "f2": n} for n in range(1, 25)}
    assert sorted(jira.tried) == sorted(jira.written)  # each epic once
    assert jira.most_in_flight == concurrency
    assert len(jira.threads) == concurrency
    assert (jira.threads == {threading.current_thread().name}) == (concurrency == 1)  # 1: no thread started
    assert states(store, run) == {"applied": 48}
    assert not [t for t in threading.enumerate() if t.name.startswith("jira-write")]  # no thread left behind


def test_a_plan_of_one_epic_is_written_on_the_callers_thread(store: Store) -> None:
    jira = SlowJira()
    result = apply_plan(jira, store, store.start_run("host", 1, dry_run=False), plan_for(1),  # type: ignore[arg-type]
                        concurrency=4)
    assert result.applied == 2 and jira.threads == {threading.current_thread().name}


def test_an_empty_plan_writes_nothing(store: Store) -> None:
    jira = SlowJira()
    result = apply_plan(jira, store, store.start_run("host", 1, dry_run=False), [], concurrency=4)  # type: ignore[arg-type]
    assert (result.applied, result.failed, result.epics_written, jira.tried) == (0, 0, 0, [])


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_jira_that_is_down_is_given_up_on_after_a_few_epics(store: Store, concurrency: int) -> None:
    jira = SlowJira(seconds=0.01, fail=RetriesExhausted("gave up on PUT", method="PUT", url="u", status=503,
                                                         attempts=6))
    run = store.start_run("host", 1, dry_run=False)
    result = apply_plan(jira, store, run, plan_for(40), concurrency=concurrency)  # type: ignore[arg-type]
    # After GIVE_UP_AFTER epics in a row ran out of retries no writer starts another; those in flight finish.
    assert GIVE_UP_AFTER <= len(jira.tried) <= GIVE_UP_AFTER + concurrency - 1
    assert result.applied == 0 and result.failed == 80  # every write reported: tried or left
    not_tried = [e for e in result.errors if e["error"].startswith("not attempted")]
    assert len(not_tried) == 2 * (40 - len(jira.tried))
    assert states(store, run) == {"failed": 80}


def test_a_write_waiting_out_a_retry_does_not_hold_up_the_others(store: Store) -> None:
    """PROD-1's PUT (and any the run's own thread makes) waits, as on a long ``Retry-After``,
    until the progress shows every other epic written: the others' outcomes are taken in as
    they arrive, not when the waiting writer is done."""
    others_done = threading.Event()

    class Throttled(SlowJira):
        def update(self, key: str, values: Mapping[str, Any]) -> None:
            if key == "PROD-1" or threading.current_thread() is threading.main_thread():
                others_done.wait(timeout=5)
            super().update(key, values)

    class Seen:
        def update(self, stage: str, done: int, total: int | None = None) -> None:
            if total is not None and done == total - 1:
                others_done.set()

    jira = Throttled()
    started = time.monotonic()
    result = apply_plan(jira, store, store.start_run("host", 1, dry_run=False), plan_for(24),  # type: ignore[arg-type]
                        concurrency=4, progress=Seen())
    assert others_done.is_set() and time.monotonic() - started < 4  # not the 5 s timeout
    assert result.applied == 48


@pytest.mark.parametrize("concurrency", [1, 4])
def test_ctrl_c_stops_the_writers_and_what_landed_is_journaled(store: Store, concurrency: int) -> None:
    """Ctrl-C (SIGINT to the run's thread) once 8 epics were tried: the writers finish the epic
    they are on and take no other; the epics written are journaled applied (but one: a PUT the
    interrupt cut short may or may not have landed, so it stays planned for the next run)."""

    class Interrupted(SlowJira):
        def update(self, key: str, values: Mapping[str, Any]) -> None:
            super().update(key, values)
            with self.lock:
                if len(self.tried) == 8:
                    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    jira = Interrupted(seconds=0.01)
    run = store.start_run("host", 1, dry_run=False)
    with pytest.raises(KeyboardInterrupt):
        apply_plan(jira, store, run, plan_for(200), concurrency=concurrency)  # type: ignore[arg-type]
    assert 8 <= len(jira.tried) <= 8 + 2 * (concurrency - 1)  # those in flight, at most one more each
    applied = {row["epic_key"] for row in store.journal(run_id=run, limit=10_000) if row["state"] == "applied"}
    assert applied <= set(jira.written) and len(applied) >= len(jira.written) - 1
    assert states(store, run) == {"applied": 2 * len(applied), "planned": 2 * (200 - len(applied))}
    assert not [t for t in threading.enumerate() if t.name.startswith("jira-write")]
