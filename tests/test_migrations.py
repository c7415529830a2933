"""Upgrading a store made by an older schema keeps every row."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

from demandsync.domain import FeedbackItem
from demandsync.sync.store.store import HEAD_REVISION, Store, make_engine


def _alembic(conn: sa.Connection) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(files("demandsync") / "sync" / "store" / "migrations"))
    cfg.attributes["connection"] = conn
    return cfg


def test_store_from_revision_0001_upgrades_without_loss(store_url: str) -> None:
    engine = make_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(_alembic(conn), "0001")
        conn.execute(sa.text(
            "INSERT INTO items (source, external_id, content_hash, text, requester, tags, epic_hint, votes, extra, "
            "deleted, first_seen_at, updated_at) VALUES ('s', 'a', 'h', 'we need SSO', 'ann@x.io', '[]', '[]', 1, "
            "'{}', false, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
        conn.execute(sa.text("INSERT INTO source_state (name, kind, cursor) VALUES ('s', 'csv', '{\"files\": {}}')"))
    engine.dispose()

    store = Store.open(store_url)  # migrates to head
    try:
        with store.begin() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == HEAD_REVISION
        assert store.item_hashes("s") == {"a": "h"}
        assert store.get_cursor("s") == {"files": {}}
        indexes = {ix["name"] for ix in sa.inspect(store.engine).get_indexes("items")}
        assert "ix_items_requester" in indexes
        assert store.forget_requester("ANN@x.io ") == 1
    finally:
        store.close()


def test_opening_a_current_store_twice_changes_nothing(store_url: str) -> None:
    Store.open(store_url).close()
    store = Store.open(store_url)
    with store.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1
    store.close()


def test_head_revision_constant_matches_alembic() -> None:
    from alembic.script import ScriptDirectory

    from demandsync.sync.store.store import HEAD_REVISION

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(files("demandsync") / "sync" / "store" / "migrations"))
    assert ScriptDirectory.from_config(cfg).get_current_head() == HEAD_REVISION


def test_a_new_sqlite_store_has_8k_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    """8 KB pages for a new SQLite store (a first pull rewrites fewer index pages); a store made
    with SQLite's default 4 KB pages opens, migrates and writes as before, keeping them."""
    import sqlite3

    old = tmp_path / "old.db"
    raw = sqlite3.connect(old)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("CREATE TABLE t (x INTEGER)")  # the file now exists with 4 KB pages
    raw.close()
    for path, size in ((tmp_path / "new.db", 8192), (old, 4096)):
        with Store.open(f"sqlite:///{path}") as store:
            store.upsert_items([FeedbackItem("s", "a", "we need SSO")], {})
            with store.begin() as conn:
                assert conn.exec_driver_sql("PRAGMA page_size").scalar() == size
            assert list(store.item_hashes("s")) == ["a"]
