"""Shared helpers of the store's mixins: driver-level SQL and value conversion.

Bulk inserts (``executemany`` or PostgreSQL ``COPY``), raw driver cursors, id lists and the
conversions between Python values and what each database hands back (times, JSON). Every mixin
of :class:`~demandsync.sync.store.store.Store` that needs one imports it from here; nothing here
knows a ``Store``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from demandsync.domain import FeedbackItem, Person
from demandsync.sync.store.schema import ITEMS, PEOPLE

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
