"""What a connector is: the two small interfaces every external system plugs into.

A **Source** yields raw records (a row of an export, a JSON object of an API)
and, once exhausted, a new cursor. A **Tracker** (Jira) reads epics and applies
field writes. Neither touches the store, links or counts: that is the engine's
job (see DESIGN.md, rule 1).

Connectors are found by ``kind`` through the entry-point group
``demandsync.connectors``; built-in ones register there too (pyproject.toml),
so a third-party package adds a source exactly the way we do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from demandsync.domain import Epic, Quarantined

#: A connector's resume point, saved in the store after a successful pull.
#: Opaque to the engine; must be JSON-serialisable.
Cursor = dict[str, Any]

ENTRY_POINT_GROUP = "demandsync.connectors"


@dataclass(slots=True)
class Record:
    """One raw record, keyed the way its system names things.

    ``data`` maps column names (files; duplicate names made unique as
    ``Other``, ``Other#2``) or JSON keys (APIs; the mapping engine follows dotted
    paths) to values. ``locator`` tells an admin where it came from:
    ``"exit-survey.csv row 17"`` or ``"canny post 5f3a…"``.
    """

    data: Mapping[str, Any]
    locator: str
    #: Set by a source that knows the record's format (e.g. a file whose header
    #: matched a preset); the engine uses it when the config names no preset.
    preset: str | None = None


class SourceOptions(BaseModel):
    """Base for a connector's own config keys (``path``, ``url``, ``api_key`` …).

    Unknown keys are errors, so a typo in ``demandsync.toml`` is named, not ignored.
    """

    model_config = ConfigDict(extra="forbid")


@dataclass(slots=True)
class SourceContext:
    """What the engine hands a source besides its options."""

    name: str
    base_dir: Path
    #: True for ``demandsync run --full``: re-read everything, ignore the cursor.
    full: bool = False


class Source(ABC):
    """A place feedback comes from.

    Subclasses set ``kind`` (the ``kind =`` of a ``[[sources]]`` table) and
    ``Options`` (a :class:`SourceOptions` model of their keys), and implement
    :meth:`pull`. After ``pull`` is exhausted, :attr:`cursor` holds the resume
    point the engine saves; a pull that raises saves nothing, so the next run
    starts from the old cursor again and upserts make the overlap harmless.
    """

    kind: ClassVar[str]
    Options: ClassVar[type[SourceOptions]] = SourceOptions
    #: Preset used when the config names none and the source cannot detect one.
    default_preset: ClassVar[str | None] = None

    def __init__(self, options: SourceOptions, context: SourceContext) -> None:
        self.options = options
        self.context = context
        self.cursor: Cursor = {}

    @abstractmethod
    def pull(self, cursor: Cursor) -> Iterator[Record | Quarantined]:
        """Yield every record new or changed since ``cursor`` (all of them when
        ``context.full``), and quarantine what cannot be read."""

    def complete(self) -> bool:
        """True when the last pull saw *everything* upstream, so items not seen
        may be reconciled as deleted. Only meaningful after a full pull."""
        return self.context.full

    def close(self) -> None:
        """Release connections. Called once per run."""


@dataclass(slots=True)
class TrackerField:
    """A Jira field as ``GET /rest/api/3/field`` describes it."""

    id: str
    name: str
    #: ``schema.type``: number, string, date, datetime, array, option, … ("" when absent)
    type: str = ""
    custom: bool = False
    items: str = ""
    custom_type: str = ""


@dataclass(slots=True)
class FieldError:
    """Why Jira refused one field of a write, in words an admin can act on."""

    field: str
    message: str


class WriteRejected(Exception):
    """Jira refused a write to one epic (4xx other than 429), per field where it said so."""

    def __init__(self, key: str, errors: Sequence[FieldError], status: int) -> None:
        self.key = key
        self.errors = list(errors)
        self.status = status
        detail = "; ".join(f"{e.field}: {e.message}" for e in self.errors) or f"HTTP {status}"
        super().__init__(f"{key}: {detail}")


class Tracker(ABC):
    """The issue tracker the figures are written to (Jira)."""

    @abstractmethod
    def fields(self) -> list[TrackerField]:
        """Every field the account can see."""

    @abstractmethod
    def epics(self, jql: str, value_fields: Sequence[str]) -> Iterator[Epic]:
        """The epics the JQL selects, with ``values`` holding the current value
        of each of ``value_fields`` (field ids)."""

    @abstractmethod
    def update(self, key: str, values: Mapping[str, Any]) -> None:
        """Set ``values`` (field id -> value) on one issue in one request.

        Raises :class:`WriteRejected` when Jira refuses it.
        """

    def close(self) -> None:
        """Release connections."""


def available_kinds() -> dict[str, str]:
    """``kind -> "module:Class"`` for every installed connector."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_source_class(kind: str) -> type[Source]:
    """The Source class registered for ``kind``.

    Raises ``LookupError`` naming the kinds that do exist.
    """
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=kind):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Source)):
            raise LookupError(f"entry point {kind!r} ({ep.value}) is not a demandsync Source")
        return cls
    known = ", ".join(sorted(available_kinds())) or "none installed"
    raise LookupError(f"unknown source kind {kind!r}; installed kinds: {known}")
