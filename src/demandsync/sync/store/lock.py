"""One run at a time: a lock that dies with its process.

SQLite: an ``fcntl`` lock on ``<database>.lock`` beside the database file; the
kernel drops it when the process dies, so a killed run never blocks the next.
PostgreSQL: a session advisory lock held on a dedicated connection, so several
hosts sharing one database never run at once; it too ends with the session.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from demandsync.errors import LockHeld

#: Arbitrary constant key for pg_try_advisory_lock ("dmnd" in ASCII).
PG_LOCK_KEY = 0x646D6E64


@dataclass
class RunLock:
    """Hold it with ``with RunLock.acquire(engine): ...``."""

    _file: IO[str] | None = None
    _conn: Connection | None = None

    @classmethod
    def acquire(cls, engine: Engine) -> RunLock:
        holder = {"host": socket.gethostname(), "pid": os.getpid(), "since": datetime.now(UTC).isoformat(timespec="seconds")}
        if engine.dialect.name == "sqlite":
            return cls(_file=_lock_file(engine, holder))
        if engine.dialect.name == "postgresql":
            return cls(_conn=_advisory_lock(engine, holder))
        raise LockHeld(f"no run lock for {engine.dialect.name}; use SQLite or PostgreSQL")

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._conn is not None:
            self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK_KEY})
            self._conn.close()
            self._conn = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _lock_file(engine: Engine, holder: dict[str, object]) -> IO[str]:
    db = engine.url.database
    path = Path(f"{db}.lock") if db and db != ":memory:" else Path(".demandsync.lock")
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        who = handle.read().strip() or "unknown"
        handle.close()
        raise LockHeld(f"another demandsync run holds the lock {path}: {_describe(who)}") from None
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(holder))
    handle.flush()
    return handle


def _advisory_lock(engine: Engine, holder: dict[str, object]) -> Connection:
    conn = engine.connect()
    got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_LOCK_KEY}).scalar()
    if got:
        # Name ourselves so a run that finds the lock taken can say who holds it.
        conn.execute(sa.text("SELECT set_config('application_name', :name, false)"),
                     {"name": json.dumps(holder, separators=(",", ":"))[:63]})
        conn.commit()
        return conn
    conn.commit()
    row = conn.execute(sa.text(
        "SELECT a.application_name, a.client_addr, a.pid, a.backend_start FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = :k AND l.granted"), {"k": PG_LOCK_KEY}).first()
    conn.close()
    who = "unknown"
    if row is not None:
        who = row[0] if row[0].startswith("{") else (
            f"PostgreSQL backend {row[2]} from {row[1] or 'local socket'} since {row[3]:%Y-%m-%d %H:%M:%S}")
    raise LockHeld(f"another demandsync run holds the PostgreSQL advisory lock: {_describe(who)}")


def _describe(raw: str) -> str:
    try:
        h = json.loads(raw)
        return f"pid {h['pid']} on {h['host']} since {h['since']}"
    except (ValueError, KeyError, TypeError):
        return raw  # not ours to parse (e.g. truncated): show it as it is
