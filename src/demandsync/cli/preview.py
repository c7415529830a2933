"""``demandsync preview SOURCE``: what the mapping makes of the first rows.

An admin writing a ``[sources.map]`` wants to see, before any run, which
preset was recognised, what every column became (text, requester, account,
attribute, another field, ignored) and why — so it is plain that the text is
the open answer and nothing else — and what the first items look like,
including why a row became nothing or was quarantined. This
reads the source from the start (the saved cursor is ignored, nothing is
stored) and stops after ``limit`` rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from rich.console import RenderableType
from rich.text import Text

from demandsync.cli.untrusted import LiteralTable as Table
from demandsync.cli.untrusted import clean
from demandsync.connectors.base import Record, Source, SourceContext
from demandsync.connectors.http.redaction import scrub
from demandsync.domain import FeedbackItem, Quarantined
from demandsync.mappings.columns import ColumnRole
from demandsync.mappings.engine import Mapper, MappingError, build_mapper

if TYPE_CHECKING:
    from demandsync.config import Config, SourceConfig

Outcome = Literal["item", "no feedback", "quarantined"]


@dataclass(slots=True)
class PreviewRow:
    locator: str
    outcome: Outcome
    #: The item's text, or why the row gave nothing / was quarantined.
    detail: str
    item: FeedbackItem | None = None


@dataclass(slots=True)
class Preview:
    source: str
    #: Preset used per file/header, in the order first seen ("generic" = none detected).
    presets: dict[str, str] = field(default_factory=dict)
    #: Field -> column(s) that feed it, for the first header seen.
    columns: dict[str, list[str]] = field(default_factory=dict)
    #: Every column of the first header seen: what it became and why.
    roles: list[ColumnRole] = field(default_factory=list)
    rows: list[PreviewRow] = field(default_factory=list)
    #: A configuration error that stopped the preview (MappingError, no files, …).
    error: str | None = None


def preview_source(config: Config, src: SourceConfig, limit: int = 5) -> list[RenderableType]:
    """What ``demandsync preview SOURCE`` prints: the source built exactly as a run
    builds it, its first ``limit`` rows mapped, or the configuration error."""
    source = config.source_classes[src.name](config.source_options[src.name], SourceContext(src.name, config.base_dir))
    try:
        mapper = build_mapper(src.name, src.preset or source.default_preset, src.map)  # as a run does
    except (MappingError, LookupError) as exc:
        return [Text(clean(f"{src.name}: {scrub(str(exc))}"), style="red")]
    try:
        return list(render_preview(build_preview(source, mapper, limit)))
    finally:
        source.close()


def build_preview(source: Source, mapper: Mapper, limit: int = 10) -> Preview:
    """Pull from the start and map up to ``limit`` rows; never raises for bad config."""
    result = Preview(source.context.name)
    try:
        pulled = source.pull({})
        for record in pulled:
            if isinstance(record, Quarantined):
                result.rows.append(PreviewRow(record.locator, "quarantined", record.reason))
            else:
                result.rows.append(_row(mapper, record, result))
            if len(result.rows) >= limit:
                break
        close = getattr(pulled, "close", None)
        if close is not None:
            close()
        # Files whose rows were all quarantined still show what was detected.
        for where, preset in getattr(source, "detected", {}).items():
            result.presets.setdefault(where, preset)
    except (MappingError, LookupError, OSError, ValueError) as exc:
        result.error = str(exc)
    return result


def _row(mapper: Mapper, record: Record, result: Preview) -> PreviewRow:
    preset, columns = mapper.columns_for(record)
    result.presets.setdefault(record.locator.rsplit(" row ", 1)[0], preset)
    if not result.columns:
        result.columns = columns
        result.roles = mapper.column_roles(record)
    mapped = mapper.map(record)
    if mapped is None:
        return PreviewRow(record.locator, "no feedback", mapper.skip_reason(record))
    if isinstance(mapped, Quarantined):
        return PreviewRow(record.locator, "quarantined", mapped.reason)
    return PreviewRow(record.locator, "item", mapped.text, mapped)


def render_preview(preview: Preview, width: int = 80) -> list[Table]:
    """Four Rich tables: presets per file, field -> columns, each column's role, the mapped rows."""
    files = Table(title=f"{preview.source}: detected layout")
    files.add_column("file")
    files.add_column("preset")
    for where, preset in preview.presets.items():
        files.add_row(where, preset)

    fields = Table(title="field <- column(s)")
    fields.add_column("field")
    fields.add_column("column(s)")
    for name, columns in preview.columns.items():
        fields.add_row(name, ", ".join(columns))

    roles = Table(title="what each column became")
    for column in ("column", "became", "why"):
        roles.add_column(column, overflow="fold")
    for role in preview.roles:
        roles.add_row(Text(_short(role.column, width)), Text(role.role), Text(role.reason))

    rows = Table(title="first rows" + (f" — stopped: {preview.error}" if preview.error else ""))
    for column in ("where", "outcome", "id", "requester", "created", "text / reason"):
        rows.add_column(column, overflow="fold")
    for row in preview.rows:
        item = row.item
        rows.add_row(
            row.locator,
            row.outcome,
            item.external_id if item else "",
            (item.requester or "") if item else "",
            item.created_at.isoformat() if item and item.created_at else "",
            _short(row.detail, width),
        )
    return [files, fields, roles, rows]


def _short(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
