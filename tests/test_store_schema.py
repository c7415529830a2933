"""The store's tables as SQLAlchemy sees them, pinned; and what opening a store imports.

``fixtures/store_schema.txt`` was written from the typed ORM models these Core tables replaced
(every column's type, nullability, keys, defaults and index; each dialect's CREATE TABLE and
CREATE INDEX), so the tables are those models column for column. A change to a table changes it:
rewrite it with ``DEMANDSYNC_WRITE_SCHEMA=1 pytest tests/test_store_schema.py``, next to the
migration the change needs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from demandsync.sync.store.schema import METADATA

PINNED = Path(__file__).parent / "fixtures" / "store_schema.txt"


def describe_tables() -> str:
    out = []
    for t in METADATA.sorted_tables:
        out.append(f"TABLE {t.name} pk={[c.name for c in t.primary_key.columns]}")
        for c in t.columns:
            d = c.default
            dd = None if d is None else (getattr(d.arg, "__name__", None) if callable(d.arg) else repr(d.arg),  # type: ignore[attr-defined]
                                         d.is_scalar, d.is_callable)
            sd = None if c.server_default is None else str(c.server_default.arg)  # type: ignore[attr-defined]
            out.append(f"  COL {c.name} {c.type!r} nullable={c.nullable} pk={c.primary_key} autoinc={c.autoincrement} "
                       f"default={dd} server_default={sd} index={c.index} unique={c.unique} "
                       f"fks={[(f.target_fullname, f.ondelete, f.onupdate) for f in c.foreign_keys]} key={c.key} "
                       f"onupdate={c.onupdate}")
        for ix in sorted(t.indexes, key=lambda i: str(i.name)):
            out.append(f"  INDEX {ix.name} {[c.name for c in ix.columns]} unique={ix.unique}")
        for con in sorted(t.constraints, key=lambda c: (type(c).__name__, str(c.name))):
            out.append(f"  CONSTRAINT {type(con).__name__} {con.name} {[c.name for c in getattr(con, 'columns', [])]}")
        for dialect in (sqlite.dialect(), postgresql.dialect()):
            out.append(str(CreateTable(t).compile(dialect=dialect)).strip())
            for ix in sorted(t.indexes, key=lambda i: str(i.name)):
                out.append(str(CreateIndex(ix).compile(dialect=dialect)).strip())
    return "\n".join(out) + "\n"


def test_the_tables_are_the_pinned_ones() -> None:
    if os.environ.get("DEMANDSYNC_WRITE_SCHEMA"):
        PINNED.write_text(describe_tables(), encoding="utf-8")
        pytest.skip(f"rewrote {PINNED.name}: nothing was compared")
    assert describe_tables() == PINNED.read_text(encoding="utf-8")


def test_opening_a_store_and_loading_the_run_leave_the_orm_unimported(tmp_path: Path) -> None:
    """Every query is Core: importing ``sqlalchemy.orm`` and building a mapped class per table
    cost ~0.1 s of every process that opened the store."""
    code = ("import sys\n"
            "import demandsync.sync.run\n"
            "from demandsync.sync.store.store import Store\n"
            f"Store.open({f'sqlite:///{tmp_path}/s.db'!r}).close()\n"
            f"Store.open({f'sqlite:///{tmp_path}/s.db'!r}).close()\n"
            "print(sorted(m for m in sys.modules if m.startswith('sqlalchemy.orm')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
