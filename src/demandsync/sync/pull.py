"""One source's pull: its records read, mapped, checked and stored in batches.

A source is pulled on its own: its failure is reported in its :class:`SourceReport` and the
run goes on with the others (``sync/run.py`` orchestrates the stages). Every record is
accounted for: new, changed, unchanged, quarantined (with a reason the admin can act on),
skipped (no feedback in it) or forgotten (its person was erased). Each batch is one store
transaction, so a pull killed anywhere leaves items the next pull converges from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx
import sqlalchemy as sa

from demandsync.config import Config, SourceConfig
from demandsync.connectors.base import SourceContext
from demandsync.connectors.http import ConnectFailed
from demandsync.connectors.http.redaction import Scrubber
from demandsync.domain import FeedbackItem, Quarantined, Record
from demandsync.errors import DemandsyncError
from demandsync.mappings.engine import Mapper, MappingError, build_mapper
from demandsync.sync import collector
from demandsync.sync.progress import NO_PROGRESS, Progress
from demandsync.sync.store.store import Store, describe_error

log = logging.getLogger(__name__)

#: Items per store transaction in a pull: fewer commits (each rewrites the same index pages)
#: and lookups; memory stays a few MB whatever the source's size. 20,000 (was 5,000): a first pull's
#: commits cost 0.32 -> 0.17 s CPU for bench/pull.py's 93,000 items (replayed), ~12 MB more peak RSS.
_ITEM_BATCH = 20_000


@dataclass(slots=True)
class SourceReport:
    pulled: int = 0
    new: int = 0
    changed: int = 0
    #: Records whose item is stored already, as it is (pulled = new + changed + unchanged
    #: + quarantined + skipped + forgotten: every record is accounted for).
    unchanged: int = 0
    quarantined: int = 0
    skipped: int = 0
    deleted: int = 0
    #: Items dropped because their requester was erased with ``demandsync forget``.
    forgotten: int = 0
    error: str | None = None


def pull_source(config: Config, store: Store, src: SourceConfig, run_id: int, full: bool,
                progress: Progress = NO_PROGRESS) -> SourceReport:
    """Pull one source into the store. Its failure is reported, never raised."""
    with collector.paused():  # see sync/collector.py
        return _pull_source(config, store, src, run_id, full, progress)


def _pull_source(config: Config, store: Store, src: SourceConfig, run_id: int, full: bool,
                 progress: Progress) -> SourceReport:
    stage = f"source {src.name}"
    progress.update(stage, 0)
    rep = SourceReport()
    scrubber = config.scrubber
    cls = config.source_classes[src.name]
    source = cls(config.source_options[src.name], SourceContext(src.name, config.base_dir, full=full))
    forgotten = store.forgotten_filter()
    seen = store.seen_items(src.name)  # row ids, not a set of every external id: flat memory
    dropped: list[str] = []  # external ids of records dropped as a forgotten person's: seen all the same
    items: list[FeedbackItem] = []
    bad: list[Quarantined] = []

    # Storing each full batch on a writer thread while the next is read was tried and dropped: no
    # wall gain on SQLite or PostgreSQL (bench/pull.py, bench/run.py), +5-10 % CPU. sqlite3 lets go
    # of the GIL for each row's step and the reader for each file read, and each waits for the switch
    # interval (5 ms) to take it back, so the threads' Python parts run in turn and only the steps of
    # the batches handed over (a source's last batch cannot be) could overlap. Tests pin what such a
    # writer must keep: tests/test_hostile_store.py (a batch the store fails mid-pull).
    # A reader *process* (a file read, mapped and hashed in a child started with `python -c`, batches
    # of tuples over a pipe, the store's code path here unchanged) was built and measured too
    # (2026-11-29): this process's CPU fell to 11-15 us a row, but the reader itself needs 16-19 us a
    # row and sets the pace, so the pull's wall time did not move (bench/pull.py 2.3-2.7 s without,
    # 2.6-3.1 s with; bench/run.py's pull 3.1-3.2 s either way) on this 2-core machine: not kept.
    def flush() -> None:
        # The stored hashes of this batch's items only: memory stays flat however big the source
        # (a row repeated in a later batch finds the hash its first copy stored).
        if dropped:
            store.item_hashes(src.name, dropped, seen)
            dropped.clear()
        known = store.item_hashes(src.name, (i.external_id for i in items), seen) if items else {}
        counts = store.upsert_items(items, known)
        rep.new += counts.new
        rep.changed += counts.changed
        rep.unchanged += counts.unchanged
        bad.extend(counts.refused)
        store.quarantine([_scrubbed(q, scrubber) for q in bad], run_id)
        rep.quarantined += len(bad)
        items.clear()
        bad.clear()

    try:
        mapper = _RecordMapper(build_mapper(src.name, src.preset or cls.default_preset, src.map), src.name)
        for record in source.pull({} if full else store.get_cursor(src.name)):
            rep.pulled += 1
            out = record if isinstance(record, Quarantined) else mapper.map(record)
            if out is None:
                rep.skipped += 1
            elif isinstance(out, Quarantined):
                bad.append(out)
            elif forgotten(out.requester) and not out.people:
                rep.forgotten += 1
                dropped.append(out.external_id)
            else:
                if out.people:  # a forgotten voter or author leaves the request; the request stays
                    out.people = [p for p in out.people if not (forgotten(p.identity) or forgotten(p.email))]
                    if forgotten(out.requester):
                        out.requester = None
                items.append(out)
            if len(items) + len(bad) + len(dropped) >= _ITEM_BATCH:
                flush()
                progress.update(stage, rep.pulled)
        mapper.verdict()
        flush()
        progress.update(stage, rep.pulled, rep.pulled)
        if source.complete():  # the source read everything (a --full run, or its own full read)
            rep.deleted = store.mark_unseen_deleted(seen)
        store.record_pull(src.name, src.kind, cursor=source.cursor, error=None)
    except Exception as exc:  # noqa: BLE001 - one failing source must not stop the others
        try:
            flush()
        except Exception as again:  # noqa: BLE001 - the store itself failed: report, don't mask the cause
            log.error("source %s: could not store its last batch: %s", src.name, scrubber.text(describe_error(again)))
        rep.error = scrubber.text(_describe(exc, config, src))
        store.record_pull(src.name, src.kind, cursor=None, error=rep.error)
        extra = {"event": "source_failed", "source": src.name, "error": rep.error}
        if isinstance(exc, DemandsyncError | httpx.HTTPError | OSError | sa.exc.SQLAlchemyError):
            log.error("source %s failed: %s", src.name, rep.error, extra=extra)  # no traceback: a SQL one carries data
        else:  # a bug in the connector or the mapping: say where
            log.exception("source %s failed: %s", src.name, rep.error, extra=extra)
    finally:
        source.close()
    log.info("source %s: %d pulled, %d new, %d changed, %d quarantined, %d skipped, %d forgotten",
             src.name, rep.pulled, rep.new, rep.changed, rep.quarantined, rep.skipped, rep.forgotten,
             extra={"event": "source_pulled", "source": src.name, "pulled": rep.pulled, "new": rep.new,
                    "changed": rep.changed, "quarantined": rep.quarantined, "skipped": rep.skipped,
                    "forgotten": rep.forgotten})
    return rep


class _RecordMapper:
    """The mapping, one record at a time, so that one record that breaks it is quarantined
    rather than the source failed.

    A :class:`MappingError` says a column or path the map needs is missing. For a file row
    that is the file's header: the map cannot work, the source stops. An API record carries
    its own keys, so one record without them is quarantined, unless *no* record of the pull
    fits the map: then it is the map that is wrong, and :meth:`verdict` raises the first error.
    """

    def __init__(self, mapper: Mapper, source: str) -> None:
        self.mapper, self.source = mapper, source
        self.fitted = False
        self.first_misfit: MappingError | None = None

    def map(self, record: Record) -> FeedbackItem | Quarantined | None:
        try:
            out = self.mapper.map(record)
        except MappingError as exc:
            if getattr(record.data, "header", None) is not None:
                raise
            self.first_misfit = self.first_misfit or exc
            return self._quarantined(record, f"this record does not fit the mapping: {exc}")
        except Exception as exc:  # noqa: BLE001 - one malformed record must not cost the others
            return self._quarantined(record, f"could not map this record: {describe_error(exc)}")
        self.fitted = True
        return out

    def verdict(self) -> None:
        if self.first_misfit is not None and not self.fitted:
            raise self.first_misfit

    def _quarantined(self, record: Record, reason: str) -> Quarantined:
        return Quarantined(self.source, str(getattr(record, "locator", "?"))[:1000], reason,
                           repr(getattr(record, "data", record))[:2000])


def _describe(exc: Exception, config: Config, src: SourceConfig) -> str:
    if isinstance(exc, MappingError):
        return str(exc)
    if isinstance(exc, ConnectFailed):
        return f"{exc}; check {config.source_key(src.name, 'url')} in {config.path.name}"
    return describe_error(exc)


def _scrubbed(q: Quarantined, scrubber: Scrubber) -> Quarantined:
    return Quarantined(q.source, scrubber.text(q.locator), scrubber.text(q.reason), scrubber.text(q.raw))
