"""One run: lock, stages, run record, exit status.

    fields ─▶ sources ─▶ epics ─▶ link ─▶ count ─▶ plan ─▶ apply

Each stage commits what it finished, so a run killed anywhere leaves a store
the next run converges from. A source that fails is reported and the others
go on; the run then exits 1. Config problems found on the way (a target field
that does not exist) exit 2 before anything is pulled or written.
"""

from __future__ import annotations

import contextvars
import copy
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import sqlalchemy as sa

from demandsync.config import Config, ConfigError, SourceConfig
from demandsync.connectors.base import SourceContext, Tracker, load_tracker_class
from demandsync.connectors.http import APIError, ConnectFailed
from demandsync.connectors.http.redaction import Scrubber
from demandsync.domain import Epic, FeedbackItem, Quarantined, Record, TrackerField
from demandsync.errors import EXIT_FAILED, EXIT_OK, DemandsyncError
from demandsync.logs import run_id_var
from demandsync.mappings.engine import Mapper, MappingError, build_mapper
from demandsync.sync import collector
from demandsync.sync.demand import Demand, DemandRules, stored_demand
from demandsync.sync.fields import resolve_field
from demandsync.sync.linking.link import link_items
from demandsync.sync.notify import post_digest, previous_figures
from demandsync.sync.progress import NO_PROGRESS, Progress
from demandsync.sync.projects import ambiguous_refs, plan_writes_per_project, resolve_targets_per_project
from demandsync.sync.requesters import newly_shipped, shipped_epics
from demandsync.sync.store.lock import RunLock
from demandsync.sync.store.store import Store, StoreUnavailable, describe_db_error, make_engine, migrate
from demandsync.sync.summary import items_by_epic, remember_run, run_basis, sync_summaries, unchanged_since_last_run
from demandsync.sync.writeback import Target, TargetError, apply_plan, plan_writes, resolve_targets

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Items per store transaction in a pull: fewer commits (each rewrites the same index pages)
#: and lookups; memory stays a few MB whatever the source's size. 20,000 (was 5,000): a first pull's
#: commits cost 0.32 -> 0.17 s CPU for bench/pull.py's 93,000 items (replayed), ~12 MB more peak RSS.
_ITEM_BATCH = 20_000


@dataclass(slots=True)
class SourceReport:
    pulled: int = 0
    new: int = 0
    changed: int = 0
    #: Records whose item is stored already, as it is (pulled = new + changed + unchanged
    #: + quarantined + skipped + forgotten: every record is accounted for).
    unchanged: int = 0
    quarantined: int = 0
    skipped: int = 0
    deleted: int = 0
    #: Items dropped because their requester was erased with ``demandsync forget``.
    forgotten: int = 0
    error: str | None = None


@dataclass(slots=True)
class RunReport:
    run_id: int | None = None
    dry_run: bool = False
    sources: dict[str, SourceReport] = field(default_factory=dict)
    epics: int = 0
    links: dict[str, int] = field(default_factory=dict)
    writes: dict[str, int] = field(default_factory=lambda: {"planned": 0, "applied": 0, "failed": 0})
    plan: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    demand: dict[str, dict[str, Any]] = field(default_factory=dict)
    summaries: dict[str, Any] = field(default_factory=dict)
    #: Epic keys in items' ``epic`` column that the epic JQL does not select -> live items naming each.
    unselected_keys: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        failed = any(s.error for s in self.sources.values()) or self.writes["failed"] or self.errors
        return EXIT_FAILED if failed else EXIT_OK

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data, a copy (changing it leaves the report alone), with ``exit_code``.

        What ``dataclasses.asdict`` gives, without its deep copy of every value one by one: that
        took 0.25 s for a first run's report (10,000 planned writes, 2,000 epics' figures), paid
        by ``--json`` and by the runs table's record of every run."""
        doc = {f.name: _copied(getattr(self, f.name)) for f in fields(self)}
        doc["exit_code"] = self.exit_code
        return doc


def _copied(value: Any) -> Any:
    """``value`` copied as ``dataclasses.asdict`` copies a field: containers rebuilt, dataclasses
    as dicts; immutable scalars are shared (a deep copy returns them as they are)."""
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, dict):
        return {_copied(k): _copied(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copied(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return tuple(_copied(v) for v in value)
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return copy.deepcopy(value)


def build_tracker(config: Config) -> Tracker:
    """The configured tracker, found by name in the ``demandsync.trackers`` entry points."""
    cls = load_tracker_class(config.tracker_name)
    return cls.from_settings(getattr(config.settings, config.tracker_name))


def demand_rules(config: Config) -> DemandRules:
    d = config.settings.demand
    return DemandRules(
        email_domain_accounts=d.email_domain_accounts,
        source_weights=dict(d.weights.source),
        attribute_weights={a: {k.lower(): v for k, v in t.items()} for a, t in d.weights.attribute.items()},
        half_life_days=d.half_life_days,
    )


def run_sync(
    config: Config,
    *,
    dry_run: bool = False,
    full: bool = False,
    only: Sequence[str] | None = None,
    tracker_factory: Callable[[Config], Tracker] = build_tracker,
    now: datetime | None = None,
    progress: Progress = NO_PROGRESS,
) -> RunReport:
    """Run every stage once. Raises LockHeld (exit 75) and ConfigError (exit 2).

    ``only`` names the sources to pull (several may be named); a name the config
    does not have is a ConfigError listing the names, before anything is opened.

    A dry run changes nothing anywhere: Jira is only read, and every store change it
    makes (pulled items, cursors, links, its own run record) happens inside one
    transaction that is rolled back at the end (:meth:`Store.rolled_back`). So its
    plan is the plan a real run would make now, and the next real run still pulls
    everything the dry run saw.
    """
    check_only(config, only)
    started = time.monotonic()
    engine = make_engine(config.store_url)
    try:
        # The lock comes first: two first runs on an empty database would otherwise both
        # create the tables, and the loser crash instead of exiting 75.
        with _run_lock(engine):
            migrate(engine)
            store = Store(engine)
            if not dry_run:
                return _locked_run(config, store, tracker_factory(config), dry_run, full, only, now, started, progress)
            with store.rolled_back():
                return _locked_run(config, store, tracker_factory(config), dry_run, full, only, now, started, progress)
    finally:
        engine.dispose()


def _run_lock(engine: sa.Engine) -> RunLock:
    try:
        return RunLock.acquire(engine)
    except sa.exc.DBAPIError as exc:  # the database is not there: one line, no traceback
        raise StoreUnavailable(f"cannot open the store at {engine.url!r}: {describe_db_error(exc)}") from None


def check_only(config: Config, only: Sequence[str] | None) -> None:
    """``--source`` names must be sources of the config (exit 2 naming the ones there are)."""
    if not only:
        return
    names = [s.name for s in config.settings.sources]
    problems = []
    for name in dict.fromkeys(only):
        if name not in names:
            problems.append(("--source", f"no source named {name!r}; the config has: {', '.join(names) or 'none'}"))
        elif not next(s for s in config.settings.sources if s.name == name).enabled:
            problems.append(("--source", f"source {name!r} is disabled (enabled = false in its [[sources]] table)"))
    if problems:
        raise ConfigError(problems, config.path)


def _locked_run(
    config: Config, store: Store, tracker: Tracker, dry_run: bool, full: bool,
    only: Sequence[str] | None, now: datetime | None, started: float, progress: Progress = NO_PROGRESS,
) -> RunReport:
    """One recorded run: whatever happens, the runs table says how it ended."""
    report = RunReport(dry_run=dry_run)
    scrubber = config.scrubber
    report.run_id = store.start_run(socket.gethostname(), os.getpid(), dry_run)
    token = run_id_var.set(report.run_id)
    log.info("run %s started%s", report.run_id, " (dry run)" if dry_run else "",
             extra={"event": "run_started", "dry_run": dry_run, "full": full})
    try:
        _stages(config, store, tracker, report, full=full, only=only, now=now or datetime.now(UTC),
                progress=progress)
    except ConfigError as exc:  # found only once Jira answered (a field name, a field per project): exit 2
        report.errors.append({"stage": "config", "error": str(exc)})
        raise
    except (APIError, httpx.HTTPError) as exc:  # the tracker unreachable or refusing us: nothing more to do
        message = str(exc)
        if isinstance(exc, ConnectFailed):
            message += f"; check {tracker.section}.url in {config.path.name}"
        report.errors.append({"stage": tracker.section, "error": message})
        log.error("run %s stopped: %s: %s", report.run_id, tracker.display_name, message,
                  extra={"event": "run_stopped", "stage": tracker.section, "error": message})
    except Exception as exc:
        report.errors.append({"stage": "run", "error": describe_error(exc)})
        extra = {"event": "run_failed", "error": describe_error(exc)}
        if isinstance(exc, sa.exc.SQLAlchemyError):  # no traceback: a SQL error's carries its parameters
            log.error("run %s failed: %s", report.run_id, describe_error(exc), extra=extra)
        else:  # a bug: say where, with the traceback (the formatter scrubs secrets from it)
            log.exception("run %s failed: %s", report.run_id, describe_error(exc), extra=extra)
    finally:
        # Whatever a server echoed (a token in a 401 body) leaves neither through the
        # report (--json, the run table) nor through the runs table.
        scrub_report(report, scrubber)
        tracker.close()
        report.seconds = round(time.monotonic() - started, 3)
        stopped = any(e.get("stage") in ("config", tracker.section, "run") for e in report.errors)
        status = "ok" if report.exit_code == EXIT_OK else "failed" if stopped else "partial"
        store.finish_run(report.run_id, status, _summary(report))
        log.info("run %s finished: %s in %.1fs", report.run_id, status, report.seconds,
                 extra={"event": "run_finished", "status": status, "seconds": report.seconds,
                        "epics": report.epics, "links": report.links, **report.writes,
                        "exit_code": report.exit_code})
        run_id_var.reset(token)
    return report


def _stages(
    config: Config, store: Store, tracker: Tracker, report: RunReport, *,
    full: bool, only: Sequence[str] | None, now: datetime, progress: Progress = NO_PROGRESS,
) -> None:
    """fields -> sources -> epics -> link -> count -> plan -> apply -> summary, digest."""
    settings = config.settings
    site_fields = tracker.fields()
    targets, value_ids = _site_targets(config, site_fields, tracker.display_name)

    # The epics are read while the sources pull: the tracker's answers arrive while this process
    # parses files, instead of one search page's round trip after another once the pull is done.
    # Importing the link stage's numpy and scipy on a thread of their own here too was measured and
    # dropped (bench/run.py scenario 1, 4 alternating pairs): the import holds the GIL, so its
    # 0.14 s CPU moved into the pull (pull CPU +0.13-0.31 s, its wall longer) and the run's CPU and
    # wall did not fall.
    read_epics = _in_background(lambda: list(tracker.epics(settings.tracker.selection, value_ids)))
    for src in settings.sources:
        if src.enabled and (not only or src.name in only):
            report.sources[src.name] = pull_source(config, store, src, report.run_id or 0, full, progress)

    progress.update("epics", 0)
    epics = read_epics()
    store.save_epics(epics)
    report.epics = len(epics)
    progress.update("epics", len(epics), len(epics))
    if targets is None:  # team-managed projects: each project has its own fields
        per_project = resolve_targets_per_project(tracker, settings.tracker.fields, epics, site_fields)
        if per_project.problems and not per_project.by_project:
            raise ConfigError(per_project.problems, config.path)
        report.errors += [{"stage": "fields", "error": f"{k}: {m}"} for k, m in per_project.problems]

    progress.update("links", 0)
    stats = link_items(store, epics, settings.rules, settings.linking)
    for epic in stats.rules_without_epic:
        log.warning("rule for %s links nothing: the epic JQL does not select %s", epic, epic,
                    extra={"event": "rule_without_epic", "epic": epic})
    selected = {e.key for e in epics}
    report.unselected_keys = {k: n for k, n in sorted(store.epic_hints().items()) if k not in selected}
    for key, count in report.unselected_keys.items():
        log.warning("%d item(s) name %s in their epic column, but %s.epics does not select it: they count for "
                    "no epic", count, key, tracker.section,
                    extra={"event": "key_not_selected", "epic": key, "items": count})
    report.links = store.link_counts()
    progress.update("links", stats.linked_items, stats.linked_items)

    rules = demand_rules(config)
    # Read once for counting and the summaries' basis: nothing in between writes items, links or people.
    stamp = store.demand_stamp()
    demand = stored_demand(store, [e.key for e in epics], rules, now, stamp)
    report.demand = {k: d.as_dict() for k, d in demand.items()}

    plan = plan_writes(epics, demand, targets) if targets is not None else (
        plan_writes_per_project(epics, demand, per_project))
    report.plan = [w.as_dict() for w in plan]
    report.writes["planned"] = len(plan)
    if report.dry_run:
        report.summaries = after_writes(config, store, tracker, epics, demand, site_fields, dry_run=True, stamp=stamp)
        return

    before = previous_figures(store)
    store.save_demand(report.demand)
    result = apply_plan(tracker, store, report.run_id or 0, plan, concurrency=settings.tracker.write_concurrency,
                        progress=progress)
    report.writes["applied"], report.writes["failed"] = result.applied, result.failed
    report.errors.extend(result.errors)
    report.summaries = after_writes(config, store, tracker, epics, demand, site_fields, dry_run=False, stamp=stamp)
    report.errors.extend(report.summaries.pop("errors", []))
    notify_and_close(config, store, tracker, epics, before, report.demand)


def _in_background(work: Callable[[], T]) -> Callable[[], T]:
    """Start ``work`` on a thread of its own now; the function returned waits for its result
    (or raises what it raised), in the caller's thread, when the caller needs it.

    For the tracker's epic read, which is waiting on the network most of the time, during the
    pull, which is CPU. It writes nothing to the store, so where a run is killed is unchanged.
    The thread runs in a copy of the caller's context (the run id logs carry), and as a daemon:
    a run that ends without asking for the result (a bug, Ctrl-C) does not wait on a slow tracker.
    """
    done: list[T] = []
    failed: list[BaseException] = []

    def target() -> None:
        try:
            done.append(work())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            failed.append(exc)

    thread = threading.Thread(target=contextvars.copy_context().run, args=(target,), name="read-epics", daemon=True)
    thread.start()

    def result() -> T:
        thread.join()
        if failed:
            raise failed[0]
        return done[0]

    return result


def _site_targets(config: Config, fields: list[TrackerField],
                  tracker_name: str = "Jira") -> tuple[list[Target] | None, list[str]]:
    """Targets resolved site-wide, and the field ids to read with the epics.

    A field *name* shared by several fields (team-managed projects each own a
    "Customer requests") is resolved per project later, on each project's edit
    screen: then this returns ``None`` and every candidate id. Anything else
    wrong is a config error (exit 2) before anything is pulled or written.
    """
    refs, section = config.settings.tracker.fields, config.tracker_name
    try:
        targets = resolve_targets(refs, fields, section=section, tracker=tracker_name)
        return targets, [t.field.id for t in targets]
    except TargetError as exc:
        shared = ambiguous_refs(refs, fields)
        if not shared or any(k.removeprefix(f"{section}.fields.") not in shared for k, _ in exc.problems):
            raise ConfigError(exc.problems, config.path) from None
        ids = [fid for ids in shared.values() for fid in ids]
        ids += [resolve_field(ref, fields, tracker=tracker_name).id for fig, ref in refs.items() if fig not in shared]
        return None, list(dict.fromkeys(ids))


def after_writes(
    config: Config, store: Store, tracker: Tracker, epics: list[Epic], demand: dict[str, Demand],
    site_fields: list[TrackerField], dry_run: bool, stamp: list[str] | None = None,
) -> dict[str, Any]:
    """The managed summary on each epic, when ``[summary] enabled`` (``site_fields``: the tracker's
    fields as the run read them, so the summary field is resolved without asking again; ``stamp``:
    ``Store.demand_stamp()`` as counting read it)."""
    cfg = config.settings.summary
    if not cfg.enabled:
        return {}
    field_id = None
    if cfg.mode == "field" and cfg.field:
        field_id = resolve_field(cfg.field, site_fields, tracker=tracker.display_name).id
    settings = {"mode": cfg.mode, "field_id": field_id, "field_format": cfg.field_format, "top": cfg.top,
                "show_requesters": cfg.show_requesters, "show_emails": cfg.show_emails}
    basis = run_basis(store, epics, demand, settings, stamp)
    result = None if dry_run else unchanged_since_last_run(store, basis)
    if result is None:
        result = sync_summaries(
            tracker, store, epics, demand, items_by_epic(store.linked_items([e.key for e in epics])),
            mode=cfg.mode, field_id=field_id, field_format=cfg.field_format, top=cfg.top,
            show_requesters=cfg.show_requesters, show_emails=cfg.show_emails, dry_run=dry_run,
        )
        if not dry_run:
            remember_run(store, basis, result)
    return {"created": result.created, "updated": result.updated, "unchanged": result.unchanged,
            "failed": result.failed, "errors": [{"stage": "summary", **e} for e in result.errors]}


def notify_and_close(
    config: Config, store: Store, tracker: Tracker, epics: list[Epic],
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]],
) -> None:
    """Remember which epics shipped; post the Slack digest when configured (never fails the run)."""
    settings = config.settings
    digest = settings.notify.slack_webhook is not None
    shipped = newly_shipped(store, shipped_epics(store, shipped_when=settings.closing.shipped_when, tracker=tracker,
                                                 with_counts=digest))
    if settings.notify.slack_webhook is not None:
        post_digest(settings.notify.slack_webhook, before, after, epics, shipped, top=settings.notify.top,
                    jira_url=settings.jira.url if settings.jira is not None else None)


def pull_source(config: Config, store: Store, src: SourceConfig, run_id: int, full: bool,
                progress: Progress = NO_PROGRESS) -> SourceReport:
    """Pull one source into the store. Its failure is reported, never raised."""
    with collector.paused():  # see sync/collector.py
        return _pull_source(config, store, src, run_id, full, progress)


def _pull_source(config: Config, store: Store, src: SourceConfig, run_id: int, full: bool,
                 progress: Progress) -> SourceReport:
    stage = f"source {src.name}"
    progress.update(stage, 0)
    rep = SourceReport()
    scrubber = config.scrubber
    cls = config.source_classes[src.name]
    source = cls(config.source_options[src.name], SourceContext(src.name, config.base_dir, full=full))
    forgotten = store.forgotten_filter()
    seen = store.seen_items(src.name)  # row ids, not a set of every external id: flat memory
    dropped: list[str] = []  # external ids of records dropped as a forgotten person's: seen all the same
    items: list[FeedbackItem] = []
    bad: list[Quarantined] = []

    # Storing each full batch on a writer thread while the next is read was tried and dropped: no
    # wall gain on SQLite or PostgreSQL (bench/pull.py, bench/run.py), +5-10 % CPU. sqlite3 lets go
    # of the GIL for each row's step and the reader for each file read, and each waits for the switch
    # interval (5 ms) to take it back, so the threads' Python parts run in turn and only the steps of
    # the batches handed over (a source's last batch cannot be) could overlap. Tests pin what such a
    # writer must keep: tests/test_hostile_store.py (a batch the store fails mid-pull).
    # A reader *process* (a file read, mapped and hashed in a child started with `python -c`, batches
    # of tuples over a pipe, the store's code path here unchanged) was built and measured too
    # (2026-11-29): this process's CPU fell to 11-15 us a row, but the reader itself needs 16-19 us a
    # row and sets the pace, so the pull's wall time did not move (bench/pull.py 2.3-2.7 s without,
    # 2.6-3.1 s with; bench/run.py's pull 3.1-3.2 s either way) on this 2-core machine: not kept.
    def flush() -> None:
        # The stored hashes of this batch's items only: memory stays flat however big the source
        # (a row repeated in a later batch finds the hash its first copy stored).
        if dropped:
            store.item_hashes(src.name, dropped, seen)
            dropped.clear()
        known = store.item_hashes(src.name, (i.external_id for i in items), seen) if items else {}
        counts = store.upsert_items(items, known)
        rep.new += counts.new
        rep.changed += counts.changed
        rep.unchanged += counts.unchanged
        bad.extend(counts.refused)
        store.quarantine([_scrubbed(q, scrubber) for q in bad], run_id)
        rep.quarantined += len(bad)
        items.clear()
        bad.clear()

    try:
        mapper = _RecordMapper(build_mapper(src.name, src.preset or cls.default_preset, src.map), src.name)
        for record in source.pull({} if full else store.get_cursor(src.name)):
            rep.pulled += 1
            out = record if isinstance(record, Quarantined) else mapper.map(record)
            if out is None:
                rep.skipped += 1
            elif isinstance(out, Quarantined):
                bad.append(out)
            elif forgotten(out.requester) and not out.people:
                rep.forgotten += 1
                dropped.append(out.external_id)
            else:
                if out.people:  # a forgotten voter or author leaves the request; the request stays
                    out.people = [p for p in out.people if not (forgotten(p.identity) or forgotten(p.email))]
                    if forgotten(out.requester):
                        out.requester = None
                items.append(out)
            if len(items) + len(bad) + len(dropped) >= _ITEM_BATCH:
                flush()
                progress.update(stage, rep.pulled)
        mapper.verdict()
        flush()
        progress.update(stage, rep.pulled, rep.pulled)
        if source.complete():  # the source read everything (a --full run, or its own full read)
            rep.deleted = store.mark_unseen_deleted(seen)
        store.record_pull(src.name, src.kind, cursor=source.cursor, error=None)
    except Exception as exc:  # noqa: BLE001 - one failing source must not stop the others
        try:
            flush()
        except Exception as again:  # noqa: BLE001 - the store itself failed: report, don't mask the cause
            log.error("source %s: could not store its last batch: %s", src.name, scrubber.text(describe_error(again)))
        rep.error = scrubber.text(_describe(exc, config, src))
        store.record_pull(src.name, src.kind, cursor=None, error=rep.error)
        extra = {"event": "source_failed", "source": src.name, "error": rep.error}
        if isinstance(exc, DemandsyncError | httpx.HTTPError | OSError | sa.exc.SQLAlchemyError):
            log.error("source %s failed: %s", src.name, rep.error, extra=extra)  # no traceback: a SQL one carries data
        else:  # a bug in the connector or the mapping: say where
            log.exception("source %s failed: %s", src.name, rep.error, extra=extra)
    finally:
        source.close()
    log.info("source %s: %d pulled, %d new, %d changed, %d quarantined, %d skipped, %d forgotten",
             src.name, rep.pulled, rep.new, rep.changed, rep.quarantined, rep.skipped, rep.forgotten,
             extra={"event": "source_pulled", "source": src.name, "pulled": rep.pulled, "new": rep.new,
                    "changed": rep.changed, "quarantined": rep.quarantined, "skipped": rep.skipped,
                    "forgotten": rep.forgotten})
    return rep


class _RecordMapper:
    """The mapping, one record at a time, so that one record that breaks it is quarantined
    rather than the source failed.

    A :class:`MappingError` says a column or path the map needs is missing. For a file row
    that is the file's header: the map cannot work, the source stops. An API record carries
    its own keys, so one record without them is quarantined, unless *no* record of the pull
    fits the map: then it is the map that is wrong, and :meth:`verdict` raises the first error.
    """

    def __init__(self, mapper: Mapper, source: str) -> None:
        self.mapper, self.source = mapper, source
        self.fitted = False
        self.first_misfit: MappingError | None = None

    def map(self, record: Record) -> FeedbackItem | Quarantined | None:
        try:
            out = self.mapper.map(record)
        except MappingError as exc:
            if getattr(record.data, "header", None) is not None:
                raise
            self.first_misfit = self.first_misfit or exc
            return self._quarantined(record, f"this record does not fit the mapping: {exc}")
        except Exception as exc:  # noqa: BLE001 - one malformed record must not cost the others
            return self._quarantined(record, f"could not map this record: {describe_error(exc)}")
        self.fitted = True
        return out

    def verdict(self) -> None:
        if self.first_misfit is not None and not self.fitted:
            raise self.first_misfit

    def _quarantined(self, record: Record, reason: str) -> Quarantined:
        return Quarantined(self.source, str(getattr(record, "locator", "?"))[:1000], reason,
                           repr(getattr(record, "data", record))[:2000])


def _describe(exc: Exception, config: Config, src: SourceConfig) -> str:
    if isinstance(exc, MappingError):
        return str(exc)
    if isinstance(exc, ConnectFailed):
        return f"{exc}; check {config.source_key(src.name, 'url')} in {config.path.name}"
    return describe_error(exc)


def describe_error(exc: BaseException) -> str:
    """An exception as one line fit for logs, reports and the store: database errors
    without their SQL parameters (customer data), anything else as ``Type: message``."""
    if isinstance(exc, sa.exc.SQLAlchemyError):
        return describe_db_error(exc)
    return f"{type(exc).__name__}: {exc}"


def _scrubbed(q: Quarantined, scrubber: Scrubber) -> Quarantined:
    return Quarantined(q.source, scrubber.text(q.locator), scrubber.text(q.reason), scrubber.text(q.raw))


def scrub_report(report: RunReport, scrubber: Scrubber) -> None:
    """Mask every secret form in the report's free text (errors), in place."""
    if not scrubber:
        return
    for rep in report.sources.values():
        if rep.error:
            rep.error = scrubber.text(rep.error)
    report.errors = scrubber.doc(report.errors)


def _summary(report: RunReport) -> dict[str, Any]:
    """What the runs table keeps: the report without per-epic figures, the plan cut to 200 rows."""
    demand, plan = report.demand, report.plan
    report.demand, report.plan = {}, plan[:200]  # asdict() deep-copies: don't copy 2,000 epics to drop them
    try:
        return report.as_dict()
    finally:
        report.demand, report.plan = demand, plan
