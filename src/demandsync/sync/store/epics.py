"""Epics (stage 3 stores them) and the demand figures saved on them before stage 7 applies them.

Linking, counting and the shipped-epic digest read them; ``explain`` and the web page show them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa

from demandsync.domain import Epic
from demandsync.sync.store.base import StoreBase
from demandsync.sync.store.schema import EPICS
from demandsync.sync.store.sql import _BATCH, _canonical, _chunks, storable, utcnow


class EpicStatus(NamedTuple):
    """What deciding which epics shipped reads of a stored epic."""

    summary: str
    status_category: str | None


class EpicsMixin(StoreBase):
    """The ``epics`` table (``links`` and counting join it by key)."""

    # ---- epics ------------------------------------------------------------------------

    def save_epics(self, epics: Sequence[Epic]) -> None:
        """Upsert the epics the JQL selected; the others are marked not present.

        Only rows that differ are written (a re-run rewrote all 2,000 epics when none had
        changed). ``seen_at`` is when a row last changed: ``links_stamp`` reads it."""
        now = utcnow()
        cols = ("jira_id", "summary", "description", "labels", "status_category", "project", "values")
        with self.begin() as conn:
            stored = {r[0]: (_canonical(r[1:-1]), r[-1]) for r in conn.execute(
                sa.select(EPICS.c.key, *(EPICS.c[c] for c in cols), EPICS.c.present))}
            rows = [
                {"b_key": e.key, "jira_id": e.id, "summary": storable(e.summary), "description": storable(e.description),
                 "labels": storable(e.labels), "status_category": e.status_category, "project": e.project,
                 "values": storable(e.values), "present": True, "seen_at": now}  # a NUL from Jira must not stop the run
                for e in epics
            ]
            new = [r for r in rows if r["b_key"] not in stored]
            old = [r for r in rows if r["b_key"] in stored
                   and stored[r["b_key"]] != (_canonical([r[c] for c in cols]), True)]
            gone = set(k for k, (_, present) in stored.items() if present) - {e.key for e in epics}
            for chunk in _chunks(sorted(gone), _BATCH):
                conn.execute(sa.update(EPICS).where(EPICS.c.key.in_(chunk)).values(present=False, seen_at=now))
            if new:
                conn.execute(sa.insert(EPICS), [{"key": r.pop("b_key"), "demand": {}, **r} for r in new])
            if old:
                stmt = sa.update(EPICS).where(EPICS.c.key == sa.bindparam("b_key")).values(
                    {k: sa.bindparam(k) for k in old[0] if k != "b_key"})
                conn.execute(stmt, old)

    def epics(self, present_only: bool = True) -> list[Epic]:
        stmt = sa.select(EPICS).order_by(EPICS.c.key)
        if present_only:
            stmt = stmt.where(EPICS.c.present.is_(True))
        with self.begin() as conn:
            return [
                Epic(key=r.key, id=r.jira_id, summary=r.summary, description=r.description, labels=list(r.labels),
                     status_category=r.status_category, project=r.project, values=dict(r.values))
                for r in conn.execute(stmt)
            ]

    def epic_statuses(self) -> dict[str, EpicStatus]:
        """``key -> (summary, status category)`` of every epic stored, present or not: what deciding
        which epics shipped reads, without each epic's description, labels and values (a run's
        ``shipped_epics`` over 2,000 epics: 0.016-0.029 s CPU with :meth:`epics`, 0.003-0.004 s)."""
        with self.begin() as conn:
            return {r.key: EpicStatus(r.summary, r.status_category)
                    for r in conn.execute(sa.select(EPICS.c.key, EPICS.c.summary, EPICS.c.status_category))}

    def epic_row(self, key: str) -> dict[str, Any] | None:
        with self.begin() as conn:
            row = conn.execute(sa.select(EPICS).where(EPICS.c.key == key)).first()
            return dict(row._mapping) if row else None

    def save_demand(self, demand: dict[str, dict[str, Any]]) -> None:
        with self.begin() as conn:
            rows = [{"b_key": k, "demand": v} for k, v in demand.items()]
            if rows:
                conn.execute(sa.update(EPICS).where(EPICS.c.key == sa.bindparam("b_key")).values(
                    demand=sa.bindparam("demand")), rows)
