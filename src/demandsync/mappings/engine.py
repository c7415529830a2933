"""The one engine that turns any source's raw record into a FeedbackItem.

``build_mapper`` merges the admin's ``[sources.map]`` over a preset's map
(key by key; ``extra`` one level deeper) and returns a :class:`Mapper`.
``Mapper.map(record)`` gives a FeedbackItem, ``None`` when the record holds no
feedback (an empty answer), or a Quarantined with a reason the admin can act
on. Problems with the *configuration* — a mapped column the export does not
have, a date that could be read two ways — raise :class:`MappingError` at once
instead of quarantining every row for the same cause.

Column references are resolved once per file header (rows share it), and the
header's plan is compiled to cell positions: a file row is mapped straight from
the reader's list of cells, not regex scans or a dictionary per row. A JSON
record's plan is resolved once per shape (its keys) and compiled the same way,
its cells being the record's values at the plan's paths.

This module is the mapper, its plans, their compilation and a row's identity (which
both paths must give alike); what a plan reads a cell *as* lives beside it: ``values``
(a record's value at a column or dotted path, as text), ``dates`` (a date cell by the
map's formats and zone), ``people`` (requesters, a voting tool's people, anonymous
placeholders) and ``errors`` (:class:`MappingError`, importable from here as before,
and the per-row :class:`~demandsync.mappings.errors.Skip`).
"""

from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from demandsync.domain import FeedbackItem, Person, Quarantined, Record
from demandsync.keys import keys_in
from demandsync.mappings.columns import ColumnRole, classify, is_other
from demandsync.mappings.dates import parse_date, utc_date
from demandsync.mappings.errors import MappingError, Skip
from demandsync.mappings.model import FieldMapping, Identity, Select
from demandsync.mappings.people import anonymous_check, is_anonymous, normalised_requester, person_from_entry
from demandsync.mappings.presets import GENERIC, load_preset
from demandsync.mappings.values import raw_text, value_at

_TAG_SPLIT = re.compile(r"[,;\n]")
_POSITION = re.compile(r"^#(\d+)$")
#: Whitespace runs, folded to one space in id cells and in :func:`_digest`'s parts. Kept beside the
#: identity code rather than imported: CPython 3.11 compiles ``_SPACE.sub(...)`` on an imported name
#: as an attribute load (a bound method made per call), not the method call the row paths have now.
_SPACE = re.compile(r"\s+")

#: How many JSON record shapes (key sets) one mapping keeps plans for.
_JSON_SHAPES = 256


@dataclass(slots=True)
class _Plan:
    """Every map key resolved to concrete column keys for one header."""

    columns: dict[str, list[str]] = field(default_factory=dict)
    extra: dict[str, list[str]] = field(default_factory=dict)
    labelled_text: bool = False
    anonymous_extra: list[str] = field(default_factory=list)
    labels: Mapping[str, str] = field(default_factory=dict)
    #: Every column of the header -> what it became and why (for ``preview``).
    roles: dict[str, ColumnRole] = field(default_factory=dict)
    #: (column, casefolded values) whose match means "skip this row".
    skip: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    #: Columns whose values make a row's identity when no id column is mapped:
    #: every column the text selection found (before any became an attribute)
    #: plus the mapped requester and account, so the identity does not move
    #: when a later download classifies a column differently.
    answer_columns: list[str] = field(default_factory=list)
    who_columns: list[str] = field(default_factory=list)
    #: Date column -> True (day/month) or False (month/day), learnt from an unambiguous value.
    date_orders: dict[str, bool] = field(default_factory=dict)
    #: A file header's plan compiled into one function of a row's cell list (:func:`_compile_rows`).
    rows: _RowFunction | None = None
    #: A JSON shape's compiled plan reads these paths, in this order, as the row function's cells.
    json_refs: tuple[str, ...] = ()


@dataclass(slots=True)
class _Compiled:
    """A merged mapping for one preset (or none), plus plans cached per header."""

    preset: str
    mapping: FieldMapping
    identity: Identity
    meta: frozenset[str]
    from_admin: frozenset[str]
    #: id(header) -> (header, plan); the header is kept so its id cannot be reused.
    plans: dict[int, tuple[object, _Plan]] = field(default_factory=dict)
    checked_json: bool = False
    #: JSON records' keys (in order) -> their lenient plan: an API page's records share a few shapes.
    json_plans: dict[tuple[str, ...], _Plan] = field(default_factory=dict)


class Mapper:
    """Maps records of one source. Build it with :func:`build_mapper`."""

    def __init__(self, source: str, preset: str | None, overrides: Mapping[str, Any]) -> None:
        self.source = source
        self.preset = preset
        self.overrides = dict(overrides)
        self._compiled: dict[str, _Compiled] = {}
        #: (header, preset name, compiled, plan) of the last file row mapped: rows come file by file.
        self._last: tuple[object, str, _Compiled, _Plan] | None = None
        if preset is not None:
            self._compile(preset)

    # -- public -----------------------------------------------------------------

    def map(self, record: Record) -> FeedbackItem | Quarantined | None:
        data = record.data
        header = getattr(data, "header", None)
        name = self.preset or record.preset or GENERIC
        last = self._last
        if last is not None and last[0] is header and header is not None and last[1] == name:  # same file
            compiled, plan = last[2], last[3]
        else:
            compiled = self._compile(name)
            plan = self._plan(compiled, record)
            if header is not None:
                self._last = (header, name, compiled, plan)
        rows = plan.rows
        if rows is not None:
            try:
                # A file row's cells, or a JSON record's values at the plan's paths (the same text _value gives)
                return rows(data.cells if header is not None  # type: ignore[attr-defined]  # a file row's
                            else [value_at(data, ref) for ref in plan.json_refs])
            except Skip as skip:
                return Quarantined(self.source, record.locator, str(skip), raw_text(data))
            except (_Unusual, KeyError, IndexError, AttributeError, TypeError):  # rare; a cell missing, not a string
                pass  # the general path below decides (and words) every such case
        return _OneRecord(self, compiled, plan, record).item()

    def columns_for(self, record: Record) -> tuple[str, dict[str, list[str]]]:
        """Which preset applies and which column(s) feed each field (for ``preview``)."""
        compiled = self._compile(self.preset or record.preset or GENERIC)
        plan = self._plan(compiled, record)
        shown = {k: v for k, v in plan.columns.items() if v}
        shown.update({f"extra.{k}": v for k, v in plan.extra.items() if v})
        return compiled.preset, shown

    def column_roles(self, record: Record) -> list[ColumnRole]:
        """Every column of the record's header: what it became (text, requester,
        account, attribute, another field, ignored) and why; for ``preview``."""
        compiled = self._compile(self.preset or record.preset or GENERIC)
        return list(self._plan(compiled, record).roles.values())

    def skip_reason(self, record: Record) -> str:
        """Why ``map`` gives nothing for this record (``map.skip`` or no answer), for ``preview``."""
        compiled = self._compile(self.preset or record.preset or GENERIC)
        plan = self._plan(compiled, record)
        return _OneRecord(self, compiled, plan, record).skipped_by() or "empty answer: no item"

    # -- compiling ----------------------------------------------------------------

    def _compile(self, name: str) -> _Compiled:
        if name in self._compiled:
            return self._compiled[name]
        preset = load_preset(name)
        merged = preset.map_dict()
        for key, value in self.overrides.items():
            if key == "extra" and isinstance(value, Mapping) and isinstance(merged.get("extra"), dict):
                merged["extra"] = {**merged["extra"], **value}
            else:
                merged[key] = value
        try:
            mapping = FieldMapping.model_validate(merged)
        except ValidationError as exc:
            problems = "; ".join(
                f"sources.{self.source}.map.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise MappingError(problems) from exc
        if mapping.text is None:
            raise MappingError(
                f"sources.{self.source}.map.text is required: no preset was given or detected "
                f"(preset {name!r}), so say which column(s) hold the feedback text, "
                'e.g. text = "Comment" or text = ["Q1", "Q2"]'
            )
        compiled = _Compiled(
            name, mapping, preset.identity, frozenset(preset.meta), frozenset(self.overrides)
        )
        self._compiled[name] = compiled
        return compiled

    def _plan(self, compiled: _Compiled, record: Record) -> _Plan:
        header = getattr(record.data, "header", None)
        cached = compiled.plans.get(id(header)) if header is not None else None
        if cached is not None and cached[0] is header:
            return cached[1]
        if header is None and compiled.checked_json:
            # A lenient plan depends on the record's keys only (the dates a record teaches stay
            # its own: see _OneRecord), so one plan, compiled once, serves every record of a shape.
            shape = tuple(record.data)
            shared = compiled.json_plans.get(shape)
            if shared is None:
                shared = _Resolver(self.source, compiled, record).plan(strict=False)
                _compile_json(self.source, compiled.mapping, shared)
                if len(compiled.json_plans) < _JSON_SHAPES:
                    compiled.json_plans[shape] = shared
            return shared
        plan = _Resolver(self.source, compiled, record).plan(strict=header is not None or not compiled.checked_json)
        compiled.checked_json = True
        positions = getattr(header, "positions", None)
        if header is not None:
            if positions is not None:  # a file row: its cells by position
                plan.rows = _compile_rows(self.source, compiled.mapping, plan, positions())
            compiled.plans[id(header)] = (header, plan)
        return plan


def build_mapper(source_name: str, preset: str | None, overrides: Mapping[str, Any] | None = None) -> Mapper:
    """The mapper for one ``[[sources]]`` entry.

    ``preset=None``: each record's detected preset is used (cached per preset).
    Raises :class:`MappingError` for overrides that do not validate, and
    ``PresetError`` for an unknown preset name.
    """
    return Mapper(source_name, preset, overrides or {})


# -- resolving references ------------------------------------------------------------


class _Resolver:
    """Turns the mapping's column references into the record's column keys."""

    def __init__(self, source: str, compiled: _Compiled, record: Record) -> None:
        self.source = source
        self.compiled = compiled
        self.record = record
        self.data = record.data
        self.names = list(record.data.keys())
        header = getattr(record.data, "header", None)
        self.aliases: dict[str, str] = dict(getattr(header, "aliases", {}) or {})
        self.labels: Mapping[str, str] = getattr(header, "labels", {}) or {}
        self.tabular = header is not None
        self.strict = True

    def plan(self, strict: bool) -> _Plan:
        self.strict = strict
        m = self.compiled.mapping
        plan = _Plan(labels=self.labels)
        for key in ("id", "requester", "account", "created_at", "url", "epic", "votes"):
            plan.columns[key] = self._refs(key, getattr(m, key))
        for name, ref in m.extra.items():
            plan.extra[name] = self._refs(f"extra.{name}", ref)
        used = {c for cols in plan.columns.values() for c in cols} | {c for cols in plan.extra.values() for c in cols}
        tags = m.tags
        if isinstance(tags, Select):
            plan.columns["tags"] = self._select(tags, used)
        else:
            plan.columns["tags"] = self._refs("tags", tags)
        used |= set(plan.columns["tags"])
        if isinstance(m.text, Select):
            plan.columns["text"] = self._select(m.text, used)
            plan.labelled_text = m.text.label
        else:
            plan.columns["text"] = self._refs("text", m.text)
        text_refs = [m.text] if isinstance(m.text, str) else m.text if isinstance(m.text, list) else []
        # A JSON record lacking every optional text key says nothing about the next one.
        maybe_later = not self.tabular and text_refs and all(r.startswith("?") for r in text_refs)
        if not plan.columns["text"] and self.strict and not maybe_later:
            where = self.record.locator.rsplit(" row ", 1)[0]
            raise MappingError(
                f"sources.{self.source}.map.text: no column of {where} holds feedback text under "
                f"preset {self.compiled.preset!r}; columns there: {', '.join(map(repr, self.names[:20]))}"
            )
        plan.answer_columns = list(plan.columns["text"])
        plan.who_columns = [*plan.columns["requester"], *plan.columns["account"]]
        text_roles = self._text_roles(plan, m.text)
        for skip_ref, values in m.skip.items():
            for found in self._refs("skip", skip_ref):
                plan.skip.append((found, frozenset(v.strip().casefold() for v in values)))
        plan.roles = self._roles(plan, text_roles)
        for anon_ref in self.compiled.identity.if_anonymous:
            if isinstance(anon_ref, Select):
                plan.anonymous_extra += self._select(anon_ref, used)
            else:
                plan.anonymous_extra += self._refs("identity.if_anonymous", anon_ref)
        return plan

    def _text_roles(self, plan: _Plan, text: Any) -> dict[str, ColumnRole]:
        """Split the columns a ``questions``/``match`` selection found into the open
        answers (kept as text) and the rest (requester, account, attributes)."""
        roles: dict[str, ColumnRole] = {}
        if not isinstance(text, Select) or not text.content or not self.tabular:
            for column in plan.columns["text"]:
                roles[column] = ColumnRole(column, "text", f"map.text{self._origin('text')}")
            return roles
        header = getattr(self.data, "header", None)
        samples: Mapping[str, Sequence[str]] = getattr(header, "samples", {}) or {}
        choices: Mapping[str, str] = getattr(header, "choices", {}) or {}
        following = dict(zip(self.names, [*self.names[1:], ""]))
        kept: list[str] = []
        for column in plan.columns["text"]:
            role = classify(self.labels.get(column, column), samples.get(column, ()),
                            before_other=is_other(following[column]), choice_of=choices.get(column),
                            has_option_ids=f"{column} - Option ID" in following)
            roles[column] = ColumnRole(column, role.role, role.reason)
            if role.role == "text":
                kept.append(column)
            elif role.role in ("requester", "account"):
                if column not in plan.columns[role.role]:
                    plan.columns[role.role].append(column)
            else:
                plan.extra.setdefault(self.labels.get(column, column), [column])
        plan.columns["text"] = kept
        return roles

    def _origin(self, key: str) -> str:
        return " (your map)" if key in self.compiled.from_admin else f" (preset {self.compiled.preset!r})"

    def _roles(self, plan: _Plan, text_roles: dict[str, ColumnRole]) -> dict[str, ColumnRole]:
        used: dict[str, str] = {}
        for key, columns in plan.columns.items():
            for column in columns:
                used.setdefault(column, key)
        for name, columns in plan.extra.items():
            for column in columns:
                used.setdefault(column, f"extra.{name}")
        meta = {n.casefold() for n in self.compiled.meta}
        roles: dict[str, ColumnRole] = {}
        for column in self.names:
            if column in text_roles and text_roles[column].role != "text" or column not in used:
                if column in text_roles:
                    roles[column] = text_roles[column]
                elif column.casefold() in meta:
                    roles[column] = ColumnRole(column, "ignored", f"export metadata (preset {self.compiled.preset!r})")
                else:
                    roles[column] = ColumnRole(column, "ignored", "not mapped")
                continue
            key = used[column]
            if key == "text":
                roles[column] = text_roles.get(column, ColumnRole(column, "text", "map.text"))
            elif key.startswith("extra."):
                roles[column] = ColumnRole(column, "attribute", f"map.{key}{self._origin('extra')}")
            else:
                roles[column] = ColumnRole(column, key, f"map.{key}{self._origin(key)}")
        return roles

    def _refs(self, key: str, ref: str | list[str] | None) -> list[str]:
        if ref is None:
            return []
        out: list[str] = []
        for one in [ref] if isinstance(ref, str) else ref:
            found = self._one(key, one)
            if found is not None:
                out.append(found)
        return out

    def _one(self, key: str, ref: str) -> str | None:
        optional = ref.startswith("?") and len(ref) > 1
        name = ref[1:] if optional else ref
        if name in self.data:
            return self.aliases.get(name, name)
        if position := _POSITION.match(name):
            index = int(position.group(1)) - 1
            if 0 <= index < len(self.names):
                return self.names[index]
        folded = [n for n in [*self.names, *self.aliases] if n.casefold() == name.casefold()]
        if len(folded) == 1:
            return self.aliases.get(folded[0], folded[0])
        if not self.tabular and "." in name:
            head = name.split(".", 1)[0]
            if head in self.data or not self.strict:
                return name  # followed per record by value_at()
        if optional or not self.strict:
            return None
        self._missing(key, name)
        return None

    def _select(self, select: Select, used: set[str]) -> list[str]:
        reverse: dict[str, list[str]] = {}
        for alias, target in self.aliases.items():
            reverse.setdefault(target, []).append(alias)
        meta = {n.casefold() for n in self.compiled.meta}
        chosen: list[str] = []
        for name in self.names:
            spellings = [name, *reverse.get(name, [])]
            if any(re.search(p, s) for p in select.exclude for s in spellings):
                continue
            if select.match is not None:
                if any(re.search(select.match, s) for s in spellings):
                    chosen.append(name)
            elif select.questions:
                if name not in used and name.casefold() not in meta and not _POSITION.match(name):
                    chosen.append(name)
        return chosen

    def _missing(self, key: str, ref: str) -> None:
        where = self.record.locator.rsplit(" row ", 1)[0]
        known = [*self.names, *self.aliases]
        close = difflib.get_close_matches(ref, known, n=3, cutoff=0.6)
        hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        shown = ", ".join(repr(n) for n in self.names[:20]) + (" …" if len(self.names) > 20 else "")
        origin = (
            "" if key.split(".")[0] in self.compiled.from_admin
            else f" (set by preset {self.compiled.preset!r}; override it in [sources.map])"
        )
        raise MappingError(
            f"sources.{self.source}.map.{key}: column {ref!r} is not in {where}{origin}. "
            f"{hint}Columns there: {shown}"
        )


# -- mapping one record --------------------------------------------------------------


class _OneRecord:
    """One record being mapped; quarantine reasons are raised as Skip."""

    def __init__(self, mapper: Mapper, compiled: _Compiled, plan: _Plan, record: Record) -> None:
        self.mapper = mapper
        self.m = compiled.mapping
        self.compiled = compiled
        self.plan = plan
        self.record = record
        #: A file's rows share what their dates teach (day/month order); a JSON record stands alone.
        self.date_orders = plan.date_orders if getattr(record.data, "header", None) is not None else {}

    def item(self) -> FeedbackItem | Quarantined | None:
        try:
            return self._item()
        except Skip as skip:
            return Quarantined(self.mapper.source, self.record.locator, str(skip), raw_text(self.record.data))

    def _item(self) -> FeedbackItem | None:
        if self.plan.skip and self.skipped_by() is not None:
            return None
        text = self._text()
        if not text:
            return None
        if len(text) > self.m.max_text_chars:
            raise Skip(f"the text is {len(text):,} characters long, over the limit of {self.m.max_text_chars:,} "
                        f"(sources.{self.mapper.source}.map.max_text_chars)")
        requester = normalised_requester(self._first("requester"), self.m.anonymous)
        account = self._first("account") or None
        created_at = self._date()
        votes = self._votes()
        item = FeedbackItem(
            source=self.mapper.source,
            external_id="",
            text=text,
            requester=requester,
            account=account,
            created_at=created_at,
            url=self._first("url") or None,
            tags=_dedupe(t.strip() for v in self._all("tags") for t in _TAG_SPLIT.split(v) if t.strip()),
            epic_hint=keys_in(self._all("epic")),
            votes=votes,
            extra=self._extra(),
            people=self._people(),
        )
        item.external_id = self._identity(item)
        return item

    def _people(self) -> list[Person] | None:
        """The request's people from ``map.people`` (None when not mapped): one Person per
        identity, the first mention winning, a voter's weight kept over an author's none."""
        key = self.m.people
        if key is None:
            return None
        raw = self.record.data.get(key)
        if raw is None:
            return None
        if not isinstance(raw, list):
            raise Skip(f"{key!r} is not a list of people")
        found: dict[str, Person] = {}
        for entry in raw:
            person = person_from_entry(entry, self.mapper.source, self.m.anonymous)
            if person is None:
                raise Skip(f"{key!r} holds a person without an id or e-mail, or with a bad weight/role: {entry!r}")
            old = found.get(person.identity)
            if old is None or (old.role == "author" and person.role == "voter"):
                found[person.identity] = person
        return list(found.values())

    def _extra(self) -> dict[str, str]:
        data, out = self.record.data, {}
        for name, columns in self.plan.extra.items():
            for column in columns:
                if value := value_at(data, column).strip():
                    out[name] = value
                    break
        return out

    def _values(self, columns: Sequence[str]) -> list[str]:
        return [value_at(self.record.data, c) for c in columns]

    def _all(self, key: str) -> list[str]:
        data = self.record.data
        return [v for c in self.plan.columns.get(key, ()) if (v := value_at(data, c)).strip()]

    def _first(self, key: str) -> str:
        data = self.record.data
        for column in self.plan.columns.get(key, ()):  # the first non-blank, without building a list
            if value := value_at(data, column).strip():
                return value
        return ""

    def _text(self) -> str:
        parts: list[str] = []
        for column in self.plan.columns["text"]:
            value = value_at(self.record.data, column).replace("\r\n", "\n").strip()
            if value:
                label = self.plan.labels.get(column, column)
                parts.append(f"{label}: {value}" if self.plan.labelled_text else value)
        return "\n\n".join(parts)

    def _date(self) -> datetime | None:
        columns = self.plan.columns["created_at"]
        for column in columns:
            value = value_at(self.record.data, column).strip()
            if value:
                return parse_date(value, column, self.m, self.mapper.source, self.date_orders)
        return None

    def _votes(self) -> int:
        raw = self._first("votes")
        if not raw:
            return 1
        try:
            return max(1, int(float(raw)))
        except ValueError:
            column = self.plan.columns["votes"][0]
            raise Skip(f"votes {raw!r} in column {column!r} is not a number") from None

    def _identity(self, item: FeedbackItem) -> str:
        columns = self.plan.columns["id"]
        if not columns:
            created = item.created_at.isoformat() if item.created_at else ""
            return "sha256:" + _digest([created, *self._answers()])
        parts: list[str] = []
        for column in columns:
            value = _SPACE.sub(" ", value_at(self.record.data, column)).strip()
            if not value:
                raise Skip(f"the id column {column!r} is empty, so this row has no identity")
            parts.append(value)
        if self.plan.anonymous_extra and is_anonymous(parts[0], self.m.anonymous):
            parts.append(_digest([*self._answers(), *self._values(self.plan.anonymous_extra)])[:16])
        return "|".join(parts)

    def _answers(self) -> list[str]:
        """The answers and who gave them, as identity material: independent of which
        answers became text, so re-classifying a column never changes an identity."""
        out = [value_at(self.record.data, c).replace("\r\n", "\n").strip() for c in self.plan.answer_columns]
        out = [v for v in out if v]
        out += [(normalised_requester(v, ()) or "") for v in self._values(self.plan.who_columns) if v.strip()]
        return out

    def skipped_by(self) -> str | None:
        """The ``map.skip`` rule this row matches, if any."""
        for column, values in self.plan.skip:
            value = value_at(self.record.data, column).strip()
            if value.casefold() in values:
                return f"{column} = {value!r}: not counted (map.skip; set skip = {{}} to count such responses)"
        return None


class _Unusual(Exception):
    """The compiled row function met something it leaves to :class:`_OneRecord` (the reference)."""


_RowFunction = Callable[[list[str]], FeedbackItem | None]


def _compile_rows(source: str, m: FieldMapping, plan: _Plan, positions: Mapping[str, int],
                  learns_dates: bool = True) -> _RowFunction | None:
    """One file header's plan (or a JSON shape's, :func:`_compile_json`) as a function of a row's
    cell list: what :class:`_OneRecord` does, with every per-plan decision (which columns, at which
    positions, labels, placeholders) taken here once. ``positions`` maps the header's column keys
    and aliases to cell positions.

    Why: the general path costs ~15 µs a row in method calls and dictionary lookups that
    give the same answer for every row of a file; reading the reader's own cell list by
    position also spares each row a dictionary of its cells. This one handles the common row and raises
    :class:`_Unusual` for anything rarer (a too-long text, an empty id cell; a missing cell or a
    value that is not a string raises what it raises), which :meth:`Mapper.map` then maps the
    general way, so both give the same item (``tests/test_mapping.py`` compares them row by row).
    A plan whose every row would end there (people, a vote count, the content-derived identity)
    gets no function: each row would otherwise be mapped up to that point twice.
    ``learns_dates=False`` (JSON records): what one value teaches about day/month order is not
    kept for the next.
    """
    if m.people is not None or plan.columns["votes"] or not plan.columns["id"]:
        return None
    cols = plan.columns
    try:
        def at(columns: Iterable[str]) -> tuple[int, ...]:
            return tuple(positions[c] for c in columns)

        texts = tuple((positions[c], plan.labels.get(c, c)) for c in cols["text"])
        skips = tuple((positions[c], values) for c, values in plan.skip)
        requesters, accounts, urls = at(cols["requester"]), at(cols["account"]), at(cols["url"])
        dates = tuple((positions[c], c) for c in cols["created_at"])
        tag_columns, epic_columns = at(cols["tags"]), at(cols["epic"])
        ids = at(cols["id"])
        # An attribute from one column (the usual) is one lookup; from several, the first non-blank.
        extras = tuple((name, positions[columns[0]]) for name, columns in plan.extra.items() if len(columns) == 1)
        extras_of_many = tuple((name, at(columns)) for name, columns in plan.extra.items() if len(columns) > 1)
        answers, who, anonymous_extra = at(plan.answer_columns), at(plan.who_columns), at(plan.anonymous_extra)
    except KeyError:  # a reference that is no column of the header: the general path words it
        return None
    labelled = plan.labelled_text
    max_chars, anonymous = m.max_text_chars, anonymous_check(m.anonymous)
    orders = plan.date_orders if learns_dates else None
    space = _SPACE.sub
    read_date = utc_date if m.date_format is None and m.timezone == "UTC" else parse_date

    def first(cells: list[str], at: tuple[int, ...]) -> str:
        for pos in at:
            if value := cells[pos].strip():
                return value
        return ""

    # The usual map names one column for each of these: its cell, without a call per row.
    requester_at, account_at, url_at = (cols[0] if len(cols) == 1 else None for cols in (requesters, accounts, urls))

    def row(cells: list[str]) -> FeedbackItem | None:
        for pos, values in skips:
            if cells[pos].strip().casefold() in values:
                return None
        parts = []
        for pos, label in texts:
            if value := cells[pos].replace("\r\n", "\n").strip():
                parts.append(f"{label}: {value}" if labelled else value)
        text = "\n\n".join(parts)
        if not text:
            return None
        if len(text) > max_chars:
            raise _Unusual
        asked = cells[requester_at].strip() if requester_at is not None else first(cells, requesters)
        requester = None if anonymous(asked) else asked.lower() if "@" in asked else asked
        created_at = None
        for pos, column in dates:
            if value := cells[pos].strip():
                created_at = read_date(value, column, m, source, {} if orders is None else orders)
                break
        tags: list[str] = []
        for pos in tag_columns:  # a loop, not a comprehension (a frame of its own): most rows have no tag
            if cells[pos].strip():
                tagged = [v for p in tag_columns if (v := cells[p]).strip()]
                tags = _dedupe(t.strip() for v in tagged for t in _TAG_SPLIT.split(v) if t.strip())
                break
        extra = {}
        for name, pos in extras:
            if value := cells[pos].strip():
                extra[name] = value
        for name, at in extras_of_many:
            for pos in at:
                if value := cells[pos].strip():
                    extra[name] = value
                    break
        if extras_of_many:  # the map's key order, as the general path gives it
            extra = {name: extra[name] for name in plan.extra if name in extra}
        # A map without the column gives None without a call (Hotjar has no account column).
        account = (cells[account_at].strip() if account_at is not None else accounts and first(cells, accounts)) or None
        url = (cells[url_at].strip() if url_at is not None else urls and first(cells, urls)) or None
        epic_hint = keys_in([v for p in epic_columns if (v := cells[p]).strip()]) if epic_columns else []
        id_parts = []
        for pos in ids:
            value = cells[pos]
            # Printable text holds no whitespace but " " (tabs, line ends and Unicode spaces are not
            # printable), so without a double space the regex would change nothing: skip it.
            if not (value := (value if value.isprintable() and "  " not in value else space(" ", value)).strip()):
                raise _Unusual  # quarantined, with its reason, by the general path
            id_parts.append(value)
        # The id's first part is often the requester's cell (Hotjar's user id): then it was looked at above.
        if anonymous_extra and (requester is None if id_parts[0] == asked else anonymous(id_parts[0])):
            found = [v for p in answers if (v := cells[p].replace("\r\n", "\n").strip())]
            found += [(normalised_requester(v, ()) or "") for p in who if (v := cells[p]).strip()]
            id_parts.append(_digest([*found, *(cells[p] for p in anonymous_extra)])[:16])
        # Positional: half the cost of keywords (a reordered field fails test_mapping's comparison
        # with the general path).
        return FeedbackItem(source, "|".join(id_parts), text, requester, account, created_at, url, tags, epic_hint,
                            1, extra)

    return row


def _compile_json(source: str, m: FieldMapping, plan: _Plan) -> None:
    """Give a JSON shape's plan the file path's row function: the record's value at each path the
    plan reads (``value_at``'s text, what :class:`_OneRecord` reads too) becomes one cell.

    Why: the general path spends its time on a Jira issue in calls and lookups that give the same
    answer for every record of a shape; reading the paths into a list and mapping that maps bench's
    5,000 Jira feedback issues in 5.2-5.7 us each, 8.5-8.9 the general way (2026-11-29, alternating).
    The first record of a source (its strict plan) and a shape the row function leaves alone still
    take the general path; ``tests/test_mapping.py`` compares both paths on hostile records.
    """
    refs = tuple(dict.fromkeys([
        *(c for columns in plan.columns.values() for c in columns),
        *(c for columns in plan.extra.values() for c in columns),
        *(c for c, _ in plan.skip), *plan.answer_columns, *plan.who_columns, *plan.anonymous_extra,
    ]))
    plan.rows = _compile_rows(source, m, plan, {ref: i for i, ref in enumerate(refs)}, False)
    plan.json_refs = refs


# -- what both paths do alike --------------------------------------------------------


def _dedupe(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _digest(parts: Sequence[str]) -> str:
    """A hash that ignores whitespace and Unicode-form differences (CSV vs XLSX, CRLF vs LF)."""
    # An ASCII part is in NFC already, and printable text holds no whitespace but " " (see the id
    # cells in _compile_rows): without a double space the regex would change nothing either. Such a
    # part is only stripped (~0.4 us less a part than normalize and sub), and an anonymous Hotjar row
    # digests seven parts (8.6 -> 5.7 us a row).
    norm = [p.strip() if p.isascii() and p.isprintable() and "  " not in p
            else _SPACE.sub(" ", unicodedata.normalize("NFC", p)).strip() for p in parts]
    return hashlib.sha256("\x1f".join(norm).encode("utf-8")).hexdigest()[:32]
