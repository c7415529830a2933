"""How ``apply_plan`` spreads a plan's PUTs over ``write_concurrency`` writers.

The caller's thread writes too, beside ``write_concurrency - 1`` helper threads, and only it
journals. What a user sees: against a slow Jira the epics really are written N at a time (never
more), a Jira that is down is given up on after a few epics however many are in flight, and
Ctrl-C stops the writing instead of finishing the plan.
"""

from __future__ import annotations

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
    assert len(jira.threads) == concurrency and threading.current_thread().name in jira.threads
    assert states(store, run) == {"applied": 48}
    assert not [t for t in threading.enumerate() if t.name.startswith("jira-write")]  # no thread left behind


def test_a_plan_of_one_epic_is_written_on_the_callers_thread(store: Store) -> None:
    jira = SlowJira()
    result = apply_plan(jira, store, store.start_run("host", 1, dry_run=False), plan_for(1),  # type: ignore[arg-type]
                        concurrency=4)
    assert result.applied == 2 and jira.threads == {threading.current_thread().name}


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


def test_ctrl_c_stops_the_writers(store: Store) -> None:
    """An interrupt in the caller's own write: the helpers finish the epic they are on and take no other."""

    class Interrupted(SlowJira):
        def update(self, key: str, values: Mapping[str, Any]) -> None:
            super().update(key, values)
            if threading.current_thread() is threading.main_thread() and len(self.tried) >= 8:
                raise KeyboardInterrupt

    jira = Interrupted(seconds=0.01)
    run = store.start_run("host", 1, dry_run=False)
    with pytest.raises(KeyboardInterrupt):
        apply_plan(jira, store, run, plan_for(200), concurrency=4)  # type: ignore[arg-type]
    assert 8 <= len(jira.tried) <= 8 + 3 + 3  # the helpers' epics in flight, at most one more each
    assert not [t for t in threading.enumerate() if t.name.startswith("jira-write")]
