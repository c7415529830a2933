"""Rows of cells -> :class:`Record` s: the part of reading a CSV or XLSX that
does not care which of the two it is.

A reader (``files.py``) turns a file into ``(row_number, cells)`` pairs; this
module makes the header (one row, or several combined the way the export's
vendor lays them out), gives duplicate and empty column names unique keys, and
turns every later row into a :class:`Record` or, when its shape is wrong, a
:class:`Quarantined` that says why.

Header styles (chosen by the detected preset, or ``header_rows`` alone):

``single``   one row of names.
``combine``  SurveyMonkey: row 1 holds the question over a run of columns,
             row 2 the sub-field (``Response``, ``Open-Ended Response``, a
             choice); names become ``Question | Sub-field``, and a question whose
             only sub-field is a plain response is also addressable by itself.
``aliases``  Qualtrics: one row (``name_row``) gives the names, the others are
             aliases of the same column (question text, ``ImportId``).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from demandsync.connectors.base import Record
from demandsync.domain import Quarantined

HeaderStyle = Literal["single", "combine", "aliases"]

#: Longest raw excerpt kept with a quarantined row.
EXCERPT = 500
#: Data rows read ahead to profile each column's answers.
SAMPLE_ROWS = 50

#: Sub-fields that mean "the answer itself" in a SurveyMonkey second header row.
_PLAIN_ANSWER = {"", "response", "open-ended response"}
#: Lone surrogates U+DC00..U+DCFF mark bytes the decoder could not read (see files.py).
_UNDECODABLE = re.compile("[\udc00-\udcff]")
#: A reader puts this, then the length, in place of a cell it would not load whole
#: (an XLSX shared string over ``max_cell_chars``); the row is quarantined.
OVERSIZE_MARK = "\ue000demandsync:oversize:"


@dataclass(frozen=True, slots=True)
class Layout:
    """How to read the header: what detection (or the admin) decided."""

    header_rows: int = 1
    style: HeaderStyle = "single"
    name_row: int = 1
    preset: str | None = None


@dataclass(slots=True)
class Header:
    """Unique column keys in file order, plus other names for the same columns.

    ``labels`` is the human wording of a column (the question), used when
    several answers are joined into one text.
    """

    names: list[str]
    aliases: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    preset: str | None = None
    #: Column -> its non-empty values in the first :data:`SAMPLE_ROWS` rows, for
    #: telling open answers from scores and choices (``mappings/columns.py``).
    samples: dict[str, list[str]] = field(default_factory=dict)
    #: SurveyMonkey choice sub-columns (``Question | Slack``) -> their question.
    choices: dict[str, str] = field(default_factory=dict)

    #: Column key or alias -> cell position, built once the header is complete (:meth:`positions`).
    index: dict[str, int] = field(default_factory=dict)

    def label(self, name: str) -> str:
        return self.labels.get(name, name)

    def positions(self) -> dict[str, int]:
        """Column key or alias -> position of its cell: what every row of this header shares."""
        if not self.index and self.names:
            index = {name: pos for pos, name in enumerate(self.names)}
            for alias, name in self.aliases.items():
                if alias not in index and name in index:
                    index[alias] = index[name]
            self.index = index
        return self.index


class Row(Mapping[str, str]):
    """One data row: its cells by position, read by column key (or alias) as a mapping.

    The cells stay the reader's own list (:attr:`cells`): no per-row dictionary is built
    (that was ~15 % of a pull). The mapping engine compiles each header's plan to cell
    positions and reads :attr:`cells` directly; the general path, previews and reports use
    the mapping view, whose lookups go through the header's shared :meth:`Header.positions`.
    """

    __slots__ = ("header", "cells")

    def __init__(self, header: Header, values: Iterable[tuple[str, str]] | Mapping[str, str]) -> None:
        given = dict(values)
        self.header = header
        self.cells: list[str] = [given[name] for name in header.names if name in given]
        if len(self.cells) != len(header.names):
            raise ValueError("a row needs a value for every column of its header")

    @classmethod
    def of(cls, header: Header, cells: list[str]) -> Row:
        """The row of ``cells`` (one per header column, in order), without copying them."""
        row = cls.__new__(cls)
        row.header, row.cells = header, cells
        return row

    def __getitem__(self, key: str) -> str:
        return self.cells[self.header.positions()[key]]

    def __iter__(self) -> Iterator[str]:
        return iter(self.header.names)

    def __len__(self) -> int:
        return len(self.cells)

    def __contains__(self, key: object) -> bool:
        return key in self.header.positions()

    def __repr__(self) -> str:
        return f"Row({dict(zip(self.header.names, self.cells))!r})"


def unique_names(raw: Sequence[str]) -> list[str]:
    """``Other, Other, Other`` -> ``Other, Other#2, Other#3``; an empty name
    becomes ``#<position>`` (1-based), the same spelling as a positional reference."""
    seen: dict[str, int] = {}
    taken: set[str] = set()
    out: list[str] = []
    for pos, name in enumerate(raw, start=1):
        name = name.strip()
        if not name:
            name = f"#{pos}"
        base, key = name, name
        while key in taken:
            seen[base] = seen.get(base, 1) + 1
            key = f"{base}#{seen[base]}"
        taken.add(key)
        out.append(key)
    return out


def build_header(rows: Sequence[Sequence[str]], layout: Layout) -> Header:
    """Turn the header row(s) into a :class:`Header` according to ``layout.style``."""
    width = max((len(r) for r in rows), default=0)
    padded = [list(r) + [""] * (width - len(r)) for r in rows]
    if layout.style == "combine" and len(padded) >= 2:
        return _combined(padded[0], padded[1], layout.preset)
    name_row = min(max(layout.name_row, 1), len(padded)) - 1 if padded else 0
    names = unique_names(padded[name_row] if padded else [])
    header = Header(names=names, preset=layout.preset)
    if layout.style == "aliases":
        for i, row in enumerate(padded):
            if i == name_row:
                continue
            for name, cell in zip(names, row):
                import_id = _import_id(cell)
                alias = import_id or cell.strip()
                if alias and alias not in names:
                    header.aliases.setdefault(alias, name)
                # Qualtrics' second row is the question wording: the best label.
                if i == 1 and cell.strip() and not import_id:
                    header.labels.setdefault(name, cell.strip())
    return header


def _import_id(cell: str) -> str | None:
    """``{"ImportId":"QID2_TEXT"}`` -> ``QID2_TEXT`` (Qualtrics' third header row)."""
    cell = cell.strip()
    if not cell.startswith("{"):
        return None
    try:
        value = json.loads(cell)
    except ValueError:
        return None
    found = value.get("ImportId") if isinstance(value, dict) else None
    return str(found) if found else None


def _combined(top: list[str], sub: list[str], preset: str | None) -> Header:
    raw: list[str] = []
    groups: list[str] = []
    current = ""
    for t, s in zip(top, sub):
        t, s = t.strip(), s.strip()
        if t:
            current = t
        question = t or (current if s else "")
        groups.append(question)
        raw.append(f"{question} | {s}" if question and s else (question or s))
    names = unique_names(raw)
    header = Header(names=names, preset=preset)
    for name, question, s in zip(names, groups, sub):
        if question and s.strip() and s.strip().lower() not in _PLAIN_ANSWER and s.strip() != question:
            header.choices[name] = question
        if question and s.strip().lower() in _PLAIN_ANSWER:
            if sum(1 for g in groups if g == question) == 1 and question not in names:
                header.aliases[question] = name
            header.labels[name] = question
    return header


def excerpt(cells: Iterable[str]) -> str:
    """The raw row as an admin would recognise it, cut to :data:`EXCERPT` chars."""
    text = ",".join(_UNDECODABLE.sub("\N{REPLACEMENT CHARACTER}", c[: EXCERPT + 1]) for c in cells)
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row the reader could not even split into cells, and why."""

    number: int
    reason: str
    raw: str = ""


RawRow = tuple[int, list[str]] | BadRow


def records(
    rows: Iterator[RawRow],
    *,
    source: str,
    where: str,
    layout: Layout,
    first_rows: Sequence[RawRow] = (),
    pad_short: bool = False,
    max_cell_chars: int | None = None,
) -> Iterator[Record | Quarantined]:
    """Header from the first ``layout.header_rows`` rows, then one Record per row.

    ``first_rows`` are rows already read for detection (they come before
    ``rows``). Blank rows are skipped. A row is quarantined, naming why, when
    the reader could not split it (:class:`BadRow`), when it has more cells
    than the header (fewer, too, unless ``pad_short``: XLSX rows lose their
    trailing empty cells), when a cell is longer than ``max_cell_chars``, or
    when it holds bytes that did not decode.
    """
    stream = _chain(first_rows, rows)
    head: list[list[str]] = []
    for row in stream:
        if isinstance(row, BadRow):
            yield Quarantined(source, f"{where} row {row.number}", row.reason, row.raw)
            continue
        head.append(row[1])
        if len(head) == layout.header_rows:
            break
    if not head:
        return
    header = build_header(head, layout)
    width = len(header.names)
    ahead: list[RawRow] = []
    for row in stream:
        ahead.append(row)
        if len(ahead) >= SAMPLE_ROWS:
            break
    for row in ahead:
        if not isinstance(row, BadRow) and len(row[1]) <= width:
            for name, cell in zip(header.names, row[1]):
                if cell.strip() and (max_cell_chars is None or len(cell) <= max_cell_chars):
                    header.samples.setdefault(name, []).append(cell)
    for row in _chain(ahead, stream):
        if isinstance(row, BadRow):
            yield Quarantined(source, f"{where} row {row.number}", row.reason, row.raw)
            continue
        out = _record(row, header, width, source, where, pad_short, max_cell_chars)
        if out is not None:
            yield out


def _record(row: tuple[int, list[str]], header: Header, width: int, source: str, where: str,
            pad_short: bool, max_cell_chars: int | None) -> Record | Quarantined | None:
    number, cells = row
    # One C-level pass over the joined row for the checks below, not a Python loop per cell.
    # The separator is whitespace to str.strip(), so a row of blank cells joins to a blank string.
    joined = "\x1f".join(cells)
    if not joined.strip():
        return None
    locator = f"{where} row {number}"
    if len(cells) != width:
        if len(cells) > width and not any(c.strip() for c in cells[width:]):
            cells = cells[:width]  # trailing delimiters (Excel, Qualtrics legacy)
        if pad_short and len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        joined = "\x1f".join(cells)
    if len(cells) != width:
        return Quarantined(
            source,
            locator,
            f"row has {len(cells)} values but the header has {width} columns "
            "(a stray quote or delimiter in this row or the one before?)",
            excerpt(cells),
        )
    ascii_only = joined.isascii()  # O(1): neither the oversize mark nor an undecodable byte is ASCII
    if (max_cell_chars is not None and (len(joined) > max_cell_chars or not ascii_only and OVERSIZE_MARK in joined)
            and any(len(c) > max_cell_chars or c.startswith(OVERSIZE_MARK) for c in cells)):
        name, size = next((n, _length(c)) for n, c in zip(header.names, cells)
                          if len(c) > max_cell_chars or c.startswith(OVERSIZE_MARK))
        return Quarantined(
            source,
            locator,
            f"column {name!r} holds {size:,} characters, over the limit of {max_cell_chars:,} "
            "(the source's max_cell_chars); nothing of this row was stored",
            excerpt(cells),
        )
    if "\x00" in joined:
        nul = next(n for n, c in zip(header.names, cells) if "\x00" in c)
        return Quarantined(source, locator, f"column {nul!r} holds a NUL byte (binary data, not text)",
                           excerpt(c.replace("\x00", "\N{SYMBOL FOR NULL}") for c in cells))
    if not ascii_only and _UNDECODABLE.search(joined):
        bad = next(n for n, c in zip(header.names, cells) if _UNDECODABLE.search(c))
        return Quarantined(
            source,
            locator,
            f"bytes in column {bad!r} are not valid text in the file's encoding; "
            "re-export as UTF-8 or set the source's encoding",
            excerpt(cells),
        )
    return Record(Row.of(header, cells), locator, header.preset)


def _length(cell: str) -> int:
    """A cell's length; for a cell the reader left out, the length it recorded."""
    if cell.startswith(OVERSIZE_MARK):
        return int(cell[len(OVERSIZE_MARK):] or 0)
    return len(cell)


def _chain(first: Sequence[RawRow], rest: Iterator[RawRow]) -> Iterator[RawRow]:
    """``first``, then ``rest``: itertools' chain, which passes each row on without a generator
    frame of its own (every row of a file went through two of these)."""
    return itertools.chain(first, rest)
