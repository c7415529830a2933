"""The store: the one place demandsync remembers things (docs/architecture.md, rule 3).

SQLite by default, PostgreSQL by URL. Every public method is one transaction,
so a run killed between two calls leaves a consistent store and the next run
converges. Bulk paths (items, links) use executemany over Core statements:
the ORM's unit of work is far too slow for 100,000 items.

:class:`Store` is assembled from one mixin per concern, each in its own module, so the code
for a table is found by its name: ``base`` (engine, migration, transactions), ``meta`` (meta,
source cursors), ``items`` (items, people, forget, quarantine), ``epics``, ``links``, ``runs``
(runs and the write journal); ``sql`` holds the driver-level helpers they share. Every name
other modules import from here is re-exported below.
"""

from __future__ import annotations

from demandsync.sync.store.base import (
    HEAD_REVISION,
    StoreBase,
    StoreUnavailable,
    StoreURLError,
    describe_db_error,
    describe_error,
    make_engine,
    migrate,
    schema_revision,
)
from demandsync.sync.store.epics import EpicsMixin
from demandsync.sync.store.items import ItemsMixin, SeenItems, UpsertCounts, identity_hash, item_hash
from demandsync.sync.store.links import CountedItem, LinkedItem, LinksMixin
from demandsync.sync.store.meta import MetaMixin
from demandsync.sync.store.runs import RunsMixin
from demandsync.sync.store.schema import EPICS, FORGOTTEN, ITEMS, LINKS, META, PEOPLE, QUARANTINE, RUNS, SOURCES, WRITES
from demandsync.sync.store.sql import _read_time, as_utc, storable, utcnow

__all__ = [
    "EPICS", "FORGOTTEN", "HEAD_REVISION", "ITEMS", "LINKS", "META", "PEOPLE", "QUARANTINE", "RUNS", "SOURCES",
    "WRITES", "CountedItem", "LinkedItem", "SeenItems", "Store", "StoreURLError", "StoreUnavailable", "UpsertCounts",
    "_read_time", "as_utc", "describe_db_error", "describe_error", "identity_hash", "item_hash", "make_engine", "migrate",
    "schema_revision", "storable", "utcnow",
]


class Store(ItemsMixin, LinksMixin, EpicsMixin, RunsMixin, MetaMixin, StoreBase):
    """Typed operations on the store. Open with :meth:`open`, as a context manager::

        with Store.open(url) as store:
            ...

    so its connection pool is released whatever the command raises.
    """
