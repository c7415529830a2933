"""Writes are plans (DESIGN rule 4).

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

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from demandsync.connectors.base import Tracker, TrackerField, WriteRejected
from demandsync.connectors.jira import FieldLookupError, resolve_field
from demandsync.domain import Epic
from demandsync.sync.demand import Demand
from demandsync.sync.figures import ACCEPTED_JIRA_TYPES, FIGURES
from demandsync.sync.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Target:
    figure: str
    field: TrackerField


class TargetError(Exception):
    """``[jira.fields]`` cannot be used; ``problems`` are ``(key, message)``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{k}: {m}" for k, m in problems))


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


def resolve_targets(refs: Mapping[str, str], fields: Sequence[TrackerField]) -> list[Target]:
    """``figure -> field ref`` to checked targets; every problem is reported at once."""
    targets: list[Target] = []
    problems: list[tuple[str, str]] = []
    for figure, ref in refs.items():
        key = f"jira.fields.{figure}"
        try:
            f = resolve_field(ref, fields)
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
            problems.append((f"jira.fields.{t.figure}", f"{t.field.id} is the target of more than one figure"))
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


def apply_plan(tracker: Tracker, store: Store, run_id: int, plan: Sequence[PlannedWrite]) -> ApplyResult:
    """One PUT per epic with all its changed fields; journaled planned -> applied/failed."""
    result = ApplyResult()
    by_epic: dict[str, list[tuple[int, PlannedWrite]]] = {}
    ids = store.journal_planned(run_id, [
        {"epic_key": w.epic_key, "field_id": w.field_id, "figure": w.figure, "old": w.old, "new": w.new} for w in plan])
    for wid, w in zip(ids, plan, strict=True):
        by_epic.setdefault(w.epic_key, []).append((wid, w))
    for key, writes in by_epic.items():
        pending = {w.field_id: (wid, w) for wid, w in writes}
        while pending:
            try:
                tracker.update(key, {w.field_id: w.new for _, w in pending.values()})
            except WriteRejected as exc:
                refused = {e.field for e in exc.errors if e.field in pending}
                if not refused:  # the whole write failed, not one field
                    _fail(store, result, key, list(pending.values()), str(exc))
                    break
                for e in exc.errors:
                    if e.field in pending:
                        _fail(store, result, key, [pending.pop(e.field)], e.message)
                continue  # retry the fields Jira did not object to
            except Exception as exc:  # noqa: BLE001 - a failed epic must not stop the others
                _fail(store, result, key, list(pending.values()), f"{type(exc).__name__}: {exc}")
                break
            store.journal_done([wid for wid, _ in pending.values()], "applied")
            result.applied += len(pending)
            result.epics_written += 1
            break
    return result


def _fail(store: Store, result: ApplyResult, key: str, writes: list[tuple[int, PlannedWrite]], message: str) -> None:
    store.journal_done([wid for wid, _ in writes], "failed", message)
    result.failed += len(writes)
    for _, w in writes:
        result.errors.append({"epic": key, "field": w.field_id, "field_name": w.field_name, "error": message})
        log.warning("write refused: %s %s (%s): %s", key, w.field_name, w.field_id, message)


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return value
