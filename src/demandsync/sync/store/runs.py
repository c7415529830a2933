"""Runs and the write journal.

Stage 0 records a run as ``running`` and marks a killed run's planned writes abandoned; stage 7
(apply) journals each field write before and after it is sent; stage 10 finishes the run;
``status`` reads both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from demandsync.sync.store.base import StoreBase
from demandsync.sync.store.schema import RUNS, WRITES
from demandsync.sync.store.sql import _insert_many, _journal_value, _mark, _stored_time, storable, utcnow


class RunsMixin(StoreBase):
    """The ``runs`` and ``writes`` (journal) tables."""

    # ---- runs and the write journal ---------------------------------------------------

    def start_run(self, host: str, pid: int, dry_run: bool) -> int:
        with self.begin() as conn:
            # A run still marked running here was killed: its lock is gone, or we would not be here.
            conn.execute(sa.update(RUNS).where(RUNS.c.status == "running").values(status="interrupted"))
            conn.execute(sa.update(WRITES).where(WRITES.c.state == "planned").values(
                # Not "before applying it": a run killed after Jira took the PUT but before the journal
                # heard back leaves the write planned too. Either way the next plan, made against
                # Jira's live values, repeats it only if it did not land.
                state="abandoned", error="the run that planned it stopped before recording whether it was applied"))
            return int(conn.execute(sa.insert(RUNS).values(
                started_at=utcnow(), status="running", host=host, pid=pid, dry_run=dry_run, summary={}
            ).returning(RUNS.c.id)).scalar_one())

    def finish_run(self, run_id: int, status: str, summary: dict[str, Any]) -> None:
        with self.begin() as conn:
            conn.execute(sa.update(RUNS).where(RUNS.c.id == run_id).values(
                status=status, finished_at=utcnow(), summary=storable(summary)))

    def runs(self, limit: int = 10) -> list[dict[str, Any]]:
        with self.begin() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(RUNS).order_by(RUNS.c.id.desc()).limit(limit))]

    def running_run(self) -> dict[str, Any] | None:
        with self.begin() as conn:
            row = conn.execute(sa.select(RUNS).where(RUNS.c.status == "running").order_by(RUNS.c.id.desc())).first()
            return dict(row._mapping) if row else None

    def journal_planned(self, run_id: int, writes: Sequence[dict[str, Any]]) -> list[int]:
        """Journal planned writes (epic_key, field_id, figure, old, new); returns their ids, in order."""
        if not writes:
            return []
        # One executemany through the driver, then the ids: INSERT ... RETURNING with the rows' order
        # kept went one INSERT per row on SQLite (0.33-0.43 s per 10,000 writes). Only this run writes
        # rows of ``run_id``, one statement after another, so its newest ``len(writes)`` ids are these
        # rows' ids in insertion order (SQLite: max rowid + 1; PostgreSQL: one sequence, drawn in order).
        with self.begin() as conn:
            now = _stored_time(conn)(utcnow())
            _insert_many(conn, "writes", ("run_id", "epic_key", "field_id", "figure", "old", "new", "state",
                                          "planned_at"),
                         [(run_id, w["epic_key"], w["field_id"], w["figure"], _journal_value(w["old"]),
                           _journal_value(w["new"]), "planned", now) for w in writes])
            ids = conn.execute(sa.select(WRITES.c.id).where(WRITES.c.run_id == run_id)
                               .order_by(WRITES.c.id.desc()).limit(len(writes))).scalars().all()
            return list(ids[::-1])

    def journal_done(self, ids: Sequence[int], state: str, error: str | None = None) -> None:
        """Mark journaled writes ``applied``/``failed`` (with the error), 500 ids a statement.

        Through the driver: SQLAlchemy renders an ``IN`` list parameter by parameter, which cost
        more than the UPDATE itself (~25 us a write, bench/apply_speed.py)."""
        ids = list(ids)
        if not ids:
            return
        with self.begin() as conn:
            mark, done_at = _mark(conn), _stored_time(conn)(utcnow())
            for i in range(0, len(ids), 500):
                part = ids[i:i + 500]
                conn.exec_driver_sql(
                    f"UPDATE writes SET state = {mark}, error = {mark}, done_at = {mark} "
                    f"WHERE id IN ({', '.join([mark] * len(part))})", (state, error, done_at, *part))

    def journal(self, run_id: int | None = None, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        stmt = sa.select(WRITES).order_by(WRITES.c.id.desc()).limit(limit)
        if run_id is not None:
            stmt = stmt.where(WRITES.c.run_id == run_id)
        if state is not None:
            stmt = stmt.where(WRITES.c.state == state)
        with self.begin() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]
