"""The store: the one place demandsync remembers things (docs/architecture.md, rule 3).

SQLite by default, PostgreSQL by URL. Every public method is one transaction,
so a run killed between two calls leaves a consistent store and the next run
converges. Bulk paths (items, links) use executemany over Core statements:
the ORM's unit of work is far too slow for 100,000 items.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from demandsync.domain import (
    ACCEPTED,
    EXPLICIT,
    MANUAL,
    RULE,
    Epic,
    FeedbackItem,
    ItemToLink,
    Link,
    LinkMethod,
    LinkState,
    Person,
    Quarantined,
)
from demandsync.errors import ConfigError, OutsideError
from demandsync.sync.store.schema import EPICS, FORGOTTEN, ITEMS, LINKS, META, PEOPLE, QUARANTINE, RUNS, SOURCES, WRITES

_BATCH = 2000

#: A new item to insert: the item, its content hash, ``created_at.isoformat()`` (None without a date)
#: and its ``extra`` as stored JSON text.
_NewItem = tuple[FeedbackItem, str, str | None, str]


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def item_hash(item: FeedbackItem) -> str:
    """Hash of everything mapped into an item: same hash, nothing to update.

    ``repr`` of plain str/int/list/tuple values is stable across runs and three
    times cheaper than ``json.dumps(sort_keys=True)`` at 100,000 items.
    """
    return _hash_with(item, item.created_at.isoformat() if item.created_at is not None else None)


def _hash_with(item: FeedbackItem, created_iso: str | None, extra_repr: str | None = None) -> str:
    """:func:`item_hash` given ``created_at.isoformat()``, which a pull reuses for the stored time
    (an aware datetime's ``isoformat`` was a tenth of storing a row on SQLite), and the ``repr`` of
    ``extra`` when the caller remembers it (a pull batch's items mostly repeat a few).

    What is hashed is ``repr`` of the tuple ``(text, requester, account, created, url, tags,
    epic_hint, votes, extra[, people])``, spelled out as one f-string (the same text, without
    building the tuple: a quarter of the hash's cost). ``extra`` keeps the mapping's key order;
    ``people`` is a separate last term, so items without people keep their old hashes."""
    extra = repr(item.extra) if extra_repr is None else extra_repr
    people = "" if item.people is None else f", {tuple(item.people)!r}"
    return hashlib.sha256(f"({item.text!r}, {item.requester!r}, {item.account!r}, {created_iso!r}, {item.url!r}, "
                          f"{item.tags!r}, {item.epic_hint!r}, {item.votes!r}, {extra}{people})".encode()).hexdigest()


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


def storable(value: Any) -> Any:
    """``value`` with NUL characters and lone surrogates made visible (PostgreSQL text and JSON
    cannot hold the first, no UTF-8 database the second), recursively through dicts and lists: whatever the store keeps, it can take."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\\x00")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (from a file read with surrogateescape)
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(v) for v in value]
    return value


def identity_hash(identity: str, salt: str) -> str:
    """The tombstone of a person: a salted hash of the normalised identity (never the identity)."""
    return hashlib.sha256(f"{salt}:{identity.strip().lower()}".encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(slots=True)
class UpsertCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    #: Items the store refused (e.g. a NUL byte on PostgreSQL), quarantined by the caller.
    refused: list[Quarantined] = field(default_factory=list)


@dataclass(slots=True)
class SeenItems:
    """The stored items one pull of a source saw, by row id, for :meth:`Store.mark_unseen_deleted`.

    Why row ids in an array: a set of every external id held ~150 bytes an item for the whole
    pull (150 MB at a million); an id is 8 bytes here. Only rows stored before the pull began
    (id <= ``before``) need recording: a row the pull inserts was seen by definition.
    """

    source: str
    #: The highest item row id when the pull began (ids only grow on both databases).
    before: int
    ids: array[int] = field(default_factory=lambda: array("q"))
    #: For a source with no stored item when the pull began: a bit per hash of every external id
    #: the pull has asked :meth:`Store.item_hashes` about. Only those can be stored (a pull asks
    #: before it writes), so an id whose bit is unset is new without a query (a first pull's
    #: lookups were ~1.1 us an id, ~0.65 with the bitset). A set bit (asked before, or another
    #: id's hash) means "ask".
    asked: bytearray | None = None

    def asked_before(self, external_ids: list[str]) -> list[str]:
        """Of these (distinct) ids, the ones that may be stored: asked about before, or sharing
        a bit with one that was. Marks them all as asked."""
        bits, mask = self.asked, _ASKED_BITS - 1
        if bits is None:
            return external_ids
        maybe = []
        for ext in external_ids:
            h = hash(ext) & mask
            if bits[h >> 3] & (1 << (h & 7)):
                maybe.append(ext)
            else:
                bits[h >> 3] |= 1 << (h & 7)
        return maybe


#: Bits of :attr:`SeenItems.asked` (1 MB): few false "ask"s up to a million ids.
_ASKED_BITS = 1 << 23


@dataclass(slots=True)
class LinkedItem:
    """One accepted item of one epic, as demand counting and ``explain`` see it."""

    epic_key: str
    item_id: int
    source: str
    external_id: str
    text: str
    requester: str | None
    account: str | None
    created_at: datetime | None
    url: str | None
    votes: int
    extra: dict[str, Any]
    method: LinkMethod
    score: float
    state: LinkState
    #: A voting tool's request: its authors and voters; None for one-person feedback.
    people: tuple[Person, ...] | None = None


class CountedItem(NamedTuple):
    """What counting reads of one accepted item of one epic (:meth:`Store.counted_items`): the
    fields of :class:`LinkedItem` that demand counting looks at, and only those.

    A tuple, built once per link from the driver's row: a first run counts every accepted link, and
    the wider :class:`LinkedItem` (text, URL, link method and score, SQLAlchemy's result rows) cost
    most of the count stage."""

    epic_key: str
    item_id: int
    source: str
    requester: str | None
    account: str | None
    created_at: datetime | None
    votes: int
    extra: dict[str, Any]
    people: tuple[Person, ...] | None


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


class Store:
    """Typed operations on the store. Open with :meth:`open`, as a context manager::

        with Store.open(url) as store:
            ...

    so its connection pool is released whatever the command raises.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        #: While :meth:`rolled_back` runs: the one connection every method uses.
        self._pinned: Connection | None = None

    @classmethod
    def open(cls, url: str) -> Store:
        engine = make_engine(url)
        try:
            migrate(engine)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
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
    def rolled_back(self) -> Iterator[Store]:
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

    # ---- items ------------------------------------------------------------------------

    def item_hashes(self, source: str, external_ids: Iterable[str] | None = None,
                    seen: SeenItems | None = None) -> dict[str, str]:
        """external_id -> content hash of the items of a source (for upserts); a deleted item's is "".

        With ``external_ids``, only those: a pull asks per batch, so its memory does not grow with
        the source (a dict of every hash did, by ~200 bytes an item), and a first run finds none.
        With ``seen`` too, the row ids of the ones found are added to it (a complete pull's record
        of what it saw, for :meth:`mark_unseen_deleted`).
        """
        stmt = sa.select(ITEMS.c.external_id, ITEMS.c.content_hash, ITEMS.c.deleted).where(ITEMS.c.source == source)
        with self.begin() as conn:
            if external_ids is None:
                return {ext: ("" if deleted else h) for ext, h, deleted in conn.execute(stmt)}
            out: dict[str, str] = {}
            # An id the database cannot take (a lone surrogate, or a NUL on PostgreSQL, from a
            # hostile API record) cannot be stored either, so it is never known: leave it out
            # rather than fail the whole batch's lookup (its write is refused and quarantined).
            nul_ok = conn.dialect.name != "postgresql"
            ids = [e for e in dict.fromkeys(external_ids)
                   if (e.isascii() or _encodable(e)) and (nul_ok or "\x00" not in e)]
            if seen is not None:
                ids = seen.asked_before(ids)
            mark = _mark(conn)
            for chunk in _chunks(ids, _BATCH):
                rows = _driver_rows(conn, f"SELECT id, external_id, content_hash, deleted FROM items WHERE source = "
                                          f"{mark} AND external_id IN ({', '.join([mark] * len(chunk))})",
                                    (source, *chunk))
                for row_id, ext, h, deleted in rows:
                    out[ext] = "" if deleted else h
                    if seen is not None:
                        seen.ids.append(row_id)
            return out

    def seen_items(self, source: str) -> SeenItems:
        """An empty record of what a pull of ``source`` sees, started now (see :class:`SeenItems`)."""
        with self.begin() as conn:
            before = conn.execute(sa.select(sa.func.max(ITEMS.c.id))).scalar()
            stored = conn.execute(sa.select(ITEMS.c.id).where(ITEMS.c.source == source).limit(1)).first()
        return SeenItems(source, int(before or 0), asked=None if stored else bytearray(_ASKED_BITS // 8))

    def mark_unseen_deleted(self, seen: SeenItems) -> int:
        """After a complete pull: the source's live items it did not see stop counting
        (by row id; items stored by the pull itself were seen).

        numpy is imported only when the source had live items before the pull (a first pull
        has none: importing numpy was ~0.1 s of its ~3 s CPU on the 100k bench)."""
        gone: list[int] = []
        found: Any = None
        with self.begin() as conn:
            for rows in _live_id_rows(conn, seen.source, seen.before):
                import numpy as np  # (a no-op after the first part)

                if found is None:
                    found = (np.unique(np.frombuffer(seen.ids, dtype=np.int64)) if seen.ids
                             else np.empty(0, dtype=np.int64))
                ids = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=len(rows))
                gone += ids[~np.isin(ids, found, assume_unique=True)].tolist()
            for chunk in _chunks(gone, _BATCH):
                conn.execute(sa.update(ITEMS).where(ITEMS.c.id.in_(chunk)).values(deleted=True, updated_at=utcnow()))
        return len(gone)

    def upsert_items(self, items: Sequence[FeedbackItem], known: dict[str, str]) -> UpsertCounts:
        """Insert new items, update changed ones, skip identical ones.

        ``known`` (from :meth:`item_hashes`) is updated in place, so the same
        row seen twice in one pull (overlapping exports) is written once.
        A changed item is relinked (``link_fp`` cleared) on the next link stage.
        """
        counts = UpsertCounts()
        now = utcnow()
        new: list[_NewItem] = []
        updates: list[dict[str, Any]] = []
        extras = _Extras()
        for item in items:
            created = item.created_at
            iso = created.isoformat() if created is not None else None
            extra = item.extra
            texts = extras.texts(extra) if extra else _NO_EXTRA
            h = _hash_with(item, iso, texts[0])
            old = known.get(item.external_id)
            if old == h:
                counts.unchanged += 1
                continue
            if old is None:
                stored_extra = texts[1]
                if stored_extra is None:
                    stored_extra = texts[1] = _json_object(extra)
                new.append((item, h, iso, stored_extra))
                counts.new += 1
            else:
                updates.append(_item_values(item, h) | {"b_source": item.source, "b_ext": item.external_id,
                                                        "updated_at": now, "_item": item})
                counts.changed += 1
            known[item.external_id] = h
        for item, exc in self._write_isolating(new, updates, now):
            # One row the database cannot take must not cost the others: it is quarantined.
            known.pop(item.external_id, None)
            if any(n[0] is item for n in new):  # only on refusals: rare, and new is one batch
                counts.new -= 1
            else:
                counts.changed -= 1
            counts.refused.append(Quarantined(
                item.source, f"item {item.external_id}", f"the store refused it: {describe_db_error(exc)}",
                item.text[:2000]))
        return counts

    def _write_isolating(self, new: list[_NewItem], updates: list[dict[str, Any]],
                         now: datetime) -> list[tuple[FeedbackItem, BaseException]]:
        """Write the batch; if the database refuses it, halve it until the refused rows are alone
        (a few transactions per bad row instead of one per row: 2,000 rows with one bad row
        cost 26 s row by row on PostgreSQL). Returns the refused items with their errors."""
        try:
            self._write_items(new, updates, now)
            return []
        except (sa.exc.SQLAlchemyError, ValueError) as exc:  # ValueError: the driver could not encode a value
            if len(new) + len(updates) == 1:
                return [(new[0][0] if new else updates[0]["_item"], exc)]
        ops: list[_NewItem | dict[str, Any]] = [*new, *updates]
        refused: list[tuple[FeedbackItem, BaseException]] = []
        for half in (ops[: len(ops) // 2], ops[len(ops) // 2:]):
            refused += self._write_isolating([o for o in half if isinstance(o, tuple)],
                                             [o for o in half if isinstance(o, dict)], now)
        return refused

    def _write_items(self, new: list[_NewItem], updates: list[dict[str, Any]], now: datetime) -> None:
        with self.begin() as conn:
            if new:
                _insert_items_fast(conn, new, now)
            if updates:
                stmt = (
                    sa.update(ITEMS)
                    .where(ITEMS.c.source == sa.bindparam("b_source"), ITEMS.c.external_id == sa.bindparam("b_ext"))
                    .values({k: sa.bindparam(k) for k in updates[0] if not k.startswith(("b_", "_"))} | {"deleted": False})
                )
                conn.execute(stmt, [{k: v for k, v in u.items() if k != "_item"} for u in updates])
            _replace_people(conn, [n[0] for n in new], [u["_item"] for u in updates])

    def find_item(self, source: str, external_id: str) -> int | None:
        with self.begin() as conn:
            return conn.execute(
                sa.select(ITEMS.c.id).where(ITEMS.c.source == source, ITEMS.c.external_id == external_id)
            ).scalar()

    def find_by_code(self, source: str, code: str) -> list[tuple[int, str]]:
        """``(row id, external id)`` of the live items of ``source`` whose handle code starts with
        ``code`` (see :mod:`demandsync.handles`). Codes are not stored: hashing a source's ids
        takes about a second per million items, once per command."""
        from demandsync.handles import item_code

        stmt = sa.select(ITEMS.c.id, ITEMS.c.external_id).where(ITEMS.c.source == source, ITEMS.c.deleted.is_(False))
        with self._connect() as conn:
            return [(i, e) for i, e in conn.execute(stmt) if item_code(source, e).startswith(code)]

    def epic_hints(self) -> dict[str, int]:
        """``key -> live items naming it`` for every explicit epic key found in the items."""
        counts: dict[str, int] = {}
        hint = sa.cast(ITEMS.c.epic_hint, sa.Text)  # most items have none: "[]" is filtered in the database
        stmt = sa.select(hint).where(ITEMS.c.deleted.is_(False), hint != "[]")
        with self._connect() as conn:
            for (raw,) in conn.execute(stmt):
                for key in _read_list(raw):
                    counts[key] = counts.get(key, 0) + 1
        return counts

    def count_items(self) -> int:
        with self.begin() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(ITEMS).where(ITEMS.c.deleted.is_(False))).scalar_one()

    def forget_requester(self, identity: str) -> int:
        """Erase one person (GDPR): the items they gave alone (with their links), their place
        among the authors/voters of voting-tool requests (those requests stay, without them), every
        quarantined row, stored error and run summary that mentions them; and keep a tombstone (a
        salted hash, never the identity) so later pulls drop them again (:meth:`forgotten_filter`).
        Returns how many items were that person's or lost them as a voter."""
        ident = identity.strip().lower()
        if not ident:
            return 0
        pattern = "%" + ident.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        salt = self._forget_salt()
        with self.begin() as conn:
            ids = [i for (i,) in conn.execute(sa.select(ITEMS.c.id).where(sa.func.lower(ITEMS.c.requester) == ident))]
            for chunk in _chunks(ids, _BATCH):
                conn.execute(sa.delete(LINKS).where(LINKS.c.item_id.in_(chunk)))
                conn.execute(sa.delete(PEOPLE).where(PEOPLE.c.item_id.in_(chunk)))
                conn.execute(sa.delete(ITEMS).where(ITEMS.c.id.in_(chunk)))
            match = sa.or_(sa.func.lower(PEOPLE.c.identity) == ident, sa.func.lower(PEOPLE.c.email) == ident)
            voted = {i for (i,) in conn.execute(sa.select(PEOPLE.c.item_id).where(match))}
            conn.execute(sa.delete(PEOPLE).where(match))
            conn.execute(sa.delete(QUARANTINE).where(sa.or_(*(
                sa.func.lower(col).like(pattern, escape="\\")
                for col in (QUARANTINE.c.raw, QUARANTINE.c.reason, QUARANTINE.c.locator)))))
            conn.execute(sa.update(SOURCES).where(sa.func.lower(SOURCES.c.last_error).like(pattern, escape="\\"))
                         .values(last_error="(erased: it named a forgotten person)"))
            for run_id, summary in conn.execute(sa.select(RUNS.c.id, RUNS.c.summary)).all():
                if summary and ident in json.dumps(summary).lower():
                    conn.execute(sa.update(RUNS).where(RUNS.c.id == run_id).values(
                        summary=_erase(summary, ident)))
            tomb = identity_hash(ident, salt)
            if conn.execute(sa.select(FORGOTTEN.c.identity_hash).where(FORGOTTEN.c.identity_hash == tomb)).first() is None:
                conn.execute(sa.insert(FORGOTTEN).values(identity_hash=tomb, forgotten_at=utcnow()))
            return len(ids) + len(voted)

    def _forget_salt(self) -> str:
        """This store's tombstone salt (made on first use): the hashes mean nothing elsewhere."""
        meta = self.get_meta(_SALT_META)
        if meta and meta.get("salt"):
            return str(meta["salt"])
        self.set_meta(_SALT_META, {"salt": secrets.token_hex(16)})
        return str((self.get_meta(_SALT_META) or {})["salt"])

    def forgotten_filter(self) -> Callable[[str | None], bool]:
        """A test ``requester -> forgotten?`` over the tombstones, loaded once (for a pull)."""
        with self.begin() as conn:
            tombs = set(conn.execute(sa.select(FORGOTTEN.c.identity_hash)).scalars())
        if not tombs:
            return lambda _requester: False
        salt = self._forget_salt()
        seen: dict[str, bool] = {}  # people ask many times: hash each once per pull

        def forgotten(requester: str | None) -> bool:
            if not requester or not requester.strip():
                return False
            found = seen.get(requester)
            if found is None:
                found = seen[requester] = identity_hash(requester, salt) in tombs
            return found

        return forgotten

    # ---- quarantine -------------------------------------------------------------------

    def quarantine(self, entries: Sequence[Quarantined], run_id: int | None) -> None:
        if not entries:
            return
        now = utcnow()
        with self.begin() as conn:
            for q in entries:
                q = Quarantined(storable(q.source), storable(q.locator), storable(q.reason), storable(q.raw))
                changed = conn.execute(
                    sa.update(QUARANTINE)
                    .where(QUARANTINE.c.source == q.source, QUARANTINE.c.locator == q.locator[:1000])
                    .values(reason=q.reason, raw=q.raw[:2000], run_id=run_id, last_seen_at=now)
                ).rowcount
                if not changed:
                    conn.execute(sa.insert(QUARANTINE).values(
                        source=q.source, locator=q.locator[:1000], reason=q.reason, raw=q.raw[:2000],
                        run_id=run_id, first_seen_at=now, last_seen_at=now))

    def quarantined(self, source: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        stmt = sa.select(QUARANTINE).order_by(QUARANTINE.c.source, QUARANTINE.c.id)
        if source:
            stmt = stmt.where(QUARANTINE.c.source == source)
        if limit:
            stmt = stmt.limit(limit)
        with self.begin() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

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

    def epic_statuses(self) -> dict[str, tuple[str, str | None]]:
        """``key -> (summary, status category)`` of every epic stored, present or not: what deciding
        which epics shipped reads, without each epic's description, labels and values (a run's
        ``shipped_epics`` over 2,000 epics: 0.016-0.029 s CPU with :meth:`epics`, 0.003-0.004 s)."""
        with self.begin() as conn:
            return {r.key: (r.summary, r.status_category)
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

    # ---- links ------------------------------------------------------------------------

    def items_to_link(self, fingerprint: str | Sequence[str], batch: int = 10_000, *,
                      claimed: Sequence[str] = ()) -> Iterator[list[ItemToLink]]:
        """Batches of the items not yet linked by this linker (``fingerprint``: its fingerprint, or every
        fingerprint an item may carry and still be up to date, see ``linking/link.py``; ``claimed``:
        fingerprints under which an item with an explicit or rule link is up to date too),
        read a batch at a time (by id), so memory does not grow with the store."""
        current = [fingerprint] if isinstance(fingerprint, str) else list(fingerprint)
        # Plain SQL through the driver, rows as the driver's tuples: building SQLAlchemy rows and a
        # JSON decode per item was most of reading 100,000 items (most have no hint: "[]" is skipped).
        mark = _mark(self.engine)

        def marks(values: Sequence[str]) -> str:
            return ", ".join([mark] * len(values))

        where = f"deleted = {mark} AND (link_fp IS NULL OR link_fp NOT IN ({marks(current)}))"
        params: list[Any] = [False, *current]
        unclaimed, unclaimed_params = "0", []
        if claimed:
            under_claim = f"link_fp IS NOT NULL AND link_fp IN ({marks(claimed)})"
            some = "EXISTS (SELECT 1 FROM links WHERE links.item_id = items.id AND links.method IN ({}))"
            # (spelled out for NULL: a changed item, link_fp NULL, keeps its old links until relinked)
            where += f" AND NOT ({under_claim} AND {some.format(f'{mark}, {mark}')})"
            params += [*claimed, EXPLICIT, RULE]
            # The rest under such a fingerprint has no key or rule link, nor a manual decision
            # that could have stood in for one: ItemToLink.unclaimed (the linker skips those checks).
            unclaimed = f"CASE WHEN {under_claim} AND NOT {some.format(f'{mark}, {mark}, {mark}')} THEN 1 ELSE 0 END"
            unclaimed_params = [*claimed, EXPLICIT, RULE, MANUAL]
        sql = (f"SELECT id, source, text, epic_hint, {unclaimed}, link_fp FROM items WHERE {where} AND id > {mark} "
               f"ORDER BY id LIMIT {mark}")
        last = 0
        while True:
            with self._connect() as conn:  # the driver's own cursor: SQLAlchemy's rows cost more than the query
                rows = _driver_rows(conn, sql, (*unclaimed_params, *params, last, batch))
            if not rows:
                return
            last = rows[-1][0]
            yield [ItemToLink(i, s, t, [] if h is None or h == "[]" else _read_list(h), u == 1, fp)
                   for i, s, t, h, u, fp in rows]

    def replace_auto_links(
        self, item_ids: Sequence[int], links: Sequence[Link], fingerprint: str, unset: Iterable[int] | None = None
    ) -> set[str]:
        """Make ``links`` the automatic links of these items; manual decisions stay.

        Only what differs is written: links no longer wanted (or with another method, state, score
        or note) are deleted, new ones inserted, and only items whose links changed, or that were
        never linked (``link_fp`` NULL), get ``fingerprint``. An item whose links came out the same
        keeps its link fingerprint (the linker counts it as current, ``linking/link.py``). A relink
        of every item after one epic changed so writes a few rows, not 100,000 (it rewrote every
        link and every item). Returns the epics whose links changed.

        ``unset``: the items among these whose ``link_fp`` was NULL when the caller read them
        (``ItemToLink.link_fp``); only they can need the fingerprint when their links did not
        change, so the others are not looked up again. None: ask the database about every one."""
        ids = set(item_ids)
        if not ids:
            return set()
        lo, hi = min(ids), max(ids)
        wanted = {(lk.item_id, lk.epic_key): (lk.method, lk.state, lk.score, lk.note) for lk in links}
        with self.begin() as conn:
            manual: set[tuple[int, str]] = set()
            stored: dict[tuple[int, str], tuple[Any, ...]] = {}
            for item_id, key, method, state, score, note in _links_of(conn, ids, lo, hi):
                if item_id in ids:
                    if method == MANUAL:
                        manual.add((item_id, key))
                    else:
                        stored[(item_id, key)] = (method, state, score, note)
            gone = [pair for pair, row in stored.items() if wanted.get(pair) != row]
            if stored or manual:
                fresh = [(pair, row) for pair, row in wanted.items() if pair not in manual and stored.get(pair) != row]
            else:  # nothing stored for these items (a first link): every wanted link is new
                fresh = list(wanted.items())
            if gone:
                conn.execute(sa.delete(LINKS).where(LINKS.c.item_id == sa.bindparam("b_item"),
                                                    LINKS.c.epic_key == sa.bindparam("b_epic")),
                             [{"b_item": i, "b_epic": k} for i, k in gone])
            stamp = _stored_time(conn)(utcnow())
            _copy_many(conn, "links", ("item_id", "epic_key", "method", "state", "score", "note", "updated_at"),
                         [(i, k, *row, stamp) for (i, k), row in fresh])
            touched = {i for i, _ in gone} | {i for (i, _), _ in fresh}
            if unset is None:  # which of the others were never linked: the database tells
                _set_link_fp(conn, fingerprint, sorted(touched), unset_only=False)
                _set_link_fp(conn, fingerprint, sorted(ids - touched), unset_only=True)
            else:  # the caller read them NULL (under the run lock: still so): one pass over the ids for
                # both (a first link's 100,000 items: 0.165 -> 0.137 s CPU as one sorted list of ids)
                _set_link_fp(conn, fingerprint, sorted(touched.union(ids.intersection(unset))), unset_only=False)
        return {k for _, k in gone} | {k for (_, k), _ in fresh}

    def link_fingerprints(self) -> set[str]:
        """The link fingerprints live items carry: the distinct ones of all items (few: the index on
        ``link_fp`` alone answers it), each kept when a live item carries it (the index finds its
        items). Filtering every item on ``deleted`` first read each item's row: 100,000 items,
        0.017-0.033 -> 0.003 s on SQLite."""
        fps = sa.select(ITEMS.c.link_fp.label("fp")).where(ITEMS.c.link_fp.is_not(None)).distinct().subquery()
        item = ITEMS.alias("item")
        stmt = sa.select(fps.c.fp).where(sa.exists().where(item.c.link_fp == fps.c.fp, item.c.deleted.is_(False)))
        with self._connect() as conn:
            return {fp for (fp,) in conn.execute(stmt)}

    def decide_link(self, item_id: int, epic_key: str, state: LinkState, note: str | None = None) -> None:
        """Record a human decision (accepted / rejected); it beats every automatic link."""
        self.decide_links([(item_id, epic_key, state)], note=note)

    def decide_links(self, decided: Sequence[tuple[int, str, LinkState]], note: str | None = None) -> None:
        """Record several human decisions ``(item row id, epic key, state)`` in one transaction: a
        move (reject one epic, accept another) or a PM's multi-item choice lands whole or not at all."""
        now = utcnow()
        with self.begin() as conn:
            for item_id, epic_key, state in decided:
                conn.execute(sa.delete(LINKS).where(LINKS.c.item_id == item_id, LINKS.c.epic_key == epic_key))
                conn.execute(sa.insert(LINKS).values(item_id=item_id, epic_key=epic_key, method=MANUAL,
                                                     state=state, score=1.0, note=note, updated_at=now))

    def link_counts(self) -> dict[str, int]:
        """Accepted links by method, plus suggestions waiting for review."""
        with self.begin() as conn:
            rows = conn.execute(
                sa.select(LINKS.c.method, LINKS.c.state, sa.func.count())
                .join(ITEMS, ITEMS.c.id == LINKS.c.item_id)
                .where(ITEMS.c.deleted.is_(False))
                .group_by(LINKS.c.method, LINKS.c.state)
            ).all()
        out: dict[str, int] = {}
        for method, state, n in rows:
            key = method if state == ACCEPTED else state
            out[key] = out.get(key, 0) + n
        return out

    def linked_items(
        self, epic_keys: Iterable[str] | None = None, states: Sequence[LinkState] = (ACCEPTED,), *,
        with_extra: bool = True, with_text: bool = True,
    ) -> list[LinkedItem]:
        """Items linked to epics (all present epics by default), with how, ordered by epic,
        newest first. See :meth:`iter_linked_items` for the arguments."""
        return list(self.iter_linked_items(epic_keys, states, with_extra=with_extra, with_text=with_text))

    def iter_linked_items(
        self, epic_keys: Iterable[str] | None = None, states: Sequence[LinkState] = (ACCEPTED,), *,
        with_extra: bool = True, with_text: bool = True, chunk: int = 5000,
    ) -> Iterator[LinkedItem]:
        """:meth:`linked_items` as a stream, ``chunk`` rows at a time (counting reads every link:
        a list of them all was most of a 1M-item run's peak memory). Consume it to the end.

        ``with_extra=False`` skips decoding ``extra``, ``with_text=False`` the texts. A run counts
        from the narrower :meth:`counted_items` (the same rows, each epic's in the same order; a test holds
        them equal)."""
        # created_at and extra come back raw and are parsed below: SQLAlchemy's per-row
        # converters were most of the count stage at 100,000 items.
        stmt = (
            sa.select(LINKS.c.epic_key, ITEMS.c.id, ITEMS.c.source, ITEMS.c.external_id,
                      ITEMS.c.text if with_text else sa.literal(""),
                      ITEMS.c.requester, ITEMS.c.account, sa.type_coerce(ITEMS.c.created_at, sa.Text),
                      ITEMS.c.url, ITEMS.c.votes, sa.type_coerce(ITEMS.c.extra, sa.Text),
                      LINKS.c.method, LINKS.c.score, LINKS.c.state, ITEMS.c.has_people)
            .join(ITEMS, ITEMS.c.id == LINKS.c.item_id)
            .where(ITEMS.c.deleted.is_(False), LINKS.c.state.in_(states))
            .order_by(LINKS.c.epic_key, ITEMS.c.created_at.desc(), ITEMS.c.id)
        )
        if epic_keys is not None:
            stmt = stmt.where(LINKS.c.epic_key.in_(list(epic_keys)))
        with self._connect() as conn:
            for rows in conn.execute(stmt).partitions(chunk):
                people = _people_of(conn, {r[1] for r in rows if r[14]})
                yield from [LinkedItem(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _read_time(r[7]), r[8], r[9],
                                       _read_json(r[10]) if with_extra else {}, r[11], r[12], r[13],
                                       people.get(r[1], ()) if r[14] else None)
                            for r in rows]

    def counted_items(self, epic_keys: Sequence[str] | None = None, *, with_extra: bool = False,
                      chunk: int = 5000) -> Iterator[CountedItem]:
        """What counting reads of :meth:`iter_linked_items` (accepted links only), ``chunk`` rows at a
        time. Consume it to the end.

        Newest first, then by id, across all epics: each epic's links come in the order
        :meth:`iter_linked_items` gives them (a tally's float sum adds in this order, and a tally
        sees only its own epic's links), but not grouped by epic. Sorting by epic first made SQLite
        walk the links' (epic_key, state) index, a table lookup per link, and sort each epic's
        part apart: 126 -> 55 ms of CPU for a first run's 41,000 links (bench/run.py scenario 1).

        The query names only the columns counting uses and goes through the driver's own cursor:
        SQLAlchemy's result rows and a :class:`LinkedItem` per link were most of a first run's count
        (0.8 s of CPU for 41,000 links). ``with_extra``: decode ``extra`` (attribute weights only)."""
        mark = _mark(self.engine)
        where = f"items.deleted = {mark} AND links.state = {mark}"
        params: list[Any] = [False, ACCEPTED]
        if epic_keys is not None:
            keys = list(epic_keys)
            if not keys:
                return
            where += f" AND links.epic_key IN ({', '.join([mark] * len(keys))})"
            params += keys
        sql = (f"SELECT links.epic_key, items.id, items.source, items.requester, items.account, items.created_at, "
               f"items.votes, {'items.extra' if with_extra else 'NULL'}, items.has_people "
               f"FROM links JOIN items ON items.id = links.item_id WHERE {where} "
               f"ORDER BY items.created_at DESC, items.id")
        with self._connect() as conn, _driver_cursor(conn, sql) as cursor:
            cursor.execute(sql, tuple(params))
            while rows := cursor.fetchmany(chunk):
                people = _people_of(conn, {r[1] for r in rows if r[8]})
                yield from [CountedItem(r[0], r[1], r[2], r[3], r[4], _read_time(r[5]), r[6],
                                        _read_json(r[7]) if with_extra else {},
                                        people.get(r[1], ()) if r[8] else None)
                            for r in rows]

    def demand_stamp(self) -> list[str]:
        """Changes whenever anything counting reads could have: items (every write stamps
        ``updated_at``; a forgotten one leaves the count), links (inserted with the time; deleted
        ones leave the count and the sums) and the people of voting tools (a forgotten voter leaves
        the count). Three aggregates, so a re-run that changed nothing need not read every link.
        The items' latest change is its third figure (:meth:`stamped_item_change`)."""
        with self._connect() as conn:
            items = conn.execute(sa.select(sa.func.count(), sa.func.sum(ITEMS.c.id), sa.func.max(ITEMS.c.updated_at),
                                           sa.func.sum(sa.case((ITEMS.c.deleted.is_(True), 1), else_=0)))).one()
            links = conn.execute(sa.select(sa.func.count(), sa.func.sum(LINKS.c.item_id), sa.func.max(LINKS.c.updated_at),
                                           sa.func.sum(sa.func.length(LINKS.c.epic_key)),
                                           sa.func.sum(sa.func.length(LINKS.c.state)))).one()
        return [*(str(v) for v in (*items, *links)), self.people_stamp()]

    def demand_epic_stamps(self) -> dict[str, str]:
        """Per epic, what changes whenever its accepted links do (one added, removed or no longer
        accepted): one grouped query over the links alone. Items that changed since a time are
        :meth:`epics_of_items_changed_since`; people removed from a voting tool's request without
        the item changing (``forget``) show only in :meth:`demand_stamp`."""
        stmt = (sa.select(LINKS.c.epic_key, sa.func.count(), sa.func.sum(LINKS.c.item_id), sa.func.max(LINKS.c.updated_at))
                .where(LINKS.c.state == ACCEPTED).group_by(LINKS.c.epic_key))
        with self._connect() as conn:
            return {key: f"{n}:{ids}:{linked}" for key, n, ids, linked in conn.execute(stmt)}

    def latest_item_change(self) -> datetime | None:
        """When an item last changed (new, updated or deleted upstream)."""
        with self._connect() as conn:
            return as_utc(conn.execute(sa.select(sa.func.max(ITEMS.c.updated_at))).scalar())

    @staticmethod
    def stamped_item_change(stamp: Sequence[str]) -> datetime | None:
        """:meth:`latest_item_change` as the :meth:`demand_stamp` ``stamp`` read it (its third figure):
        the count that holds the stamp need not read every item again for it (12 ms of CPU at a
        first run's 100,000 items, bench/run.py scenario 1)."""
        latest = stamp[2]
        return None if latest == "None" else as_utc(datetime.fromisoformat(latest))

    def epics_of_items_changed_since(self, since: datetime) -> set[str]:
        """Epics with an accepted link to an item changed after ``since`` (deleted ones too)."""
        return self._epics_of_items(ITEMS.c.updated_at > since)

    def _epics_of_items(self, which: sa.ColumnElement[bool]) -> set[str]:
        """Epics with an accepted link to an item ``which`` selects: the (few) items first, then their
        links by the primary key (a join scanned every accepted link)."""
        stmt = sa.select(LINKS.c.epic_key).distinct().where(
            LINKS.c.item_id.in_(sa.select(ITEMS.c.id).where(which)), LINKS.c.state == ACCEPTED)
        with self._connect() as conn:
            return set(conn.execute(stmt).scalars())

    def people_stamp(self) -> str:
        """The people part of :meth:`demand_stamp`."""
        with self._connect() as conn:
            row = conn.execute(sa.select(sa.func.count(), sa.func.sum(PEOPLE.c.item_id), sa.func.sum(PEOPLE.c.weight))).one()
        return ":".join(map(str, row))

    def epics_created_between(self, spans: Sequence[tuple[datetime, datetime]]) -> set[str]:
        """Epics with an accepted link to a live item created in any ``[start, end)`` of ``spans``:
        an item leaving the last 30 or 90 days is what changes a figure when nothing was written."""
        # UTC, as stored (SQLite keeps the wall time of the value given)
        when = sa.or_(*(sa.and_(ITEMS.c.created_at >= _utc(a), ITEMS.c.created_at < _utc(b)) for a, b in spans))
        return self._epics_of_items(sa.and_(ITEMS.c.deleted.is_(False), when))

    def accepted_texts(self, per_epic: int = 50) -> dict[str, list[str]]:
        """Texts a human accepted for each epic (newest first): the epic learns from them."""
        return self._decided_texts("accepted", per_epic)

    def rejected_texts(self, per_epic: int = 50) -> dict[str, list[str]]:
        """Texts a human rejected for each epic (newest first): they push the epic back."""
        return self._decided_texts("rejected", per_epic)

    def _decided_texts(self, state: str, per_epic: int) -> dict[str, list[str]]:
        stmt = (
            sa.select(LINKS.c.epic_key, ITEMS.c.text)
            .join(ITEMS, ITEMS.c.id == LINKS.c.item_id)
            .where(LINKS.c.method == MANUAL, LINKS.c.state == state, ITEMS.c.deleted.is_(False))
            .order_by(LINKS.c.epic_key, LINKS.c.updated_at.desc(), LINKS.c.item_id.desc())
        )
        out: dict[str, list[str]] = {}
        with self.begin() as conn:
            for key, text in conn.execute(stmt):
                texts = out.setdefault(key, [])
                if len(texts) < per_epic:
                    texts.append(text)
        return out

    def sample_item_ids(self, limit: int) -> list[int]:
        """Up to ``limit`` live item ids spread evenly over the store (by id): see :meth:`item_sample`."""
        return self.item_sample(limit)[0]

    def item_sample(self, limit: int) -> tuple[list[int], int]:
        """(up to ``limit`` live item ids spread evenly over the store (by id), how many items are
        live), for the linker's word statistics: deterministic, so the same store gives the same
        sample. The database numbers the rows and returns only the chosen ones (a first run read
        all 100,000 ids). SQLite numbers them in this process: there the ids themselves, read
        through the driver, are half the CPU (100,000 items: 0.14 -> 0.07 s), the same positions
        are taken, and their count is the live items' (a first link's second scan of the items,
        ``count_items``, was 0.02 s)."""
        live = ITEMS.c.deleted.is_(False)
        with self._connect() as conn:
            if conn.dialect.name == "sqlite":
                ids = [i for (i,) in _driver_rows(conn, "SELECT id FROM items WHERE deleted = ? ORDER BY id", (False,))]
                if len(ids) <= limit:
                    return ids, len(ids)
                return [ids[k] for k in _spread(len(ids), limit)], len(ids)
            n = conn.execute(sa.select(sa.func.count()).select_from(ITEMS).where(live)).scalar_one()
            if n <= limit:
                return [i for (i,) in conn.execute(sa.select(ITEMS.c.id).where(live).order_by(ITEMS.c.id))], n
            rows = sa.select(ITEMS.c.id, (sa.func.row_number().over(order_by=ITEMS.c.id) - 1).label("pos")).where(
                live).subquery()
            chosen = _spread(n, limit)
            return [i for (i,) in conn.execute(
                sa.select(rows.c.id).where(rows.c.pos.in_(chosen)).order_by(rows.c.id))], n

    def texts_of(self, item_ids: Sequence[int]) -> list[str]:
        """Texts of these live items, in id order (ids of deleted or forgotten items are skipped)."""
        out: list[tuple[int, str]] = []
        with self._connect() as conn:
            for chunk in _chunks(list(item_ids), _BATCH):
                out.extend((i, text) for i, text in conn.execute(
                    sa.select(ITEMS.c.id, ITEMS.c.text).where(ITEMS.c.id.in_(chunk), ITEMS.c.deleted.is_(False))))
        return [t for _, t in sorted(out)]

    def link_rows(self, states: Sequence[str], epic_key: str | None = None) -> list[dict[str, Any]]:
        """Links with their item, for export and review: source, item_id, epic, method, score, state, text."""
        stmt = (
            sa.select(ITEMS.c.source, ITEMS.c.external_id.label("item_id"), LINKS.c.epic_key.label("epic"),
                      LINKS.c.method, LINKS.c.score, LINKS.c.state, ITEMS.c.text, ITEMS.c.requester,
                      ITEMS.c.account, LINKS.c.item_id.label("row_id"))
            .join(ITEMS, ITEMS.c.id == LINKS.c.item_id)
            .where(ITEMS.c.deleted.is_(False), LINKS.c.state.in_(list(states)))
            .order_by(LINKS.c.score.desc(), LINKS.c.epic_key, ITEMS.c.source, ITEMS.c.external_id)
        )
        if epic_key is not None:
            stmt = stmt.where(LINKS.c.epic_key == epic_key)
        with self._connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def link_of(self, item_id: int, epic_key: str) -> dict[str, Any] | None:
        with self.begin() as conn:
            row = conn.execute(sa.select(LINKS).where(LINKS.c.item_id == item_id, LINKS.c.epic_key == epic_key)).first()
            return dict(row._mapping) if row else None

    def item_texts(self) -> list[tuple[int, str, str, str]]:
        """``(id, source, external_id, text)`` of every live item (for ranking against one epic)."""
        with self._connect() as conn:
            stmt = sa.select(ITEMS.c.id, ITEMS.c.source, ITEMS.c.external_id, ITEMS.c.text).where(
                ITEMS.c.deleted.is_(False)).order_by(ITEMS.c.id)
            return [(i, s, e, t) for i, s, e, t in conn.execute(stmt)]

    def links_of_epic(self, epic_key: str) -> dict[int, tuple[str, str, float]]:
        """item id -> (method, state, score) for one epic."""
        with self.begin() as conn:
            rows = conn.execute(sa.select(LINKS.c.item_id, LINKS.c.method, LINKS.c.state, LINKS.c.score).where(
                LINKS.c.epic_key == epic_key))
            return {i: (m, s, sc) for i, m, s, sc in rows}

    def unlinked_items(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Live items no epic claims (no accepted link), newest first: the PM's inbox.

        Rows: row_id, source, item_id, text, requester, account, created_at, url."""
        claimed = sa.select(LINKS.c.item_id).where(LINKS.c.state == "accepted")
        stmt = (
            sa.select(ITEMS.c.id.label("row_id"), ITEMS.c.source, ITEMS.c.external_id.label("item_id"), ITEMS.c.text,
                      ITEMS.c.requester, ITEMS.c.account, ITEMS.c.created_at, ITEMS.c.url)
            .where(ITEMS.c.deleted.is_(False), ITEMS.c.id.not_in(claimed))
            .order_by(ITEMS.c.created_at.desc().nulls_last(), ITEMS.c.id.desc())
        )
        if limit:
            stmt = stmt.limit(limit)
        with self._connect() as conn:
            return [dict(r._mapping) | {"created_at": as_utc(r.created_at)} for r in conn.execute(stmt)]

    def rejected_pairs(self) -> set[tuple[int, str]]:
        """``(item row id, epic key)`` a human rejected: never suggest them again."""
        with self.begin() as conn:
            return {(i, k) for i, k in conn.execute(
                sa.select(LINKS.c.item_id, LINKS.c.epic_key).where(LINKS.c.state == "rejected"))}

    def manual_decisions_since(self, since: datetime | None) -> int:
        """Manual decisions made after ``since`` (the last run's start): they count on the next run."""
        stmt = sa.select(sa.func.count()).select_from(LINKS).where(LINKS.c.method == "manual")
        if since is not None:
            stmt = stmt.where(LINKS.c.updated_at > since)
        with self.begin() as conn:
            return int(conn.execute(stmt).scalar_one())

    def accepted_dates_since(self, since: datetime) -> list[tuple[str, datetime]]:
        """``(epic key, item created_at)`` of accepted links to items created since ``since``
        (the page's sparklines: only the columns they need, only the weeks they show)."""
        stmt = (sa.select(LINKS.c.epic_key, sa.type_coerce(ITEMS.c.created_at, sa.Text))
                .join(ITEMS, ITEMS.c.id == LINKS.c.item_id)
                .where(ITEMS.c.deleted.is_(False), LINKS.c.state == "accepted", ITEMS.c.created_at >= since))
        with self._connect() as conn:
            return [(k, t) for k, raw in conn.execute(stmt) if (t := _read_time(raw)) is not None]

    def links_stamp(self) -> tuple[Any, ...]:
        """Changes whenever items, links or epics do: lets a reader reuse what it derived from them."""
        with self.begin() as conn:
            items = conn.execute(sa.select(sa.func.count(), sa.func.max(ITEMS.c.updated_at))
                                 .where(ITEMS.c.deleted.is_(False))).one()
            links = conn.execute(sa.select(sa.func.count(), sa.func.max(LINKS.c.updated_at))).one()
            epics = conn.execute(sa.select(sa.func.count(), sa.func.max(EPICS.c.seen_at))).one()
        return (*items, *links, *epics)

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


_SALT_META = "forget:salt"


def _erase(value: Any, ident: str) -> Any:
    """A JSON document with every string mentioning ``ident`` replaced (for stored run summaries)."""
    if isinstance(value, str):
        return "(erased)" if ident in value.lower() else value
    if isinstance(value, dict):
        return {k: _erase(v, ident) for k, v in value.items()}
    if isinstance(value, list):
        return [_erase(v, ident) for v in value]
    return value


_INSERT_COLUMNS = ("source", "external_id", "content_hash", "text", "requester", "account", "created_at", "url",
                   "tags", "epic_hint", "votes", "extra", "first_seen_at", "updated_at", "has_people")
#: What every new item starts with, written in the statement rather than bound per row (~0.2 µs a value).
_INSERT_CONSTANTS = {"deleted": "FALSE", "link_fp": "NULL"}
_PEOPLE_COLUMNS = ("item_id", "identity", "name", "email", "account", "weight", "role")


def _replace_people(conn: Connection, new: Sequence[FeedbackItem], changed: Sequence[FeedbackItem]) -> None:
    """Write the people of new and changed voting-tool requests, replacing what was there:
    the whole list each time, so re-importing a request never counts a voter twice."""
    wanted = [i for i in [*new, *changed] if i.people is not None]
    if not wanted and not changed:
        return
    ids: dict[tuple[str, str], int] = {}
    for source in {i.source for i in [*wanted, *changed]}:
        exts = [i.external_id for i in [*wanted, *changed] if i.source == source]
        for chunk in _chunks(exts, _BATCH):
            ids.update({(source, e): i for i, e in conn.execute(
                sa.select(ITEMS.c.id, ITEMS.c.external_id).where(ITEMS.c.source == source,
                                                                 ITEMS.c.external_id.in_(chunk)))})
    stale = [ids[(i.source, i.external_id)] for i in changed if (i.source, i.external_id) in ids]
    for chunk in _chunks(stale, _BATCH):
        conn.execute(sa.delete(PEOPLE).where(PEOPLE.c.item_id.in_(chunk)))
    rows = [(ids[(i.source, i.external_id)], p.identity, p.name, p.email, p.account, p.weight, p.role)
            for i in wanted for p in i.people or ()]
    if rows:
        _insert_many(conn, "item_people", _PEOPLE_COLUMNS, rows)


def _people_of(conn: Connection, item_ids: set[int]) -> dict[int, tuple[Person, ...]]:
    """item id -> its people, in a stable order (identity)."""
    out: dict[int, list[Person]] = {}
    for chunk in _chunks(sorted(item_ids), _BATCH):
        stmt = (sa.select(PEOPLE.c.item_id, PEOPLE.c.identity, PEOPLE.c.name, PEOPLE.c.email, PEOPLE.c.account,
                          PEOPLE.c.weight, PEOPLE.c.role)
                .where(PEOPLE.c.item_id.in_(chunk)).order_by(PEOPLE.c.item_id, PEOPLE.c.identity))
        for r in conn.execute(stmt):
            out.setdefault(r[0], []).append(Person(r[1], r[2], r[3], r[4], r[5], r[6]))
    return {k: tuple(v) for k, v in out.items()}


def _journal_value(value: Any) -> str:
    """A journaled value as stored (``{"v": value}`` as JSON text); a first run's old values are
    all empty, so that one is not encoded 10,000 times."""
    return '{"v": null}' if value is None else json.dumps({"v": value})


def _insert_many(conn: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]],
                 constants: dict[str, str] | None = None) -> None:
    """``INSERT`` through the driver's executemany, for the hot bulk inserts (items, links, journal).

    At 100,000 rows SQLAlchemy's per-value bind processing cost more than the
    database's own work, so callers pass values already in their stored form
    (JSON as text, timestamps via :func:`_stored_time`). ``constants`` maps columns every row
    gives the same value to that value as SQL (``FALSE``, ``NULL``), written once in the statement.
    """
    if rows:
        fixed = constants or {}
        values = [_mark(conn)] * len(columns) + list(fixed.values())
        conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join([*columns, *fixed])}) VALUES ({', '.join(values)})",
                             rows)


def _copy_many(conn: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """:func:`_insert_many`, but on PostgreSQL one ``COPY ... FROM STDIN`` (psycopg's ``copy``):
    51,000 links of a first link stage took 2.7 s as an executemany (0.64 s of it our CPU), about a
    third of that as a COPY. For rows of values the linker made (ids, epic keys, literals, scores,
    UTC timestamps); rows from outside keep the executemany, whose per-row errors the pull isolates.
    A driver error is raised as SQLAlchemy's DBAPIError, without the rows."""
    if conn.dialect.name != "postgresql":
        _insert_many(conn, table, columns, rows)
        return
    if not rows:
        return
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with _driver_cursor(conn, sql) as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def _live_id_rows(conn: Connection, source: str, before: int) -> Iterator[Sequence[Any]]:
    """The ``(id,)`` rows of ``source``'s live items up to ``before``, up to 50,000 at a time:
    streamed, so a million ids never sit in memory at once. On SQLite through the driver's cursor
    (it steps as it is read; SQLAlchemy's rows cost more than the query: a re-pull's 93,000 ids
    took 0.2 s), elsewhere a server-side cursor."""
    if conn.dialect.name == "sqlite":
        sql = "SELECT id FROM items WHERE source = ? AND deleted = 0 AND id <= ?"
        with _driver_cursor(conn, sql) as cursor:
            cursor.execute(sql, (source, before))
            while part := cursor.fetchmany(50_000):
                yield part
        return
    stmt = (sa.select(ITEMS.c.id).where(ITEMS.c.source == source, ITEMS.c.deleted.is_(False), ITEMS.c.id <= before)
            .execution_options(stream_results=True, max_row_buffer=50_000))
    yield from conn.execute(stmt).partitions(50_000)


def _spread(n: int, limit: int) -> list[int]:
    """``limit`` positions among ``n`` rows (``n > limit``), evenly spaced from the first."""
    step = n / limit
    return [int(k * step) for k in range(limit)]


def _driver_rows(conn: Connection, sql: str, params: tuple[Any, ...]) -> list[Any]:
    """The rows of one query through the driver's own cursor, on the connection's transaction.

    For the per-batch hash lookup of a pull: SQLAlchemy's result rows cost more than the query
    (item_hashes ~3.0 -> ~1.9 us an id on SQLite). A driver error is raised as SQLAlchemy's
    DBAPIError without the parameters (external ids are customer data)."""
    with _driver_cursor(conn, sql) as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


@contextmanager
def _driver_cursor(conn: Connection, sql: str) -> Iterator[Any]:
    """A cursor of the driver's own, on the connection's transaction, closed after; a driver error
    inside comes out as SQLAlchemy's DBAPIError naming ``sql`` but never its parameters or rows."""
    dbapi = conn.dialect.loaded_dbapi
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, None, exc, dbapi.Error, hide_parameters=True) from exc
    finally:
        cursor.close()


def _links_of(conn: Connection, ids: set[int], lo: int, hi: int) -> list[Any]:
    """(item_id, epic_key, method, state, score, note) of the stored links of items ``lo..hi``,
    through the driver (SQLAlchemy's rows cost more than the query: 0.2 s of relinking 65,000
    items), and of just ``ids`` when they are a sparse part of that range (a relink after an epic
    changed looks at some items of each batch: reading every link of the range read ten times as
    many). The caller keeps the rows of ``ids``."""
    columns = "item_id, epic_key, method, state, score, note"
    mark = _mark(conn)
    if 4 * len(ids) >= hi - lo + 1:
        return _driver_rows(conn, f"SELECT {columns} FROM links WHERE item_id BETWEEN {mark} AND {mark}", (lo, hi))
    out: list[Any] = []
    for chunk in _chunks(sorted(ids), _BATCH):
        marks, params = _id_list(chunk, mark)
        out += _driver_rows(conn, f"SELECT {columns} FROM links WHERE item_id IN ({marks})", params)
    return out


def _id_list(ids: Sequence[int], mark: str) -> tuple[str, tuple[int, ...]]:
    """The markers and parameters of ``IN (...)`` for up to ``_BATCH`` ids, padded (with the last
    id again) to a power of two or ``_BATCH``: sqlite3 keeps up to 128 prepared statements, and one
    per list length held ~25 MB more at 1,000,000 items."""
    size = min(_BATCH, 1 << (len(ids) - 1).bit_length())
    return ", ".join([mark] * size), (*ids, *[ids[-1]] * (size - len(ids)))


def _set_link_fp(conn: Connection, fingerprint: str, item_ids: Sequence[int], unset_only: bool) -> None:
    """``UPDATE items SET link_fp`` for these ids (``unset_only``: those whose ``link_fp`` is NULL),
    through the driver: on PostgreSQL one statement with the ids as one array, elsewhere statements
    of ``_BATCH`` ids. One statement per id (an executemany) cost twice as much at 100,000 items,
    and SQLAlchemy's IN lists more than the database's own work.

    "Unset" is spelled ``COALESCE(link_fp, '') = ''`` (a fingerprint is never empty) so that no
    planner answers it from the index on ``link_fp``: on a first run, before PostgreSQL has any
    statistics of the new rows, it did, filtering every unlinked item through the id list
    (5,000 ids: 5.0 s instead of 0.16 s)."""
    if not item_ids:
        return
    only = " AND COALESCE(link_fp, '') = ''" if unset_only else ""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"UPDATE items SET link_fp = %s WHERE id = ANY(%s){only}", (fingerprint, list(item_ids)))
        return
    mark = _mark(conn)
    for chunk in _chunks(item_ids, _BATCH):
        marks, params = _id_list(chunk, mark)
        conn.exec_driver_sql(f"UPDATE items SET link_fp = {mark} WHERE id IN ({marks}){only}", (fingerprint, *params))


def _mark(conn: Connection | Engine) -> str:
    """The driver's parameter marker (``?`` for sqlite3, ``%s`` for psycopg)."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def _stored_time(conn: Connection) -> Callable[[datetime | None], Any]:
    """A timestamp as SQLAlchemy's DateTime would store it: on SQLite, the naive UTC
    ``YYYY-MM-DD HH:MM:SS.ffffff`` text it reads back; elsewhere the datetime itself."""
    if conn.dialect.name != "sqlite":
        return lambda dt: dt

    def sqlite_time(dt: datetime | None) -> str | None:
        if dt is None:
            return None
        if dt.tzinfo is UTC:  # what the mapping gives: one call, the "+00:00" cut off (a third quicker)
            return dt.isoformat(" ", "microseconds")[:-6]
        return _utc(dt).replace(tzinfo=None).isoformat(" ", "microseconds")

    return sqlite_time


def _insert_items_fast(conn: Connection, new: list[_NewItem], now: datetime) -> None:
    """The one hot insert of a first run (see :func:`_insert_many`)."""
    when = _stored_time(conn)
    stamp = when(now)
    if conn.dialect.name == "sqlite":  # the stored text from the isoformat the hash took, not a second one
        def created(dt: datetime | None, iso: str | None) -> Any:
            if iso is None or dt is None or dt.tzinfo is not UTC:
                return when(dt)
            # "2026-01-01T08:00:01[.ffffff]+00:00" -> "2026-01-01 08:00:01.ffffff" (isoformat(" ", "microseconds"))
            return f"{iso[:10]} {iso[11:-6]}" if dt.microsecond else f"{iso[:10]} {iso[11:-6]}.000000"
    else:
        def created(dt: datetime | None, iso: str | None) -> Any:
            return dt
    _insert_many(conn, "items", _INSERT_COLUMNS, [  # empty lists and dicts (most) without a call
        (i.source, i.external_id, h, i.text, i.requester, i.account, created(i.created_at, iso), i.url,
         _json_list(i.tags) if i.tags else "[]", _json_list(i.epic_hint) if i.epic_hint else "[]", i.votes,
         extra, stamp, stamp, i.people is not None)
        for i, h, iso, extra in new
    ], _INSERT_CONSTANTS)


class _Extras(dict[tuple[tuple[str, Any], ...], list[str | None]]):
    """Items' ``extra`` as ``[repr, JSON text]`` (the repr for the content hash, the JSON as stored,
    made when first needed), remembered for one batch of a pull: attributes are mostly a few
    choices (country, device, plan), so most rows of a batch repeat another row's ``extra``, and one
    lookup is cheaper than writing either (repr was a quarter of the content hash).

    Only all-text objects are remembered (what the mapping makes): ``1``, ``1.0`` and ``True`` are
    equal as keys but neither their repr nor their JSON is the same, while a text equals nothing but
    the same text.
    """

    def texts(self, values: dict[str, Any]) -> list[str | None]:
        key = tuple(values.items())
        try:
            return self[key]
        except KeyError:
            texts: list[str | None] = [repr(values), None]
            if all(type(k) is str and type(v) is str for k, v in key):
                self[key] = texts
            return texts
        except TypeError:  # a list or dict among the values cannot be a key
            return [repr(values), None]


#: An empty ``extra``'s texts (never written to: its JSON is given).
_NO_EXTRA: list[str | None] = ["{}", "{}"]


_quoted = json.encoder.encode_basestring_ascii  # the C function json.dumps itself quotes strings with


def _json_object(values: dict[str, Any]) -> str:
    """``json.dumps(values)``, character for character, for the usual ``extra`` (text attributes):
    json.dumps builds a new encoder on every call, a third of the insert's Python time per row."""
    if not values:
        return "{}"
    try:
        return "{" + ", ".join([f"{_quoted(k)}: {_quoted(v)}" for k, v in values.items()]) + "}"
    except TypeError:  # a key or value that is not a string: json.dumps knows how to write it
        return json.dumps(values)


def _read_time(raw: Any) -> datetime | None:
    """A stored timestamp as aware UTC: SQLite gives its text, PostgreSQL a datetime.

    SQLite's text is naive UTC wall time: read with ``+00:00`` appended, it comes back with
    ``tzinfo`` the UTC singleton at once (``datetime.replace(tzinfo=...)`` cost six times the
    parse: a fifth of counting a first run). Text the suffix does not suit is read as before: one
    with an offset of its own fails to parse, and a date alone parses "+00:00" as a time of day
    (naive), so only a result in UTC is taken."""
    if raw is None or isinstance(raw, datetime):
        return as_utc(raw)
    try:
        quick = datetime.fromisoformat(raw + "+00:00")
    except ValueError:
        quick = None
    if quick is not None and quick.tzinfo is UTC:
        return quick
    return datetime.fromisoformat(raw).replace(tzinfo=UTC)


def _read_list(raw: Any) -> list[str]:
    if raw is None or raw == "[]":
        return []
    return list(raw) if isinstance(raw, list) else json.loads(raw)


def _read_json(raw: Any) -> dict[str, Any]:
    if raw is None or raw == "{}":
        return {}
    return raw if isinstance(raw, dict) else json.loads(raw)


def _canonical(values: Sequence[Any]) -> str:
    """Stored values in one comparable form (JSON, keys sorted): ``1`` and ``1.0``, or a tuple
    read back as a list, compare as what the database holds, so nothing that differs is skipped."""
    return json.dumps(list(values), sort_keys=True, default=str)


def _json_list(values: list[str]) -> str:
    return json.dumps(values) if values else "[]"


def _utc(dt: datetime) -> datetime:
    """Aware datetimes to UTC; naive ones are taken as UTC already."""
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


def _item_values(item: FeedbackItem, content_hash: str) -> dict[str, Any]:
    return {
        "content_hash": content_hash, "text": item.text, "requester": item.requester, "account": item.account,
        # SQLite keeps no time zone: store UTC wall time, which as_utc() reads back
        "created_at": _utc(item.created_at) if item.created_at else None,
        "url": item.url, "tags": list(item.tags), "epic_hint": list(item.epic_hint),
        "votes": item.votes, "extra": dict(item.extra), "link_fp": None, "has_people": item.people is not None,
    }


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _chunks(seq: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]
