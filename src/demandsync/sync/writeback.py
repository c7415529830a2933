"""Writes are plans (docs/architecture.md, rule 4).

1. :func:`resolve_targets` turns ``[jira.fields]`` into Jira fields, checking each
   exists, is unambiguous and has a type that can hold the figure.
2. :func:`plan_writes` compares each epic's desired values with what Jira holds
   now and keeps only the differences.
3. :func:`apply_plan` journals the plan, sends one PUT per changed epic, and
   marks each write applied or failed. A field Jira refuses is reported and
   the epic's other fields are retried without it.

Because the plan is always made against live values, a run killed mid-way
converges: what was applied is no longer a difference, what was not is planned
again. Nothing is written twice needlessly.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from queue import SimpleQueue
from typing import Any

from demandsync.connectors.base import Tracker, TrackerField, WriteRejected
from demandsync.connectors.http import RetriesExhausted
from demandsync.domain import Epic
from demandsync.errors import ConfigError
from demandsync.figures import ACCEPTED_JIRA_TYPES, FIGURES
from demandsync.sync.demand import Demand
from demandsync.sync.fields import FieldLookupError, resolve_field
from demandsync.sync.progress import NO_PROGRESS, Progress
from demandsync.sync.store.store import Store

log = logging.getLogger(__name__)

#: Unattended safety: after this many epics in a row whose write ran out of retries (Jira down,
#: hung, or throttling beyond the wait budget), the rest of the plan is not attempted. Without it
#: a run against a dead Jira spends the whole retry budget on every epic: hours for a big plan,
#: while cron's next runs exit 75. What is left is reported failed; the next run plans it again.
#: With ``write_concurrency`` N, the epics already in flight finish too (at most N - 1 more are tried).
GIVE_UP_AFTER = 3


@dataclass(frozen=True, slots=True)
class Target:
    figure: str
    field: TrackerField


class TargetError(ConfigError):
    """``[jira.fields]`` cannot be used; ``problems`` are ``(key, message)``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{k}: {m}" for k, m in problems))
        self.problems = problems


@dataclass(slots=True)
class PlannedWrite:
    epic_key: str
    field_id: str
    field_name: str
    figure: str
    old: Any
    new: Any

    def as_dict(self) -> dict[str, Any]:
        return {"epic": self.epic_key, "field": self.field_id, "field_name": self.field_name,
                "figure": self.figure, "old": self.old, "new": self.new}


@dataclass(slots=True)
class ApplyResult:
    applied: int = 0
    failed: int = 0
    epics_written: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)


def resolve_targets(refs: Mapping[str, str], fields: Sequence[TrackerField], *, section: str = "jira",
                    tracker: str = "Jira") -> list[Target]:
    """``figure -> field ref`` to checked targets; every problem is reported at once, keyed
    ``<section>.fields.<figure>`` (``jira.fields.requests``, ``aha.fields.requests``)."""
    targets: list[Target] = []
    problems: list[tuple[str, str]] = []
    for figure, ref in refs.items():
        key = f"{section}.fields.{figure}"
        try:
            f = resolve_field(ref, fields, tracker=tracker)
        except FieldLookupError as exc:
            problems.append((key, str(exc)))
            continue
        kind = FIGURES[figure].kind
        if f.type not in ACCEPTED_JIRA_TYPES[kind]:
            want = " or ".join(ACCEPTED_JIRA_TYPES[kind])
            problems.append((key, f"field {f.name!r} ({f.id}) is of type {f.type or 'unknown'!r}, but {figure!r} "
                                  f"needs a {want} field; pick another field or create one of that type"))
            continue
        targets.append(Target(figure, f))
    ids = [t.field.id for t in targets]
    for t in targets:
        if ids.count(t.field.id) > 1:
            problems.append((f"{section}.fields.{t.figure}", f"{t.field.id} is the target of more than one figure"))
    if problems:
        raise TargetError(problems)
    return targets


def desired_value(target: Target, demand: Demand) -> Any:
    """The figure as the Jira field type wants it."""
    value = demand.figure(target.figure)
    if value is None:
        return None
    if target.field.type == "datetime":
        return f"{value}T00:00:00.000+0000"
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if target.field.type == "string":
        return str(value) if value != "" else None
    return value


def same_value(old: Any, new: Any, field_type: str) -> bool:
    """Is Jira's current value already the desired one? (42.0 == 42; "" == None)."""
    if old in (None, "") and new in (None, ""):
        return True
    if old is None or new is None:
        return False
    if field_type == "number":
        try:
            return abs(float(old) - float(new)) < 1e-9
        except (TypeError, ValueError):
            return False
    if field_type in ("date", "datetime"):
        return str(old)[:10] == str(new)[:10]
    return bool(old == new)


def plan_writes(epics: Sequence[Epic], demand: Mapping[str, Demand], targets: Sequence[Target]) -> list[PlannedWrite]:
    plan: list[PlannedWrite] = []
    for epic in epics:
        d = demand.get(epic.key, Demand())
        for t in targets:
            new = desired_value(t, d)
            old = epic.values.get(t.field.id)
            if not same_value(old, new, t.field.type):
                plan.append(PlannedWrite(epic.key, t.field.id, t.field.name, t.figure, _plain(old), new))
    return plan


@dataclass(slots=True)
class EpicOutcome:
    """What became of one epic's writes (computed off the main thread, journaled on it)."""

    key: str
    applied: list[tuple[int, PlannedWrite]] = field(default_factory=list)
    failed: list[tuple[tuple[int, PlannedWrite], str]] = field(default_factory=list)
    #: The write ran out of retries (Jira down, hung, or throttling beyond the wait budget).
    exhausted: bool = False


def write_epic(tracker: Tracker, key: str, writes: Sequence[tuple[int, PlannedWrite]]) -> EpicOutcome:
    """One PUT with all the epic's changed fields; fields Jira refuses are dropped and the rest retried."""
    outcome = EpicOutcome(key)
    pending = {w.field_id: (wid, w) for wid, w in writes}
    while pending:
        try:
            tracker.update(key, {w.field_id: w.new for _, w in pending.values()})
        except WriteRejected as exc:
            refused = [e for e in exc.errors if e.field in pending]
            if not refused:  # the whole write failed, not one field
                outcome.failed += [(pw, str(exc)) for pw in pending.values()]
                return outcome
            for e in refused:
                outcome.failed.append((pending.pop(e.field), e.message))
            continue  # retry the fields Jira did not object to
        except RetriesExhausted as exc:
            outcome.exhausted = True
            outcome.failed += [(pw, f"{type(exc).__name__}: {exc}") for pw in pending.values()]
            return outcome
        except Exception as exc:  # noqa: BLE001 - a failed epic must not stop the others
            outcome.failed += [(pw, f"{type(exc).__name__}: {exc}") for pw in pending.values()]
            return outcome
        outcome.applied = list(pending.values())
        return outcome
    return outcome


def apply_plan(
    tracker: Tracker, store: Store, run_id: int, plan: Sequence[PlannedWrite], *, concurrency: int = 4,
    progress: Progress = NO_PROGRESS,
) -> ApplyResult:
    """One PUT per changed epic, ``concurrency`` epics at a time; journaled planned -> applied/failed.

    Each epic is written once per run at most (per-issue write limits), so
    concurrency only spreads writes across epics.

    Why 4 by default (``[jira] write_concurrency``, 1..16): Jira Cloud applies
    independent limits at once (https://developer.atlassian.com/cloud/jira/platform/rate-limiting/
    and .../build-an-app-that-respects-rate-limits/): a *burst* limit per tenant, endpoint and
    HTTP method (``RateLimit-Reason: jira-burst-based``; API-token traffic such as ours is governed
    by these burst limits, not by the points quotas of apps), and a *per-issue write* limit
    (``jira-per-issue-on-write``) that only repeated writes to one issue can reach. One PUT per
    epic per run never repeats an issue, so only the burst limit of ``PUT /issue/{key}``
    matters. Atlassian's advice is to pace requests and to back off on 429 using the
    response's headers; the shared HTTP client honours ``Retry-After``, and a few requests in
    flight is pacing: four PUTs waiting on Jira at once already hide most of its latency
    (sequential 2,000 PUTs at 100 ms each would be 200 s, four at a time 50 s) without
    multiplying our share of the tenant's burst budget by 16. All writers share
    one ``httpx.Client``, whose pool keeps each connection alive between requests: at most
    ``concurrency`` TLS handshakes per run, not one per epic.

    More in flight buys nothing on our side: where Jira answers at once (the loopback sandbox)
    the stage is bound by our CPU under one GIL, and 1, 2 and 4 in flight take about the same
    time. ``concurrency`` long-running pool tasks take epics from one shared queue and this
    thread journals each outcome as it arrives (:func:`_write_in_threads`); one writer writes on
    this thread, with no pool. A task and a future per epic (what this replaced) cost a
    ``wait()`` and a thread hand-off per PUT: 347 against 374 us of CPU a PUT at 4 in flight
    (medians, ``bench/apply_speed.py``). ``docs/performance.md`` ("Apply") has the figures,
    where a PUT's CPU goes (httpx, httpcore and h11 ~190 us of ~230), and what was measured and
    dropped: helper threads beside this one (their finished writes went unjournaled while its
    own PUT waited out a ``Retry-After``), and an HTTP/1.1 layer of our own in place of h11 (it
    hand-writes the framing and parsing a well-kept library does, where a parsing bug is a
    security bug).

    Journal marks are batched:
    a run killed before marking leaves writes *planned*, the next run marks
    them abandoned, and its plan (made against Jira's live values) repeats
    only what did not land.
    """
    result = ApplyResult()
    by_epic: dict[str, list[tuple[int, PlannedWrite]]] = {}
    ids = store.journal_planned(run_id, [
        {"epic_key": w.epic_key, "field_id": w.field_id, "figure": w.figure, "old": w.old, "new": w.new} for w in plan])
    for wid, w in zip(ids, plan, strict=True):
        by_epic.setdefault(w.epic_key, []).append((wid, w))
    journal = _JournalBatch(store)
    queue = _EpicQueue(tracker, iter(by_epic.items()))
    written, total = 0, len(by_epic)
    progress.update("writes", 0, total)

    def record(outcome: EpicOutcome) -> None:
        nonlocal written
        journal.record(outcome, result)
        written += 1
        progress.update("writes", written, total)

    writers = min(max(1, concurrency), total)  # a plan of one epic (or none) needs no thread
    try:
        if writers <= 1:
            _write_all(queue, record)  # no thread: nothing to overlap (see the docstring's figures)
        else:
            _write_in_threads(queue, writers, record)
    except BaseException:
        journal.flush()  # Ctrl-C: what did land is marked applied, not left planned
        raise
    for key, writes in queue.left():  # Jira is not taking writes: leave the rest for the next run
        note = (f"not attempted: {queue.exhausted} epics' writes in a row ran out of retries; "
                "the next run plans it again")
        journal.record(EpicOutcome(key, failed=[(pw, note) for pw in writes]), result)
    journal.flush()
    return result


def _write_all(queue: _EpicQueue, emit: Callable[[EpicOutcome], None]) -> None:
    """One writer: take epics from ``queue`` until it has none for us, passing on each outcome."""
    while (outcome := queue.write_next()) is not None:
        emit(outcome)


def _write_in_threads(queue: _EpicQueue, writers: int, record: Callable[[EpicOutcome], None]) -> None:
    """``writers`` long-running pool tasks write; this thread only records their outcomes.

    Each task loops over the shared queue (one task per writer, not one per epic: a future and a
    wait per PUT cost ~20-30 us of CPU a PUT at 2-4 in flight; :func:`apply_plan` has the
    figures). Outcomes come back on a ``SimpleQueue`` and are recorded (journal batch, progress)
    the moment they arrive, so a writer waiting out a ``Retry-After`` holds up no other writer's.
    Each task runs in a copy of this thread's context: what it logs (a 429's "retrying in …")
    carries the run id like every other line of the run. On Ctrl-C (or any error here) no writer
    starts another epic; those in flight finish and are recorded.
    """
    outcomes: SimpleQueue[EpicOutcome | None] = SimpleQueue()  # None: a writer has stopped

    def writer() -> None:
        try:
            _write_all(queue, outcomes.put)
        finally:
            outcomes.put(None)

    running = writers

    def take() -> None:
        nonlocal running
        if (outcome := outcomes.get()) is None:
            running -= 1
        else:
            record(outcome)

    with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="jira-write") as pool:
        tasks = [pool.submit(contextvars.copy_context().run, writer) for _ in range(writers)]
        try:
            while running:
                take()
        finally:
            queue.stop()  # done, or interrupted: no writer starts another epic
            while running:  # the epics in flight still end, and are recorded
                take()
    for task in tasks:
        task.result()  # a writer's own failure (write_epic reports the tracker's) is raised here


class _EpicQueue:
    """The plan's epics, handed out one at a time to whichever writer is free, until Jira looks down.

    Shared by the writers: taking the next epic and counting the epics in a row whose write ran
    out of retries happen under one lock, so after ``GIVE_UP_AFTER`` such epics in a row no
    writer starts another.
    """

    def __init__(self, tracker: Tracker, epics: Iterator[tuple[str, list[tuple[int, PlannedWrite]]]]) -> None:
        self._tracker, self._epics = tracker, epics
        self._lock = threading.Lock()
        self._stopped = False
        #: Epics in a row (in the order their writes ended) whose write ran out of retries.
        self.exhausted = 0

    def write_next(self) -> EpicOutcome | None:
        """Write the next epic and return what became of it; None when there is none to write."""
        with self._lock:
            nxt = None if self._stopped or self.exhausted >= GIVE_UP_AFTER else next(self._epics, None)
        if nxt is None:
            return None
        outcome = write_epic(self._tracker, *nxt)
        with self._lock:
            self.exhausted = self.exhausted + 1 if outcome.exhausted else 0
        return outcome

    def stop(self) -> None:
        """No writer starts another epic (the caller is leaving: done, or interrupted)."""
        with self._lock:
            self._stopped = True

    def left(self) -> Iterator[tuple[str, list[tuple[int, PlannedWrite]]]]:
        """The epics no writer took."""
        return self._epics


class _JournalBatch:
    """Journal marks, written in batches: one transaction per epic cost more than the PUT."""

    def __init__(self, store: Store, size: int = 500) -> None:
        self.store, self.size = store, size
        self.applied: list[int] = []
        self.failed: dict[str, list[int]] = {}

    def record(self, outcome: EpicOutcome, result: ApplyResult) -> None:
        if outcome.applied:
            self.applied += [wid for wid, _ in outcome.applied]
            result.applied += len(outcome.applied)
            result.epics_written += 1
        for (wid, w), message in outcome.failed:
            self.failed.setdefault(message, []).append(wid)
            result.failed += 1
            result.errors.append({"epic": outcome.key, "field": w.field_id, "field_name": w.field_name,
                                  "error": message})
            log.warning("write refused: %s %s (%s): %s", outcome.key, w.field_name, w.field_id, message)
        if len(self.applied) + sum(map(len, self.failed.values())) >= self.size:
            self.flush()

    def flush(self) -> None:
        if self.applied:
            self.store.journal_done(self.applied, "applied")
        for message, ids in self.failed.items():
            self.store.journal_done(ids, "failed", message)
        self.applied, self.failed = [], {}


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return value
