"""Shared fixtures.

The store is real: SQLite in a temp dir by default, or PostgreSQL when
``DEMANDSYNC_TEST_STORE`` holds a URL (CI sets
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Each test gets an
empty database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from demandsync.sync.store import Store

PG_URL = os.environ.get("DEMANDSYNC_TEST_STORE", "")


def _reset_postgres(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A URL to an empty store of the kind this test session runs against."""
    if PG_URL.startswith("postgresql"):
        _reset_postgres(PG_URL)
        return PG_URL
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store.open(store_url)
    yield s
    s.close()
