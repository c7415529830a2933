"""Crash safety: a run killed with SIGKILL anywhere leaves a store the next run converges from.

Technique. The Jira sandbox runs in this process (a thread); ``demandsync run``
runs as a real subprocess against it. The sandbox sees every HTTP call the run
makes, so it is also the trigger: a :class:`KillPoint` says *when* to SIGKILL
the run, relative to the n-th request the sandbox receives:

* ``before n`` - the n-th request arrives and the run dies before Jira acts on it;
* ``after n``  - Jira acts on it (a PUT lands) and the run dies before it hears back,
  so the write is done but never journaled as applied;
* ``gap n``    - a random moment in the client-side work between request n and
  n+1 (``gap 0``: between process start and the first request). These are the
  windows where the run commits to the store: migrate, start_run, item upserts,
  cursors, epics, links, demand, the journal.

No hook in product code is needed. After the kill(s) a last run goes to
completion, and the trial checks, against a clean run on a fresh sandbox and
store (the *truth*):

* every custom field of every issue equals the truth (nothing lost, nothing
  counted twice), and the store holds exactly the truth's items;
* each epic was written exactly as often as in the clean run (nothing repeated
  needlessly: a crash after a PUT landed does not make the next run send it again);
* the lock is free the moment the killed process is gone (no stale lock, on
  SQLite or PostgreSQL), and the next run starts at once (never exit 75);
* the killed run shows as ``interrupted`` in ``runs``, its ``planned`` writes as
  ``abandoned``; nothing stays ``running`` or ``planned``;
* one more run plans nothing.

The same harness drives ``bench/soak.py`` (random kill points, many trials).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import demo_config

from demandsync.config import load_config
from demandsync.sandbox.jira import JiraSandbox, Response, demo_state
from demandsync.sync.run import run_sync
from demandsync.sync.store.lock import LockHeld, RunLock
from demandsync.sync.store.store import Store

_BIN = Path(sys.executable).parent / "demandsync"
CLI = [str(_BIN)] if _BIN.exists() else [sys.executable, "-m", "demandsync.cli.main"]
#: Seconds every sandbox request takes: stretches the run a little, like a real network.
LATENCY = 0.01
#: Small search pages, so the epics stage is several HTTP calls with a crash point between each.
PAGE_SIZE = 2


# ---------------------------------------------------------------------------------------------
# Kill points and the sandbox that pulls the trigger
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KillPoint:
    mode: str  # "before" | "after" | "gap"
    at: int  # request number (1-based); "gap" 0 = from process start
    fraction: float = 0.5  # for "gap": where in the measured gap, 0..1.5

    def __str__(self) -> str:
        return f"{self.mode} {self.at}" + (f" +{self.fraction:.2f}" if self.mode == "gap" else "")


class KillerSandbox(JiraSandbox):
    """The Jira sandbox, plus: SIGKILL the armed process at a :class:`KillPoint`, and a timeline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._arm_lock = threading.Lock()
        self._victim: int | None = None
        self._point: KillPoint | None = None
        self._gaps: Mapping[int, float] = {}
        self._timers: list[threading.Timer] = []
        self.fired = False
        self.count = 0
        #: (n, method, path, arrived, answered) per request of the armed run.
        self.timeline: list[tuple[int, str, str, float, float]] = []

    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        url = super().start(port, host)
        # A killed client resets its connection; that is the point, not an error worth a traceback.
        self._server.handle_error = lambda *_: None  # type: ignore[union-attr, method-assign]
        return url

    def arm(self, pid: int, point: KillPoint | None, gaps: Mapping[int, float]) -> None:
        with self._arm_lock:
            self._victim, self._point, self._gaps = pid, point, gaps
            self.fired, self.count, self.timeline = False, 0, []
            self._timers = []
        if point is not None and point.mode == "gap" and point.at == 0:
            self._kill_later(point.fraction * gaps.get(0, 1.0))

    def disarm(self) -> None:
        with self._arm_lock:
            self._victim, self._point = None, None
            for t in self._timers:
                t.cancel()

    def _kill(self) -> None:
        with self._arm_lock:
            pid = self._victim
            if pid is None:
                return
            try:
                os.kill(pid, signal.SIGKILL)
                self.fired = True
            except ProcessLookupError:  # it finished first
                pass

    def _kill_later(self, delay: float) -> None:
        timer = threading.Timer(max(0.0, delay), self._kill)
        timer.daemon = True
        with self._arm_lock:
            self._timers.append(timer)
        timer.start()

    def handle(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> Response:
        arrived = time.monotonic()
        with self._arm_lock:
            self.count += 1
            n, point = self.count, self._point
        hit = point is not None and point.at == n
        # A "gap" kill meant to land inside the gap (fraction <= 1) whose timer has not fired when the
        # next request arrives (the gap was measured on a slower run: a loaded machine) fires now, before
        # that request is served: still in the gap, and the run cannot finish unkilled.
        late_gap = (point is not None and point.mode == "gap" and 0 < point.at < n and point.fraction <= 1
                    and not self.fired)
        if (hit and point.mode == "before") or late_gap:
            self._kill()
            return Response(503, {"errorMessages": ["the client is dead"], "errors": {}})
        response = super().handle(method, target, headers, raw)
        if hit and point.mode == "after":
            self._kill()
        elif hit and point.mode == "gap":
            self._kill_later(point.fraction * self._gaps.get(n, 0.05))
        with self._arm_lock:
            self.timeline.append((n, method, target.split("?")[0], arrived, time.monotonic()))
        return response


# ---------------------------------------------------------------------------------------------
# Stores, configs, runs
# ---------------------------------------------------------------------------------------------


def fresh_store(kind_url: str, workdir: Path) -> str:
    """An empty store of the same kind as ``kind_url`` (SQLite: a new file; PostgreSQL: reset)."""
    if kind_url.startswith("postgresql"):
        engine = sa.create_engine(kind_url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        engine.dispose()
        return kind_url
    return f"sqlite:///{workdir / 'store.db'}"


#: Epics written at once. The suite's kill points count requests ("the 3rd PUT lands"), which is
#: exact only one write at a time; bench/soak.py sets the product default (4) to shake concurrent writes.
WRITE_CONCURRENCY = 1


def write_config(workdir: Path, jira_url: str, store_url: str) -> Path:
    """The demo's config and exports (similarity off: every number can be checked by hand)."""
    return demo_config(workdir, jira_url, store_url,
                       jira_extra=f"page_size = {PAGE_SIZE}\nwrite_concurrency = {WRITE_CONCURRENCY}\n")


def child_env() -> dict[str, str]:
    """The environment for a run: ours, minus DEMANDSYNC_* overrides that could change its config."""
    return {k: v for k, v in os.environ.items() if not k.startswith("DEMANDSYNC_")}


def spawn(config: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, "run", "--config", str(config), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env(), cwd=config.parent)


def issue_values(sb: JiraSandbox) -> dict[str, dict[str, Any]]:
    """Every custom field of every issue, numbers normalised (42.0 == 42)."""
    out = {}
    for issue in sb.state.issues():
        fields = issue["fields"]
        out[issue["key"]] = {k: _num(v) for k, v in sorted(fields.items()) if k.startswith("customfield_")}
    return out


def _num(v: Any) -> Any:
    return int(v) if isinstance(v, float) and v.is_integer() else v


@dataclass
class Truth:
    """What a clean run on a fresh sandbox and store produces, plus its timing."""

    values: dict[str, dict[str, Any]]
    writes: Counter[str]
    items: int
    requests: int
    #: n -> seconds of client-side work after request n (0: process start to first request).
    gaps: dict[int, float]
    seconds: float


def calibrate(kind_url: str, workdir: Path) -> Truth:
    """One clean run (a subprocess, like the trials): the truth, and where the time goes."""
    workdir.mkdir(parents=True, exist_ok=True)
    with KillerSandbox(demo_state(), latency=LATENCY) as sb:
        store_url = fresh_store(kind_url, workdir)
        config = write_config(workdir, sb.url, store_url)
        started = time.monotonic()
        proc = spawn(config, "--json")
        sb.arm(proc.pid, None, {})
        out, err = proc.communicate(timeout=120)
        seconds = time.monotonic() - started
        assert proc.returncode == 0, err
        line = sb.timeline
        gaps = {0: line[0][3] - started}
        for (n, *_, answered), nxt in zip(line, line[1:], strict=False):
            gaps[n] = max(0.005, nxt[3] - answered)
        gaps[line[-1][0]] = 0.3  # after the last request: finish_run
        store = Store.open(store_url)
        try:
            items = store.count_items()
        finally:
            store.close()
        truth = Truth(issue_values(sb), Counter(sb.writes), items, len(line), gaps, seconds)
    assert truth.values["PROD-1"]["customfield_10050"] == 6  # sanity: the hand-checked e2e figure
    return truth


@dataclass
class TrialResult:
    chain: list[KillPoint]
    killed: list[bool] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        kills = ", ".join(f"{p}{'' if k else ' (finished first)'}" for p, k in zip(self.chain, self.killed,
                                                                                 strict=False))
        return f"[{kills}] {'ok' if self.ok else 'FAILED: ' + '; '.join(self.problems)} ({self.seconds:.1f}s)"


def _store_snapshot(store_url: str) -> tuple[set[int], set[int]]:
    """Ids of runs still marked running and of writes still planned."""
    store = Store.open(store_url)
    try:
        running = {r["id"] for r in store.runs(limit=1000) if r["status"] == "running"}
        planned = {w["id"] for w in store.journal(state="planned", limit=100_000)}
        return running, planned
    finally:
        store.close()


def _lock_is_free(store_url: str) -> bool:
    store = Store.open(store_url)
    try:
        with RunLock.acquire(store.engine):
            return True
    except LockHeld:
        return False
    finally:
        store.close()


def run_trial(chain: Sequence[KillPoint], truth: Truth, kind_url: str, workdir: Path) -> TrialResult:
    """Kill a run at each point of ``chain`` in turn (each kill hits the next run), then run to the end."""
    result = TrialResult(list(chain))
    started = time.monotonic()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    problems = result.problems
    with KillerSandbox(demo_state(), latency=LATENCY) as sb:
        store_url = fresh_store(kind_url, workdir)
        config = write_config(workdir, sb.url, store_url)
        crashed_runs: set[int] = set()
        stranded_writes: set[int] = set()
        for point in chain:
            proc = spawn(config)
            sb.arm(proc.pid, point, truth.gaps)
            try:
                _, err = proc.communicate(timeout=120)
            finally:
                sb.disarm()
            killed = proc.returncode == -signal.SIGKILL
            result.killed.append(killed)
            if not killed:
                if proc.returncode != 0:
                    problems.append(f"run meant to be killed at {point} exited {proc.returncode}: {err[-500:]}")
                continue
            # The moment the process is gone, the lock must be free: cron's next run must not wait or exit 75.
            if not _lock_is_free(store_url):
                problems.append(f"lock still held right after the run was killed at {point}")
            try:
                running, planned = _store_snapshot(store_url)
            except Exception as exc:  # noqa: BLE001 - a store the next run cannot even open is the failure
                problems.append(f"store unusable after a kill at {point}: {type(exc).__name__}: {exc}")
                running, planned = set(), set()
            crashed_runs |= running
            stranded_writes |= planned

        # The run that must converge. In-process: nothing kills it, and the same code as a
        # subprocess without another interpreter start (the lock was checked free above).
        final_started = time.monotonic()
        try:
            final = run_sync(load_config(config))
        except LockHeld as exc:
            problems.append(f"the run after the crash could not start: {exc}")
        else:
            if final.exit_code != 0:
                problems.append(f"the run after the crash exited {final.exit_code}: {final.errors}")
            elif not sb.requests or time.monotonic() - final_started > 60:
                problems.append("the run after the crash did not start at once")
        if issue_values(sb) != truth.values:
            got, want = issue_values(sb), truth.values
            diff = {k: (got[k], want[k]) for k in want if got.get(k) != want[k]}
            problems.append(f"Jira differs from a clean run: {json.dumps(diff, default=str)[:800]}")
        if Counter(sb.writes) != truth.writes:
            problems.append(f"writes per epic {dict(sb.writes)} != a clean run's {dict(truth.writes)}")

        try:
            store = Store.open(store_url)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"store unusable: {type(exc).__name__}: {exc}")
        else:
            try:
                if store.count_items() != truth.items:
                    problems.append(f"store holds {store.count_items()} items, a clean run {truth.items}")
                runs = {r["id"]: r for r in store.runs(limit=1000)}
                for rid in crashed_runs:
                    if runs[rid]["status"] != "interrupted":
                        problems.append(f"killed run {rid} is {runs[rid]['status']!r}, not 'interrupted'")
                still = [r for r in runs.values() if r["status"] == "running"]
                if still:
                    problems.append(f"runs still marked running: {[r['id'] for r in still]}")
                journal = {w["id"]: w for w in store.journal(limit=100_000)}
                for wid in stranded_writes:
                    if journal[wid]["state"] != "abandoned":
                        problems.append(f"write {wid} planned by a killed run is {journal[wid]['state']!r}")
                left = [w["id"] for w in journal.values() if w["state"] == "planned"]
                if left:
                    problems.append(f"writes still planned: {left}")
            finally:
                store.close()
        # Converged: one more run plans nothing (in-process dry run, it writes nothing either).
        try:
            again = run_sync(load_config(config), dry_run=True)
        except LockHeld as exc:
            problems.append(f"a further run could not start: {exc}")
        else:
            if again.plan or again.exit_code:
                problems.append(f"a further run still plans {len(again.plan)} writes (exit {again.exit_code})")
    result.seconds = time.monotonic() - started
    return result


def random_chain(rng: random.Random, requests: int, max_kills: int = 3) -> list[KillPoint]:
    """1..max_kills kill points, each anywhere in a run (any mode, any request, any gap)."""
    chain = []
    for _ in range(rng.randint(1, max_kills)):
        mode = rng.choice(["before", "after", "gap", "gap"])
        at = rng.randint(0 if mode == "gap" else 1, requests)
        chain.append(KillPoint(mode, at, round(rng.uniform(0.0, 1.2), 3)))
    return chain


# ---------------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def truth(tmp_path_factory: pytest.TempPathFactory) -> Truth:
    kind = os.environ.get("DEMANDSYNC_TEST_STORE", "") or "sqlite"
    return calibrate(kind, tmp_path_factory.mktemp("truth"))


def _check(chain: list[KillPoint], truth: Truth, store_url: str, tmp_path: Path, *, must_kill: bool = True) -> None:
    result = run_trial(chain, truth, store_url, tmp_path / "trial")
    assert result.ok, str(result)
    if must_kill:
        assert all(result.killed), f"a kill did not happen: {result}"


def test_killed_while_jira_applies_a_write_converges_without_rewriting_it(
        truth: Truth, store_url: str, tmp_path: Path) -> None:
    # Requests: 1 fields, 2-4 epic pages, 5-10 PUTs. The 2nd PUT lands and the run dies before hearing
    # back: the journal cannot know it landed; the next plan, made against live values, does and skips it.
    _check([KillPoint("after", truth.requests - 4)], truth, store_url, tmp_path)


def test_killed_between_counting_and_writing_converges(truth: Truth, store_url: str, tmp_path: Path) -> None:
    # After the last epic page: save_epics, link, count, save_demand and journal_planned commit here.
    _check([KillPoint("gap", truth.requests - 6, 0.6)], truth, store_url, tmp_path)


def test_killed_three_times_in_a_row_converges(truth: Truth, store_url: str, tmp_path: Path) -> None:
    chain = [
        KillPoint("gap", 1, 0.5),  # while pulling sources: start_run, item upserts, cursors
        KillPoint("after", truth.requests - 3),  # the 3rd PUT lands, unjournaled
        KillPoint("before", truth.requests - 5),  # the next run dies before its first PUT is sent
    ]
    _check(chain, truth, store_url, tmp_path)


def test_first_run_killed_during_schema_migration_leaves_a_usable_store(
        truth: Truth, store_url: str, tmp_path: Path) -> None:
    """The very first run dies while it creates the schema.

    SQLite: the test watches the new database and kills the run the moment the
    first of our tables is visible to another connection. Before the fix in
    ``store.migrate`` each CREATE TABLE committed on its own, so this left half a
    schema and every later run failed with "table epics already exists".
    """
    if store_url.startswith("postgresql"):  # DDL is transactional there; just kill early in a first run
        _check([KillPoint("gap", 0, 0.97)], truth, store_url, tmp_path, must_kill=False)
        return
    workdir = tmp_path / "trial"
    workdir.mkdir()
    with JiraSandbox(demo_state()) as sb:
        config = write_config(workdir, sb.url, fresh_store(store_url, workdir))
        db = workdir / "store.db"
        proc = spawn(config)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline and not _has_tables(db):
            time.sleep(0.0002)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        report = run_sync(load_config(config))  # the next run (in-process: nothing kills this one)
        assert report.exit_code == 0, report.errors
        assert issue_values(sb) == truth.values


def _has_tables(db: Path) -> bool:
    if not db.exists():
        return False
    conn = sqlite3.connect(db, timeout=0.01)
    try:
        return conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                            "AND name != 'alembic_version'").fetchone()[0] > 0
    except sqlite3.OperationalError:  # locked or being created
        return False
    finally:
        conn.close()


def test_random_kill_points(truth: Truth, store_url: str, tmp_path: Path) -> None:
    """One random chain (fixed seed): bench/soak.py runs many more."""
    rng = random.Random(20261122)
    for i in range(1):
        chain = random_chain(rng, truth.requests, max_kills=2)
        result = run_trial(chain, truth, store_url, tmp_path / f"trial{i}")
        assert result.ok, str(result)
