"""Upgrading a store made by an older schema keeps every row."""

from __future__ import annotations

from importlib.resources import files

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig

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
