"""Shared fixtures.

The store is real: SQLite in a temp dir by default, or PostgreSQL when
``DEMANDSYNC_TEST_STORE`` holds a URL (CI sets
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Each test gets an
empty database.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from demandsync.cli.demo import prepare
from demandsync.cli.main import app
from demandsync.sandbox.jira import JiraSandbox, demo_state
from demandsync.sync.store.store import Store

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


@pytest.fixture
def sandbox() -> Iterator[JiraSandbox]:
    with JiraSandbox(demo_state(), email="demo@example.com", api_token="sandbox-token") as sb:
        sb.start()
        yield sb


def retire_unseen(store: Store, source: str, seen: set[str]) -> int:
    """What a complete pull of ``source`` that saw the external ids ``seen`` marks deleted, the way
    ``pull_source`` records and retires them (``Store.seen_items`` .. ``mark_unseen_deleted``)."""
    pull = store.seen_items(source)
    store.item_hashes(source, sorted(seen), pull)
    return store.mark_unseen_deleted(pull)


def demo_config(workdir: Path, jira_url: str, store_url: str, *, jira_extra: str = "") -> Path:
    """The demo's exports and config against a sandbox, with similarity linking off
    so every figure can be checked by hand (tests/test_e2e.py: EXPECTED).
    ``jira_extra`` lines go into ``[jira]`` (e.g. ``page_size = 2``)."""
    path = prepare(workdir, jira_url)
    text = path.read_text().replace("similarity = true", "similarity = false")
    text = text.replace('url = "sqlite:///demandsync.db"', f'url = "{store_url}"')
    text = text.replace('epics = "project = PROD', f'{jira_extra}epics = "project = PROD')
    path.write_text(text)
    return path


@pytest.fixture
def config(tmp_path: Path, sandbox: JiraSandbox, store_url: str) -> Path:
    """:func:`demo_config` in this test's temp dir."""
    return demo_config(tmp_path, sandbox.url, store_url)


def jira_source(jira_url: str, *, name: str = "support", email: str = "demo@example.com",
                token: str = "sandbox-token", jql: str = "project = FEED") -> str:
    """A ``[[sources]]`` table reading a sandbox project as feedback (Jira as a source)."""
    return f"""
[[sources]]
name = "{name}"
kind = "jira"
url = "{jira_url}"
email = "{email}"
api_token = "{token}"
jql = "{jql}"
"""


def cli(*args: str, input: str | None = None) -> tuple[int, str, str]:
    """Invoke ``demandsync`` in-process; returns (exit code, stdout, stderr)."""
    result = CliRunner().invoke(app, list(args), input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def run_json(config: Path, *extra: str, exit_code: int = 0) -> dict[str, Any]:
    """``demandsync run --json`` and its parsed report; the run must exit ``exit_code``."""
    code, stdout, stderr = cli("run", "--config", str(config), "--json", *extra)
    assert code == exit_code, stdout + stderr
    return dict(json.loads(stdout))
