"""The store's engine and transaction core: opening, migrating, ``begin`` and ``rolled_back``.

Stage 0 of a run (``sync/run.py``) makes the engine and migrates the schema here; every other
module of this package reaches the database only through :class:`StoreBase`'s connections.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import files
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from demandsync.errors import ConfigError, OutsideError


class StoreUnavailable(OutsideError):
    """The store could not be opened or reached (exit 1). The message carries no password."""


def describe_db_error(exc: BaseException) -> str:
    """What went wrong in the database, in one line that is safe to show and to store.

    SQLAlchemy's ``StatementError`` text ends with the SQL and its bound parameters
    (customer e-mails and texts), and PostgreSQL adds a ``DETAIL`` line quoting the
    offending values: keep only the error's class and the first line of the driver's
    own message.

    >>> describe_db_error(sa.exc.DataError("INSERT …", {"text": "ann@x.io"}, ValueError("cannot hold NUL\\nDETAIL: ann")))
    'DataError: cannot hold NUL'
    """
    if isinstance(exc, sa.exc.StatementError):
        orig = exc.orig if exc.orig is not None else exc
        first = (str(orig).strip().splitlines() or [""])[0]
        if isinstance(orig, sa.exc.StatementError):  # no driver error underneath: its text holds the SQL
            first = first.split(" [SQL:", 1)[0].split("\n", 1)[0]
        return f"{type(exc).__name__}: {first[:300]}".rstrip(": ")
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}".rstrip(": ")


def describe_error(exc: BaseException) -> str:
    """An exception as one line fit for logs, reports and the store: database errors
    without their SQL parameters (customer data), anything else as ``Type: message``."""
    if isinstance(exc, sa.exc.SQLAlchemyError):
        return describe_db_error(exc)
    return f"{type(exc).__name__}: {exc}"


#: The newest migration in ``demandsync/sync/store/migrations/versions``. A store already there opens
#: without importing Alembic at all (a third of a no-change run's start-up);
#: ``tests/test_migrations.py`` pins this to Alembic's head so the two never drift.
HEAD_REVISION = "0004_forgotten"


def schema_revision(conn: Connection) -> str | None:
    """The store's Alembic revision, or None for an empty database."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


#: Transaction advisory lock serialising migrations on PostgreSQL ("dmnm").
_PG_MIGRATE_KEY = 0x646D6E6D


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (no-op when it is there).

    ``run`` calls this only once it holds the run lock, so two first runs never race
    to create the tables (the loser exits 75)."""
    try:
        with engine.connect() as conn:
            if schema_revision(conn) == HEAD_REVISION:
                return
    except sa.exc.DBAPIError as exc:
        raise StoreUnavailable(f"cannot open the store at {engine.url!r}: {describe_db_error(exc)}") from None
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(files("demandsync") / "sync" / "store" / "migrations"))
    with engine.begin() as conn:
        head = ScriptDirectory.from_config(cfg).get_current_head()
        if MigrationContext.configure(conn).get_current_revision() == head:
            return
        if conn.dialect.name == "sqlite":
            # Crash safety: pysqlite autocommits DDL, so a first run killed mid-migration left
            # half a schema that no later run could upgrade ("table epics already exists").
            # One explicit transaction makes the upgrade all-or-nothing, and IMMEDIATE makes
            # two first runs take turns (the second then finds the schema at head).
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            if MigrationContext.configure(conn).get_current_revision() == head:
                return
        elif conn.dialect.name == "postgresql":
            # Commands that do not take the run lock (explain, status, …) may migrate at the same
            # time as a first run: take turns on a transaction lock, then look again.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATE_KEY})
            if MigrationContext.configure(conn).get_current_revision() == head:
                return
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class StoreURLError(ConfigError):
    """``store.url`` cannot work here: not a database URL, or its driver is not installed."""


_DRIVER_HINTS = {"psycopg": "pip install 'psycopg[binary]'", "psycopg2": "pip install psycopg2-binary"}


def make_engine(url: str) -> Engine:
    """An engine for ``url``; :class:`StoreURLError` (exit 2, naming ``store.url``) when the URL
    is malformed or its driver is missing, instead of a traceback at the first run."""
    try:
        return _make_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
        shown = sa.engine.make_url(url).render_as_string(hide_password=True) if "://" in url else url
        driver = getattr(exc, "name", None) or ""
        if isinstance(exc, ImportError) and driver:
            fix = f"the driver module {driver!r} is not installed: {_DRIVER_HINTS.get(driver, f'pip install {driver}')}"
        elif isinstance(exc, sa.exc.NoSuchModuleError):
            fix = f"unknown database dialect ({exc}); use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        else:
            fix = f"not a database URL ({exc}); use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        raise StoreURLError([("store.url", f"{shown}: {fix}")]) from None


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # 8 KB pages for a new store (an existing one keeps its size: no effect once it has
            # tables): a first pull's inserts split and rewrite fewer index pages, its commits
            # write less WAL (bench/pull.py's 93,000 items replayed: inserts and commits
            # 1.2 -> 1.0 s CPU, commits alone 0.22 -> 0.145 s).
            cur.execute("PRAGMA page_size=8192")
            cur.execute("PRAGMA journal_mode=WAL")  # readers never block the run
            cur.execute("PRAGMA synchronous=NORMAL")  # durable across crashes of the process
            cur.execute("PRAGMA foreign_keys=ON")
            # 16 MB of page cache (the default is 2 MB): the items' unique (source, external_id)
            # index takes rows in random order, and with the default cache a first run's inserts
            # spent a third of their time re-reading its pages (bench/pull.py).
            cur.execute("PRAGMA cache_size=-16000")
            cur.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)


class StoreBase:
    """The engine and the transactions every mixin of :class:`~demandsync.sync.store.store.Store`
    works through: the mixins inherit it so that a dry run's pinned connection (:meth:`rolled_back`)
    reaches every method, and mypy sees ``begin``/``_connect`` in each module."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: While :meth:`rolled_back` runs: the one connection every method uses.
        self._pinned: Connection | None = None

    @classmethod
    def open(cls, url: str) -> Self:
        engine = make_engine(url)
        try:
            migrate(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction. Inside :meth:`rolled_back` (a dry run) on PostgreSQL it is a savepoint of
        the pinned transaction, so one refused write (a NUL) rolls back alone instead of aborting
        the whole dry run. Not on SQLite: a failed statement does not abort its transaction there,
        and pysqlite's RELEASE of a savepoint would commit the dry run (tests/test_admin_loop.py)."""
        if self._pinned is not None:
            if self._pinned.dialect.name == "postgresql":
                with self._pinned.begin_nested():
                    yield self._pinned
            else:
                yield self._pinned
            return
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        """A connection for reading (the pinned one during :meth:`rolled_back`)."""
        if self._pinned is not None:
            yield self._pinned
            return
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def rolled_back(self) -> Iterator[Self]:
        """Everything done on this store inside the block happens in one transaction that is
        rolled back at the end: what ``run --dry-run`` uses to change nothing while still
        pulling, linking and planning exactly as a real run would. Reads inside the block
        see the block's own changes. One connection, so not for concurrent use.
        """
        if self._pinned is not None:
            raise RuntimeError("already inside rolled_back()")
        with self.engine.connect() as conn:
            transaction = conn.begin()
            self._pinned = conn
            try:
                yield self
            finally:
                self._pinned = None
                transaction.rollback()
