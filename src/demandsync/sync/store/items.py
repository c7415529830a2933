"""Items (the feedback a pull stores), their people, ``forget`` and the quarantine.

Stage 2 (pull) writes items and quarantines what it cannot take; ``forget`` erases a person;
linking and counting read items through :mod:`demandsync.sync.store.links`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from demandsync.domain import FeedbackItem, Quarantined
from demandsync.sync.store.base import describe_db_error
from demandsync.sync.store.meta import MetaMixin
from demandsync.sync.store.schema import FORGOTTEN, ITEMS, LINKS, PEOPLE, QUARANTINE, RUNS, SOURCES
from demandsync.sync.store.sql import (
    _BATCH,
    _NO_EXTRA,
    _chunks,
    _driver_rows,
    _encodable,
    _Extras,
    _insert_items_fast,
    _item_values,
    _json_object,
    _live_id_rows,
    _mark,
    _NewItem,
    _read_list,
    _replace_people,
    storable,
    utcnow,
)


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


class ItemsMixin(MetaMixin):
    """The ``items``, ``people``, ``forgotten`` and ``quarantine`` tables.

    Built on :class:`MetaMixin` because ``forget`` keeps its salt in ``meta``."""

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
