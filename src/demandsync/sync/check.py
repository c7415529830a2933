"""``demandsync check``: everything a run needs, tried without changing anything.

The admin's one command. Each check is one line, ✓ or ✗, and a failed one says
the fix. A failure carries the exception that explains it, and
:func:`demandsync.errors.exit_code` maps the worst of them to the exit code:
2 when the config must change (the line names the key), 1 when something
outside failed (a server, a file, the database), 0 when everything is usable.

Checked, in order: the config; every source (glob matches, newest file readable,
layout detected, every mapped column present in every file; API sources
authenticate and read one page: ``Source.check()``); the store (URL, driver,
reachable, schema revision: it is read, never migrated); the tracker
(credentials, ``[jira.fields]``, the epics' edit screens); every ``[[rules]]``
epic and every explicit key found in the data points at an epic the epics
query selects. Nothing is written to the store or the tracker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from demandsync.config import Config, env_name
from demandsync.connectors.base import Source, SourceContext, Tracker
from demandsync.connectors.http import ConnectFailed
from demandsync.domain import Quarantined
from demandsync.errors import EXIT_CONFIG, EXIT_OK, ConfigError, DemandsyncError, OutsideError, exit_code
from demandsync.mappings.engine import Mapper, MappingError, build_mapper
from demandsync.sync.store.store import HEAD_REVISION, make_engine, schema_revision


@dataclass(slots=True)
class Check:
    """One line of ``check``'s output."""

    name: str
    ok: bool
    detail: str
    #: What to change, for a failed check.
    fix: str = ""
    #: The failure's exception (decides the exit code); None for a passed check.
    error: BaseException | None = field(default=None, repr=False)

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.error is None else exit_code(self.error)

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix,
                "kind": None if self.ok else ("config" if self.exit_code == EXIT_CONFIG else "outside")}


def overall_exit_code(checks: list[Check]) -> int:
    """2 if any failure is the config's, else 1 if anything failed, else 0."""
    codes = {c.exit_code for c in checks}
    return EXIT_CONFIG if EXIT_CONFIG in codes else max(codes, default=EXIT_OK)


def run_checks(config: Config, tracker_factory: Callable[[Config], Tracker]) -> list[Check]:
    checks = [Check("config", True, str(config.path))]
    hints: dict[str, int] = {}
    for src in config.settings.sources:
        if src.enabled:
            checks += _check_source(config, src.name, hints)
    store_check, store_hints = _check_store(config)
    checks.append(store_check)
    for key, n in store_hints.items():  # the same item is often in both: the larger count, not the sum
        hints[key] = max(hints.get(key, 0), n)
    checks += _check_tracker(config, tracker_factory, hints)
    return checks


# ---- sources ------------------------------------------------------------------------------------


def _check_source(config: Config, name: str, hints: dict[str, int]) -> list[Check]:
    src = next(s for s in config.settings.sources if s.name == name)
    label = f"source {name}"
    cls = config.source_classes[name]
    source = cls(config.source_options[name], SourceContext(name, config.base_dir, full=True))
    try:
        try:
            what = source.check()
        except FileNotFoundError as exc:  # a glob matching nothing, a missing file: the path is wrong
            return [Check(label, False, str(exc), f"fix {config.source_key(name, 'path')} or put the export there",
                          ConfigError(str(exc)))]
        except ConnectFailed as exc:
            return [Check(label, False, str(exc), f"check {config.source_key(name, 'url')}", exc)]
        except DemandsyncError as exc:
            return [Check(label, False, str(exc), _source_fix(config, name, exc), exc)]
        except OSError as exc:
            return [Check(label, False, f"{type(exc).__name__}: {exc}", "check the file's permissions",
                          OutsideError(str(exc)))]
        try:
            mapper = build_mapper(name, src.preset or cls.default_preset, src.map)
            columns: dict[str, list[str]] = {}
            for record in source.samples():
                if isinstance(record, Quarantined):
                    continue
                _, columns = mapper.columns_for(record)  # raises MappingError naming a missing column
                mapped = mapper.map(record)
                if not cls.cheap_to_scan and mapped is not None and not isinstance(mapped, Quarantined):
                    for key in mapped.epic_hint:
                        hints[key] = hints.get(key, 0) + 1
        except MappingError as exc:
            return [Check(label, True, what), Check(f"{label} mapping", False, str(exc),
                                                    f"fix {config.source_key(name, 'map')} (or its preset)", exc)]
        except DemandsyncError as exc:
            return [Check(label, True, what), Check(f"{label} mapping", False, str(exc), "", exc)]
        if cls.cheap_to_scan:
            _scan_hints(source, mapper, hints)
        mapped_fields = ", ".join(sorted(columns)) or "nothing yet"
        return [Check(label, True, what), Check(f"{label} mapping", True, f"every mapped column present ({mapped_fields})")]
    finally:
        source.close()


#: At most this many records of a cheap-to-scan source are mapped to find epic keys.
SCAN_LIMIT = 200_000


def _scan_hints(source: Source, mapper: Mapper, hints: dict[str, int]) -> None:
    """Count the epic keys every record (up to :data:`SCAN_LIMIT`) names in its epic column.
    Records that do not map are skipped here: the run quarantines them and says why."""
    records = source.pull({})
    try:
        for n, record in enumerate(records):
            if n >= SCAN_LIMIT:
                break
            if isinstance(record, Quarantined):
                continue
            try:
                mapped = mapper.map(record)
            except MappingError:
                continue
            if mapped is not None and not isinstance(mapped, Quarantined):
                for key in mapped.epic_hint:
                    hints[key] = hints.get(key, 0) + 1
    finally:
        getattr(records, "close", lambda: None)()


def _source_fix(config: Config, name: str, exc: BaseException) -> str:
    if isinstance(exc, ConfigError):
        return f"fix {config.source_key(name, '…')} as the message says"
    status = getattr(exc, "status", None)
    if status in (401, 403):
        return (f"check the credentials of {config.source_key(name, '')[:-1]} "
                f"(or DEMANDSYNC_SOURCES__{env_name(name)}__… in the environment)")
    return "see the message; the source's server or file is the problem"


# ---- store --------------------------------------------------------------------------------------


def _check_store(config: Config) -> tuple[Check, dict[str, int]]:
    """URL, driver, reachable, schema revision; read only (``check`` never migrates)."""
    from demandsync.sync.store.store import Store

    url = config.store_url
    shown = sa.engine.make_url(url).render_as_string(hide_password=True) if "://" in url else url
    try:
        engine = make_engine(url)
    except ConfigError as exc:
        return Check("store", False, str(exc).split("store.url: ", 1)[-1], "fix store.url", exc), {}
    try:
        with engine.connect() as conn:
            revision = schema_revision(conn)
        if revision is None:
            return Check("store", True, f"{shown} reachable; empty (the first run creates the schema)"), {}
        if revision != HEAD_REVISION and not _older(revision):
            newer = OutsideError(f"schema revision {revision} is not one this demandsync knows (newest {HEAD_REVISION})")
            return Check("store", False, f"{shown}: {newer}", "upgrade demandsync, or point store.url elsewhere",
                         newer), {}
        hints = Store(engine).epic_hints()
        state = "current" if revision == HEAD_REVISION else f"at {revision}; the next run upgrades it to {HEAD_REVISION}"
        return Check("store", True, f"{shown} reachable; schema {state}"), hints
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        err = OutsideError(f"cannot reach the store: {reason}")
        return Check("store", False, f"{shown}: {err}", "start the database, or fix store.url", err), {}
    finally:
        engine.dispose()


def _older(revision: str) -> bool:
    return revision[:4].isdigit() and revision[:4] < HEAD_REVISION[:4]


# ---- tracker, rules, explicit keys -------------------------------------------------------------


def _check_tracker(config: Config, tracker_factory: Callable[[Config], Tracker], hints: dict[str, int]) -> list[Check]:
    from demandsync.sync.writeback import TargetError, resolve_targets

    tracker = tracker_factory(config)
    name, section = tracker.display_name, tracker.section
    out: list[Check] = []
    try:
        try:
            out.append(Check(f"{name.lower()} credentials", True, f"connected as {tracker.whoami()}"))
        except ConnectFailed as exc:
            return [Check(f"{name.lower()} credentials", False, str(exc), f"check {section}.url", exc)]
        except OutsideError as exc:
            fix = (f"check {tracker.credentials_hint}" if getattr(exc, "status", None) in (401, 403)
                   else f"check {section}.url")
            return [Check(f"{name.lower()} credentials", False, str(exc), fix, exc)]
        try:
            targets = resolve_targets(config.settings.tracker.fields, tracker.fields(), section=section, tracker=name)
            out.append(Check(f"{name.lower()} fields", True,
                             ", ".join(f"{t.figure} -> {t.field.name} ({t.field.id})" for t in targets) or "none"))
        except TargetError as exc:
            problems = ConfigError(exc.problems, config.path)
            out.append(Check(f"{name.lower()} fields", False, "; ".join(f"{k}: {m}" for k, m in exc.problems),
                             f"fix {', '.join(k for k, _ in exc.problems)}", problems))
            targets = []
        sel = config.settings.tracker
        epics = list(tracker.epics(sel.selection, []))
        selected = {e.key for e in epics}
        out.append(Check("epics", bool(epics), f"{len(epics)} selected by {sel.selection_key}",
                         "" if epics else f"fix {sel.selection_key}: it selects no epic",
                         None if epics else ConfigError(f"{sel.selection_key} selects no epic")))
        checked: set[str | None] = set()
        for epic in epics:  # edit screens are per project (and issue type): one epic each
            if epic.project in checked or not targets:
                continue
            checked.add(epic.project)
            editable = tracker.editable_fields(epic.key)
            missing = [t for t in targets if t.field.id not in editable]
            label = f"edit screen of project {epic.project}"
            if missing:
                names = ", ".join(f"{t.field.name} ({t.field.id})" for t in missing)
                out.append(Check(label, False, f"{names} not on the edit screen of {epic.key}",
                                 f"add {'it' if len(missing) == 1 else 'them'} to project {epic.project}'s "
                                 "Epic edit screen", OutsideError(f"{names} not on the edit screen of {epic.key}")))
            else:
                out.append(Check(label, True, f"all {len(targets)} target fields editable on {epic.key}"))
        out += _check_keys(config, selected, hints, section)
    except ConnectFailed as exc:
        out.append(Check(name.lower(), False, str(exc), f"check {section}.url", exc))
    except OutsideError as exc:
        out.append(Check(name.lower(), False, str(exc), "see the message", exc))
    except ConfigError as exc:  # found once the tracker answered (e.g. an Aha! product it does not have)
        out.append(Check(name.lower(), False, str(exc), "fix the key the message names", exc))
    finally:
        tracker.close()
    return out


def _check_keys(config: Config, selected: set[str], hints: dict[str, int], section: str) -> list[Check]:
    selection_key = config.settings.tracker.selection_key  # jira.epics, aha.product
    out: list[Check] = []
    for i, rule in enumerate(config.settings.rules):
        key = f"rules[{i}].epic"
        if rule.epic in selected:
            out.append(Check(f"rule {rule.epic}", True, f"{key} is a selected epic"))
        else:
            msg = f"{key} = {rule.epic!r} is not selected by {selection_key}: the rule links nothing"
            out.append(Check(f"rule {rule.epic}", False, msg, f"fix {key}, or widen {selection_key}",
                             ConfigError([(key, msg)], config.path)))
    unknown = {k: n for k, n in sorted(hints.items()) if k not in selected}
    if hints and not unknown:
        out.append(Check("explicit keys", True, f"all {len(hints)} epic keys named in the data are selected epics"))
    for k, n in unknown.items():
        msg = f"{k} is named in {n} item(s) but not selected by {selection_key}: they do not count for it"
        out.append(Check(f"explicit key {k}", False, msg,
                         f"widen {selection_key}, or correct the key in the source", OutsideError(msg)))
    return out
