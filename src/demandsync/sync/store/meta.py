"""Small keyed state: the ``meta`` table (caches, the forget salt) and ``sources`` (pull cursors).

Stage 2 (pull) reads and records each source's cursor; stages 4, 5, 8 and 9 keep what they must
remember between runs in ``meta`` (linker fingerprints, the demand cache, summary stamps, epics
announced as shipped); ``status`` reads the sources' states.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from demandsync.sync.store.base import StoreBase
from demandsync.sync.store.schema import META, SOURCES
from demandsync.sync.store.sql import storable, utcnow


class MetaMixin(StoreBase):
    """The ``meta`` and ``sources`` tables: one row per key or source, read and written whole."""

    # ---- meta -------------------------------------------------------------------------

    def get_meta(self, key: str) -> dict[str, Any] | None:
        with self.begin() as conn:
            return conn.execute(sa.select(META.c.value).where(META.c.key == key)).scalar()

    def set_meta(self, key: str, value: dict[str, Any]) -> None:
        with self.begin() as conn:
            if conn.execute(sa.update(META).where(META.c.key == key).values(value=value)).rowcount == 0:
                conn.execute(sa.insert(META).values(key=key, value=value))

    # ---- sources ----------------------------------------------------------------------

    def get_cursor(self, name: str) -> dict[str, Any]:
        with self.begin() as conn:
            return conn.execute(sa.select(SOURCES.c.cursor).where(SOURCES.c.name == name)).scalar() or {}

    def record_pull(self, name: str, kind: str, *, cursor: dict[str, Any] | None, error: str | None) -> None:
        """Remember a pull's outcome; the cursor moves only when it succeeded."""
        now = utcnow()
        values: dict[str, Any] = {"kind": kind, "last_pull_at": now, "last_error": storable(error)}
        if error is None:
            values |= {"cursor": storable(cursor or {}), "last_ok_at": now}
        with self.begin() as conn:
            if conn.execute(sa.update(SOURCES).where(SOURCES.c.name == name).values(**values)).rowcount == 0:
                conn.execute(sa.insert(SOURCES).values(name=name, cursor=values.get("cursor", {}), **{
                    k: v for k, v in values.items() if k != "cursor"}))

    def source_states(self) -> list[dict[str, Any]]:
        with self.begin() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(SOURCES).order_by(SOURCES.c.name))]
