"""The store's tables (SQLAlchemy Core).

The schema is owned by Alembic (``demandsync/sync/store/migrations``): change a table here,
then add a migration, so an existing store upgrades without losing data.

Core tables, not ORM models: nothing maps rows to objects (every query is Core, the hot paths
go through the driver), and importing ``sqlalchemy.orm`` and configuring a declarative class
per table was ~0.1 s of every process that opens the store (bench/startup.py, bench/run.py's
``import``). The tables are column for column what the typed models declared: a ``NOT NULL``
where the model's type was not optional, timestamps ``DateTime(timezone=True)``, JSON for dicts
and lists, the same Python-side defaults (``tests/test_store_schema.py`` pins the DDL).

What is stored about people: requester e-mail or user id and account name of
each feedback item, and for a voting tool's request every author/voter
(``item_people``: identity, name, e-mail, account, vote weight), as the source
gave them, for counting distinct people and for ``demandsync requesters``.
``demandsync forget EMAIL`` removes them.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

METADATA = MetaData()


def _when(name: str, *, nullable: bool = False) -> Column[object]:
    """A timestamp column (aware datetimes; SQLite keeps their UTC wall time)."""
    return Column(name, DateTime(timezone=True), nullable=nullable)


#: A feedback item. ``(source, external_id)`` is its identity.
ITEMS = Table(
    "items", METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(200), nullable=False),
    Column("external_id", String(500), nullable=False),
    # Hash of the mapped content; an upsert with the same hash changes nothing.
    Column("content_hash", String(64), nullable=False),
    Column("text", Text, nullable=False),
    Column("requester", String(500)),
    Column("account", String(500)),
    _when("created_at", nullable=True),
    Column("url", Text),
    Column("tags", JSON, nullable=False, default=list),
    Column("epic_hint", JSON, nullable=False, default=list),
    Column("votes", Integer, nullable=False, default=1),
    Column("extra", JSON, nullable=False, default=dict),
    # True for a voting tool's request: its people are in ``item_people`` (maybe none left).
    Column("has_people", Boolean, nullable=False, default=False, server_default=false()),
    # Set when a complete pull no longer saw the item upstream; it stops counting.
    Column("deleted", Boolean, nullable=False, default=False),
    # Fingerprint of the linker that last linked this item; NULL = link me.
    Column("link_fp", String(64), index=True),
    _when("first_seen_at"),
    _when("updated_at"),
    UniqueConstraint("source", "external_id", name="uq_items_identity"),
    # `forget EMAIL` and `requesters KEY` look people up (migration 0002).
    Index("ix_items_requester", "requester"),
)

#: One author or voter of a voting tool's request (``domain.Person``). Replaced as a whole
#: whenever its item changes, so a re-import never adds a voter twice.
PEOPLE = Table(
    "item_people", METADATA,
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("identity", String(500), primary_key=True),
    Column("name", String(500)),
    Column("email", String(500)),
    Column("account", String(500)),
    Column("weight", Integer, nullable=False, default=1),
    Column("role", String(20), nullable=False),  # author | voter
    Index("ix_item_people_identity", "identity"),
)

EPICS = Table(
    "epics", METADATA,
    Column("key", String(100), primary_key=True),
    Column("jira_id", String(50), nullable=False),
    Column("summary", Text, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("labels", JSON, nullable=False, default=list),
    Column("status_category", String(50)),
    Column("project", String(100)),
    # Live values of the target fields as last read from Jira.
    Column("values", JSON, nullable=False, default=dict),
    # Demand figures computed by the last run (for status, digests and explain).
    Column("demand", JSON, nullable=False, default=dict),
    # False once the epic JQL stops selecting it; its links are kept.
    Column("present", Boolean, nullable=False, default=True),
    _when("seen_at"),
)

#: Item <-> epic. Manual rows are decisions and survive every run.
LINKS = Table(
    "links", METADATA,
    Column("item_id", Integer, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("epic_key", String(100), primary_key=True),
    Column("method", String(20), nullable=False),  # manual | explicit | rule | similarity
    Column("state", String(20), nullable=False),  # accepted | suggested | rejected
    Column("score", Float, nullable=False, default=1.0),
    # Who decided (manual rows), or which rule/keyword matched.
    Column("note", Text),
    _when("updated_at"),
    Index("ix_links_epic_state", "epic_key", "state"),
)

SOURCES = Table(
    "source_state", METADATA,
    Column("name", String(200), primary_key=True),
    Column("kind", String(50), nullable=False),
    Column("cursor", JSON, nullable=False, default=dict),
    _when("last_pull_at", nullable=True),
    _when("last_ok_at", nullable=True),
    Column("last_error", Text),
)

#: A record that could not become an item, with the reason.
QUARANTINE = Table(
    "quarantine", METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(200), nullable=False),
    Column("locator", String(1000), nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw", Text, nullable=False, default=""),
    Column("run_id", Integer),
    _when("first_seen_at"),
    _when("last_seen_at"),
    UniqueConstraint("source", "locator", name="uq_quarantine_place"),
)

RUNS = Table(
    "runs", METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _when("started_at"),
    _when("finished_at", nullable=True),
    # running | ok | partial | failed | interrupted (killed; older stores say "crashed")
    Column("status", String(20), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("dry_run", Boolean, nullable=False, default=False),
    Column("summary", JSON, nullable=False, default=dict),
)

#: The write journal: every planned field write and what became of it.
WRITES = Table(
    "writes", METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, nullable=False),
    Column("epic_key", String(100), nullable=False),
    Column("field_id", String(100), nullable=False),
    Column("figure", String(50), nullable=False),
    Column("old", JSON, nullable=False, default=dict),  # {"v": value}: JSON null-safe
    Column("new", JSON, nullable=False, default=dict),
    Column("state", String(20), nullable=False),  # planned | applied | failed | abandoned
    Column("error", Text),
    _when("planned_at"),
    _when("done_at", nullable=True),
    Index("ix_writes_run", "run_id"),
    Index("ix_writes_state", "state"),
)

#: Small key/value facts about the store (linker fingerprint, …).
META = Table(
    "meta", METADATA,
    Column("key", String(100), primary_key=True),
    Column("value", JSON, nullable=False, default=dict),
)

#: A person erased with ``demandsync forget``: only a salted hash of their normalised
#: identity, so later pulls drop their items without the store keeping who they were.
FORGOTTEN = Table(
    "forgotten", METADATA,
    Column("identity_hash", String(64), primary_key=True),
    _when("forgotten_at"),
)
