"""The store's tables (SQLAlchemy 2.0 typed models).

The schema is owned by Alembic (``demandsync/sync/store/migrations``): change a model here,
then add a migration, so an existing store upgrades without losing data.

What is stored about people: requester e-mail or user id and account name of
each feedback item, and for a voting tool's request every author/voter
(``item_people``: identity, name, e-mail, account, vote weight), as the source
gave them, for counting distinct people and for ``demandsync requesters``.
``demandsync forget EMAIL`` removes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


class ItemRow(Base):
    """A feedback item. ``(source, external_id)`` is its identity."""

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_items_identity"),
        # `forget EMAIL` and `requesters KEY` look people up (migration 0002).
        Index("ix_items_requester", "requester"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(200))
    external_id: Mapped[str] = mapped_column(String(500))
    #: Hash of the mapped content; an upsert with the same hash changes nothing.
    content_hash: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    requester: Mapped[str | None] = mapped_column(String(500))
    account: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime | None]
    url: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    epic_hint: Mapped[list[Any]] = mapped_column(default=list)
    votes: Mapped[int] = mapped_column(Integer, default=1)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: True for a voting tool's request: its people are in ``item_people`` (maybe none left).
    has_people: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Set when a complete pull no longer saw the item upstream; it stops counting.
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Fingerprint of the linker that last linked this item; NULL = link me.
    link_fp: Mapped[str | None] = mapped_column(String(64), index=True)
    first_seen_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ItemPersonRow(Base):
    """One author or voter of a voting tool's request (``domain.Person``).

    Replaced as a whole whenever its item changes, so a re-import never adds a
    voter twice."""

    __tablename__ = "item_people"
    __table_args__ = (Index("ix_item_people_identity", "identity"),)

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    identity: Mapped[str] = mapped_column(String(500), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(500))
    account: Mapped[str | None] = mapped_column(String(500))
    weight: Mapped[int] = mapped_column(Integer, default=1)
    #: author | voter
    role: Mapped[str] = mapped_column(String(20))


class EpicRow(Base):
    __tablename__ = "epics"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    jira_id: Mapped[str] = mapped_column(String(50))
    summary: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[list[Any]] = mapped_column(default=list)
    status_category: Mapped[str | None] = mapped_column(String(50))
    project: Mapped[str | None] = mapped_column(String(100))
    #: Live values of the target fields as last read from Jira.
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Demand figures computed by the last run (for status, digests and explain).
    demand: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: False once the epic JQL stops selecting it; its links are kept.
    present: Mapped[bool] = mapped_column(Boolean, default=True)
    seen_at: Mapped[datetime]


class LinkRow(Base):
    """Item <-> epic. Manual rows are decisions and survive every run."""

    __tablename__ = "links"
    __table_args__ = (Index("ix_links_epic_state", "epic_key", "state"),)

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    epic_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    #: manual | explicit | rule | similarity
    method: Mapped[str] = mapped_column(String(20))
    #: accepted | suggested | rejected
    state: Mapped[str] = mapped_column(String(20))
    score: Mapped[float] = mapped_column(Float, default=1.0)
    #: Who decided (manual rows), or which rule/keyword matched.
    note: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class SourceStateRow(Base):
    __tablename__ = "source_state"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    cursor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_pull_at: Mapped[datetime | None]
    last_ok_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class QuarantineRow(Base):
    """A record that could not become an item, with the reason."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("source", "locator", name="uq_quarantine_place"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(200))
    locator: Mapped[str] = mapped_column(String(1000))
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text, default="")
    run_id: Mapped[int | None] = mapped_column(Integer)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class RunRow(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    #: running | ok | partial | failed | interrupted (killed; older stores say "crashed")
    status: Mapped[str] = mapped_column(String(20))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)


class WriteRow(Base):
    """The write journal: every planned field write and what became of it."""

    __tablename__ = "writes"
    __table_args__ = (Index("ix_writes_run", "run_id"), Index("ix_writes_state", "state"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(Integer)
    epic_key: Mapped[str] = mapped_column(String(100))
    field_id: Mapped[str] = mapped_column(String(100))
    figure: Mapped[str] = mapped_column(String(50))
    old: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"v": value}: JSON null-safe
    new: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: planned | applied | failed | abandoned
    state: Mapped[str] = mapped_column(String(20))
    error: Mapped[str | None] = mapped_column(Text)
    planned_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class MetaRow(Base):
    """Small key/value facts about the store (linker fingerprint, …)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ForgottenRow(Base):
    """A person erased with ``demandsync forget``: only a salted hash of their normalised
    identity, so later pulls drop their items without the store keeping who they were."""

    __tablename__ = "forgotten"

    identity_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    forgotten_at: Mapped[datetime]
