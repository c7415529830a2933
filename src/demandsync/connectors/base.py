"""What a connector is: the two small interfaces every external system plugs into.

A **Source** yields raw records (a row of an export, a JSON object of an API)
and, once exhausted, a new cursor. A **Tracker** (Jira, Aha!) reads epics and applies
field writes. Neither touches the store, links or counts: that is the engine's
job (docs/architecture.md, rule 1).

Connectors are found by ``kind`` through the entry-point group
``demandsync.connectors``; built-in ones register there too (pyproject.toml),
so a third-party package adds a source exactly the way we do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from demandsync.domain import Cursor, Epic, FieldError, Quarantined, Record, SummaryContent, TrackerField
from demandsync.errors import OutsideError

ENTRY_POINT_GROUP = "demandsync.connectors"


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
    #: A plugin's own preset(s): a ``.toml`` file or a folder of them, e.g.
    #: ``Path(__file__).with_name("presets")``. Loaded when the config uses this kind.
    presets: ClassVar[Path | None] = None
    #: True when reading everything is cheap (local files): ``demandsync check`` then maps every
    #: record to find the epic keys in the data. API sources are only sampled (one page).
    cheap_to_scan: ClassVar[bool] = False

    def __init__(self, options: SourceOptions, context: SourceContext) -> None:
        self.options = options
        self.context = context
        self.cursor: Cursor = {}

    @abstractmethod
    def pull(self, cursor: Cursor) -> Iterator[Record | Quarantined]:
        """Yield every record new or changed since ``cursor`` (all of them when
        ``context.full``), and quarantine what cannot be read."""

    def samples(self) -> Iterator[Record | Quarantined]:
        """A few records as a fresh pull would yield them, one per layout the source may hand
        over, for ``demandsync check`` to test the mapping against; nothing is stored.

        Default: the first record of a fresh pull (for an API source: authenticate and read
        one page). A file source yields the first row of every matched file.
        """
        records = self.pull({})
        try:
            first = next(iter(records), None)
        finally:
            close = getattr(records, "close", None)
            if close is not None:
                close()
        if first is not None:
            yield first

    def check(self) -> str:
        """Prove the source is usable, for ``demandsync check``: a one-line description of
        what was verified. Raises :class:`~demandsync.errors.OutsideError` (a server, a file)
        or :class:`~demandsync.errors.ConfigError` (an option that cannot work) when it is not.

        The default reads :meth:`samples` (an API source authenticates and reads one page);
        connectors override it to say more (which account, how many files).
        """
        found = list(self.samples())
        if not found:
            return "reachable; nothing to read yet"
        first = found[0]
        if isinstance(first, Quarantined):
            return f"reachable; the first record could not be read: {first.reason}"
        return f"reachable; read {first.locator}"

    def complete(self) -> bool:
        """True when the last pull saw *everything* upstream, so items not seen
        may be reconciled as deleted (the engine asks only after the pull was
        exhausted). Default: on ``run --full``; a source that read everything on
        its own (a first read, a "full every N runs") may say so too."""
        return self.context.full

    def close(self) -> None:
        """Release connections. Called once per run."""


class SourceCheckFailed(OutsideError):
    """:meth:`Source.check` could not read: names the source and says what the system said."""

    def __init__(self, source: str, vendor: str, detail: str, status: int | None = None) -> None:
        self.source = source
        self.vendor = vendor
        self.detail = detail
        #: The HTTP status the system answered with, when it did (401/403: the credentials).
        self.status = status
        super().__init__(f"source {source!r} ({vendor}): {detail}")


class WriteRejected(OutsideError):
    """The tracker refused a write to one epic (4xx other than 429), per field where it said so."""

    def __init__(self, key: str, errors: Sequence[FieldError], status: int) -> None:
        self.key = key
        self.errors = list(errors)
        self.status = status
        detail = "; ".join(f"{e.field}: {e.message}" for e in self.errors) or f"HTTP {status}"
        super().__init__(f"{key}: {detail}")


class Tracker(ABC):
    """The tracker the figures are written to (Jira, Aha!): everything the engine
    asks of one, and nothing else. The engine never imports a concrete tracker: it
    finds the class by name in the ``demandsync.trackers`` entry-point group and
    builds it with :meth:`from_settings` from its config section (``[jira]``, ``[aha]``).
    docs/adding-a-tracker.md shows both side by side.

    Records are :class:`~demandsync.domain.Epic` whatever the tracker calls them
    (an Aha! feature is an "epic" here). Every method may raise
    :class:`~demandsync.errors.OutsideError` (the HTTP layer's ``APIError``s are).
    """

    #: The config section that configures this tracker, and its name in messages.
    section: ClassVar[str]
    #: "Jira", "Aha!": how error messages and ``check`` name it.
    display_name: ClassVar[str]
    #: The config keys holding its credentials, as ``check`` names them when they are refused.
    credentials_hint: ClassVar[str] = "the tracker's credentials"

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Any) -> Tracker:
        """Build from the validated config section (``config.settings.tracker``)."""

    @abstractmethod
    def fields(self) -> list[TrackerField]:
        """Every field the account can see."""

    @abstractmethod
    def epics(self, selection: str, value_fields: Sequence[str]) -> Iterator[Epic]:
        """The epics ``selection`` (JQL for Jira, the product for Aha!) selects, with ``values``
        holding the current value of each of ``value_fields`` (field ids), as values: a number
        the tracker reads back as text (Aha!'s ``"3.0"``) is a number here, so a re-run writes nothing."""

    @abstractmethod
    def update(self, key: str, values: Mapping[str, Any]) -> None:
        """Set ``values`` (field id -> value) on one epic in one request.

        Raises :class:`WriteRejected` when the tracker refuses it.
        """

    @abstractmethod
    def editable_fields(self, key: str) -> dict[str, str]:
        """``field id -> name`` of the fields that can be set on ``key`` (its edit screen)."""

    @abstractmethod
    def whoami(self) -> str:
        """Who the credentials belong to (a display name), proving they work."""

    @abstractmethod
    def released(self, keys: Sequence[str]) -> list[str]:
        """Those of ``keys`` whose release shipped (Jira: every fix version released)."""

    @abstractmethod
    def browse_url(self, key: str) -> str:
        """Where a person opens the epic."""

    # -- the managed summary ---------------------------------------------------------

    @abstractmethod
    def summary_comments(self, key: str) -> Iterator[tuple[str, str, str | None]]:
        """``(comment id, plain text, author id)`` of every comment on ``key``, oldest first."""

    def own_account_id(self) -> str | None:
        """The author id (as :meth:`summary_comments` gives it) of comments demandsync writes, so
        a comment someone else wrote quoting the summary marker is never adopted and overwritten.
        None: this tracker cannot tell, and every comment carrying the marker counts."""
        return None

    @abstractmethod
    def add_summary_comment(self, key: str, content: SummaryContent, changed_on: date) -> str:
        """Post the summary as a new comment; its id."""

    @abstractmethod
    def update_summary_comment(self, key: str, comment_id: str, content: SummaryContent, changed_on: date) -> bool:
        """Replace the comment's body; False when the comment no longer exists."""

    @abstractmethod
    def field_text(self, key: str, field_id: str) -> str:
        """The plain text a text field of ``key`` holds ("" when empty)."""

    @abstractmethod
    def write_summary_field(self, key: str, field_id: str, content: SummaryContent, changed_on: date,
                            plain: bool = False) -> None:
        """Write the summary into a text field (``plain``: a one-line string field)."""

    def close(self) -> None:
        """Release connections."""


TRACKER_ENTRY_POINT_GROUP = "demandsync.trackers"


def load_tracker_class(name: str) -> type[Tracker]:
    """The Tracker class registered as ``name`` in ``demandsync.trackers``."""
    for ep in entry_points(group=TRACKER_ENTRY_POINT_GROUP, name=name):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Tracker)):
            raise LookupError(f"entry point {name!r} ({ep.value}) is not a demandsync Tracker")
        return cls
    known = ", ".join(sorted(ep.name for ep in entry_points(group=TRACKER_ENTRY_POINT_GROUP))) or "none"
    raise LookupError(f"unknown tracker {name!r}; installed trackers: {known}")


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
