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

from demandsync.config import Config, ConfigError
from demandsync.connectors.base import Tracker, load_tracker_class
from demandsync.connectors.http import APIError, ConnectFailed
from demandsync.connectors.http.redaction import Scrubber
from demandsync.domain import Epic, TrackerField
from demandsync.errors import EXIT_FAILED, EXIT_OK
from demandsync.logs import run_id_var
from demandsync.sync.demand import Demand, DemandRules, stored_demand
from demandsync.sync.fields import resolve_field
from demandsync.sync.linking.link import link_items
from demandsync.sync.notify import post_digest, previous_figures
from demandsync.sync.progress import NO_PROGRESS, Progress
from demandsync.sync.projects import ambiguous_refs, plan_writes_per_project, resolve_targets_per_project
from demandsync.sync.pull import SourceReport, pull_source
from demandsync.sync.requesters import newly_shipped, shipped_epics
from demandsync.sync.store.lock import RunLock
from demandsync.sync.store.store import Store, StoreUnavailable, describe_db_error, describe_error, make_engine, migrate
from demandsync.sync.summary import items_by_epic, remember_run, run_basis, sync_summaries, unchanged_since_last_run
from demandsync.sync.writeback import Target, TargetError, apply_plan, plan_writes, resolve_targets

log = logging.getLogger(__name__)
T = TypeVar("T")

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
