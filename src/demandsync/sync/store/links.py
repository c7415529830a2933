"""Links between items and epics, and the reads of linked items that counting, ``explain``
and the web page make.

Stage 4 (link) writes automatic links and their fingerprints; ``link``, ``unlink``, ``review``,
``links import`` and the PM page record manual decisions; stage 5 (count) reads accepted links
with their items.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from demandsync.domain import ACCEPTED, EXPLICIT, MANUAL, RULE, ItemToLink, Link, LinkMethod, LinkState, Person
from demandsync.sync.store.base import StoreBase
from demandsync.sync.store.schema import EPICS, ITEMS, LINKS, PEOPLE
from demandsync.sync.store.sql import (
    _BATCH,
    _chunks,
    _copy_many,
    _driver_cursor,
    _driver_rows,
    _links_of,
    _mark,
    _people_of,
    _read_json,
    _read_list,
    _read_time,
    _set_link_fp,
    _spread,
    _stored_time,
    _utc,
    as_utc,
    utcnow,
)


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


class LinksMixin(StoreBase):
    """The ``links`` table, and the items as linking and counting read them (joined with their
    links, so the reads that span both tables live with the links)."""

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
            fresh = [(pair, row) for pair, row in wanted.items() if pair not in manual and stored.get(pair) != row]
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
