"""Hostile Jira: throttling, 503s, per-issue write limits, refusals, and a Jira that never answers.

What must hold for a run nobody watches:

* 20 % of requests answered 429/503 (with ``Retry-After``) and per-issue write
  limits: the run still completes with the exact figures, obeying every
  ``Retry-After``, and every request is tried a bounded number of times;
* a run that cannot finish (every write refused as "try later", or a
  ``Retry-After`` past the wait budget) stops in bounded time, exits 1, names
  every write that is left, and the next run against a healthy Jira converges;
* a server that accepts connections and never answers cannot hang a run: the
  ``[jira] timeout`` applies to every request and retries are bounded.

Retry waits: the sandbox's ``Retry-After`` is kept at 0-1 s. Where back-off
without ``Retry-After`` would make a test slow (timeouts), the tracker is built
with a small ``backoff_base`` through ``JiraTracker(**client_kwargs)``; the run
itself is the real ``run_sync``. The CLI has no config keys for attempts and
wait budget (see the report), so those tests go through ``run_sync`` with a
``tracker_factory``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import demo_config
from typer.testing import CliRunner

from demandsync.cli.main import app
from demandsync.config import Config, load_config
from demandsync.connectors.jira.tracker import JiraTracker
from demandsync.sandbox.jira import JiraSandbox, Response, demo_state
from demandsync.sync.run import build_tracker, run_sync
from demandsync.sync.store.store import Store
from demandsync.sync.writeback import GIVE_UP_AFTER

PUT = ("PUT", "/rest/api/3/issue/{key}")
TARGETS = ("customfield_10050", "customfield_10051", "customfield_10052", "customfield_10055", "customfield_10058")
EPICS = [f"PROD-{i}" for i in range(1, 7)]


def write_config(workdir: Path, jira_url: str, store_url: str, *, extra_jira: str = "") -> Path:
    return demo_config(workdir, jira_url, store_url, jira_extra=f"page_size = 2\n{extra_jira}")


def values(sb: JiraSandbox) -> dict[str, dict[str, Any]]:
    out = {}
    for key in EPICS:
        fields = sb.state.issue(key)["fields"]
        out[key] = {f: (int(v) if isinstance(v := fields.get(f), float) and v.is_integer() else v) for f in TARGETS}
    return out


@pytest.fixture(scope="module")
def truth(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The figures a clean run writes on a healthy Jira."""
    tmp = tmp_path_factory.mktemp("clean")
    with JiraSandbox(demo_state()) as sb:
        report = run_sync(load_config(write_config(tmp, sb.url, f"sqlite:///{tmp / 'store.db'}")))
        assert report.exit_code == 0
        found = values(sb)
    assert found["PROD-1"]["customfield_10050"] == 6
    return found


class FakeTime:
    """The ApiClient's ``sleep`` and the sandbox's clock in one: a wait is recorded and moves
    the clock on at once, so obeying ``Retry-After`` costs the test no real time."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
            self.now += seconds

    def clock(self) -> float:
        with self._lock:
            return self.now


def factory(made: list[JiraTracker], **client_kwargs: Any) -> Callable[[Config], JiraTracker]:
    """``build_tracker`` with extra ApiClient settings; remembers the trackers it made."""

    def build(config: Config) -> JiraTracker:
        jira = config.settings.jira
        tracker = JiraTracker(jira.url, email=jira.email, api_token=jira.api_token, pat=jira.pat,
                              read_timeout=jira.timeout, allow_insecure_http=jira.allow_insecure_http,
                              page_size=jira.page_size, **client_kwargs)
        made.append(tracker)
        return tracker

    return build


class PickySandbox(JiraSandbox):
    """The sandbox, plus a switchable answer for every PUT (``put_answer`` returns a Response or None)."""

    put_answer: Callable[[], Response | None] | None = None

    def handle(self, method: str, target: str, headers: Mapping[str, str], raw: bytes) -> Response:
        if method == "PUT" and self.put_answer is not None and (r := self.put_answer()) is not None:
            with self._lock:
                self.requests[PUT] += 1
            return r
        return super().handle(method, target, headers, raw)


# ---- flaky but working ------------------------------------------------------------------------


def test_20_percent_429_503_with_retry_after_still_gives_exact_counts(truth, store_url: str, tmp_path: Path) -> None:
    # Throttled 1 request in 5 (3/4 of them 429, the rest 503), each asking for a 1 s pause.
    with JiraSandbox(demo_state(), fail_rate=0.2, retry_after=1, seed=7) as sb:
        config = load_config(write_config(tmp_path, sb.url, store_url))
        made: list[JiraTracker] = []
        slept = FakeTime()
        report = run_sync(config, tracker_factory=factory(made, sleep=slept))
        assert report.exit_code == 0, report.errors
        assert values(sb) == truth
        faults = sum(sb.faults.values())
        assert faults >= 2, sb.faults  # the seed makes sure it really was hostile
        assert slept.waits == [1.0] * faults  # every Retry-After obeyed, nothing else slept
        # 10 calls (fields, 3 epic pages, 6 PUTs): each fault cost exactly one more try, nothing else did.
        assert sum(made[0].client.request_counts.values()) == sum(sb.requests.values()) == 10 + faults
        assert sum(sb.writes.values()) == 6  # one successful PUT per epic, retries only after refusals


def test_20_percent_faults_through_the_cli_default_client(truth, store_url: str, tmp_path: Path) -> None:
    """The same with the client exactly as the CLI builds it (Retry-After 0, so nothing waits)."""
    with JiraSandbox(demo_state(), fail_rate=0.2, retry_after=0, seed=11) as sb:
        config = write_config(tmp_path, sb.url, store_url)
        result = CliRunner().invoke(app, ["run", "--config", str(config), "--json"])
        assert result.exit_code == 0, result.output
        assert sum(sb.faults.values()) >= 2
        assert values(sb) == truth


def test_per_issue_write_limit_is_waited_out(truth, store_url: str, tmp_path: Path) -> None:
    """One edit per issue per second. A field Jira refuses makes us PUT the same epic twice at once:
    the second PUT gets 429 ``jira-per-issue-on-write`` and must wait, not fail or hammer."""
    slept = FakeTime()
    with JiraSandbox(demo_state(), write_limit=1, write_window=1.0, clock=slept.clock) as sb:
        # One epic at a time: a wait moves the one clock on for every epic, so with several epics in
        # flight, how many second PUTs still fall inside their window would depend on thread timing.
        path = write_config(tmp_path, sb.url, store_url, extra_jira="write_concurrency = 1\n")
        path.write_text(path.read_text().replace('sources = "Demand sources"',
                                                 'sources = "Demand sources"\nvotes = "Not on screen"'))
        made: list[JiraTracker] = []
        report = run_sync(load_config(path), tracker_factory=factory(made, sleep=slept))
        assert report.exit_code == 1  # the refused field, reported per epic
        assert {e["field"] for e in report.errors} == {"customfield_10099"}
        assert len(report.errors) == 6 and all("screen" in e["error"] for e in report.errors)
        assert values(sb) == truth  # every other field landed
        assert sb.faults[429] == 6 and slept.waits == [1.0] * 6
        assert sum(sb.writes.values()) == 6


# ---- cannot finish ----------------------------------------------------------------------------


def test_jira_refusing_every_write_stops_reports_whats_left_and_next_run_converges(
        truth, store_url: str, tmp_path: Path) -> None:
    with PickySandbox(demo_state()) as sb:
        sb.put_answer = lambda: Response(503, {"errorMessages": ["Service Unavailable"], "errors": {}},
                                         {"Retry-After": "0"})
        # one epic at a time, so "3 epics in a row" is exact (with N at once, up to N-1 more are tried)
        path = write_config(tmp_path, sb.url, store_url, extra_jira="write_concurrency = 1\n")
        started = time.monotonic()
        result = CliRunner().invoke(app, ["run", "--config", str(path), "--json"])
        assert time.monotonic() - started < 30
        assert result.exit_code == 1, result.output
        report = json.loads(result.stdout)
        planned = len(report["plan"])
        assert planned > 20 and report["writes"] == {"planned": planned, "applied": 0, "failed": planned}
        left = {(e["epic"], e["field"]) for e in report["errors"]}
        assert left == {(w["epic"], w["field"]) for w in report["plan"]}  # every write left is named
        # Bounded: 6 tries for each epic attempted; after GIVE_UP_AFTER epics in a row ran out of
        # retries (plus those already in flight, writes are concurrent) Jira is taken to be down.
        tried = {e["epic"] for e in report["errors"] if "gave up on PUT" in e["error"] and "6 attempts" in e["error"]}
        rest = {e["epic"] for e in report["errors"] if e["error"].startswith("not attempted")}
        assert tried and not tried & rest and tried | rest == {w["epic"] for w in report["plan"]}
        assert sb.requests[PUT] == 6 * len(tried)
        assert GIVE_UP_AFTER <= len(tried) <= GIVE_UP_AFTER + 3

        store = Store.open(load_config(path).store_url)
        try:
            assert {w["state"] for w in store.journal(limit=1000)} == {"failed"}
        finally:
            store.close()

        sb.put_answer = None  # Jira is back
        result = CliRunner().invoke(app, ["run", "--config", str(path), "--json"])
        assert result.exit_code == 0, result.output
        assert values(sb) == truth
        assert sum(sb.writes.values()) == 6


def test_retry_after_beyond_the_wait_budget_gives_up_at_once(truth, store_url: str, tmp_path: Path) -> None:
    """Jira asks for a 10-minute pause on every write: we do not sleep 10 minutes per epic (budget: 120 s)."""
    with PickySandbox(demo_state()) as sb:
        sb.put_answer = lambda: Response(429, {"errorMessages": ["Rate limit exceeded."], "errors": {}},
                                         {"Retry-After": "600"})
        path = write_config(tmp_path, sb.url, store_url, extra_jira="write_concurrency = 1\n")
        started = time.monotonic()
        result = CliRunner().invoke(app, ["run", "--config", str(path)])
        assert time.monotonic() - started < 30
        assert result.exit_code == 1
        assert "wait budget" in result.stderr
        # One try per epic attempted (no sleeping), then the rest is left for the next run.
        assert GIVE_UP_AFTER <= sb.requests[PUT] <= GIVE_UP_AFTER + 3
        sb.put_answer = None
        assert CliRunner().invoke(app, ["run", "--config", str(path)]).exit_code == 0
        assert values(sb) == truth


# ---- never answers ----------------------------------------------------------------------------


class HungServer:
    """Accepts TCP connections and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.accepted.append(conn)
            except OSError:
                continue

    def close(self) -> None:
        self._stop.set()
        for c in self.accepted:
            c.close()
        self.sock.close()


@pytest.fixture
def hung() -> Iterator[HungServer]:
    server = HungServer()
    yield server
    server.close()


def test_a_jira_that_never_answers_cannot_hang_the_run(hung: HungServer, store_url: str, tmp_path: Path) -> None:
    path = write_config(tmp_path, hung.url, store_url, extra_jira="timeout = 0.3\n")
    config = load_config(path)
    # The CLI's tracker takes [jira] timeout for every read.
    cli_tracker = build_tracker(config)
    assert cli_tracker.client._client.timeout.read == 0.3
    cli_tracker.close()
    made: list[JiraTracker] = []
    started = time.monotonic()
    report = run_sync(config, tracker_factory=factory(made, backoff_base=0.01, sleep=FakeTime()))
    took = time.monotonic() - started
    assert report.exit_code == 1
    assert "ReadTimeout" in report.errors[0]["error"] and "6 attempts" in report.errors[0]["error"]
    assert len(hung.accepted) == 6  # a fresh connection for each of the 6 attempts
    assert took < 6 * 0.3 + 5  # attempts x timeout, plus start-up


def test_a_jira_that_stops_answering_mid_run_cannot_hang_it(truth, store_url: str, tmp_path: Path) -> None:
    """Reads work, then every PUT hangs: each write times out, and after a few epics the run stops."""
    release = threading.Event()
    with PickySandbox(demo_state()) as sb:
        sb.put_answer = lambda: (release.wait(30), None)[1]  # hold the request, answer nothing
        path = write_config(tmp_path, sb.url, store_url, extra_jira="timeout = 0.3\n")
        made: list[JiraTracker] = []
        started = time.monotonic()
        report = run_sync(load_config(path), tracker_factory=factory(made, max_attempts=2, backoff_base=0.01,
                                                                    sleep=FakeTime()))
        took = time.monotonic() - started
        release.set()
        assert report.exit_code == 1 and report.writes["applied"] == 0
        assert took < 3 * 2 * 0.3 + 5
        assert any("ReadTimeout" in e["error"] for e in report.errors)
        sb.put_answer = None
        assert run_sync(load_config(path)).exit_code == 0
        assert values(sb) == truth


class TricklingServer:
    """Answers 200 with a big Content-Length, then one byte every 0.1 s: each read is quick, the whole never ends."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
            while not self._stop.wait(0.1):
                try:
                    conn.sendall(b" ")
                except OSError:
                    return

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


def test_a_jira_that_trickles_its_answer_cannot_hang_the_run(tmp_path: Path) -> None:
    server = TricklingServer()
    done = threading.Event()
    try:
        tracker = JiraTracker(server.url, email="a@b.c", api_token="t", read_timeout=0.3, max_attempts=2,
                              backoff_base=0.01)

        def call() -> None:
            try:
                tracker.fields()
            except Exception:  # noqa: BLE001 - any failure is fine; hanging is not
                pass
            done.set()

        threading.Thread(target=call, daemon=True).start()
        assert done.wait(3.0), "one request outlived its 0.3 s timeout by 10x"
    finally:
        server.close()
        done.wait(5.0)  # let the stuck call fail before pytest's log capture goes away
