"""Survey exports on disk: CSV (any of the encodings and delimiters exports
come in) and XLSX, as one source kind (``csv``, ``xlsx`` or ``file``).

Why it is shaped like this:

* Exports get re-downloaded and dropped next to the old ones, so the cursor is
  a fingerprint per file; an unchanged file is not read again (size and mtime
  first, the SHA-256 only when those moved, so a touched copy is still skipped).
* Exports can be hundreds of MB: CSV is parsed from a text stream and XLSX in
  openpyxl's read-only mode; nothing holds a whole file.
* One broken row must not cost the other rows, and one broken file must not
  cost the other files: both are quarantined with a reason and a locator.
  Bytes that do not decode are carried through as lone surrogates (see
  :func:`_mark_undecodable`) so only the row holding them is quarantined.

Header handling (duplicate names, multi-row headers) lives in ``tabular.py``;
recognising a vendor's layout lives in ``mappings/presets.py``.
"""

from __future__ import annotations

import codecs
import csv
import functools
import hashlib
import io
import shutil
import sys
import tempfile
import zipfile
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any
from xml.parsers import expat
from xml.sax.saxutils import escape as xml_escape
from xml.sax.saxutils import quoteattr

from pydantic import Field

from demandsync.connectors.base import Cursor, Record, Source, SourceContext, SourceOptions
from demandsync.connectors.tabular import EXCERPT, OVERSIZE_MARK, BadRow, Layout, RawRow, records
from demandsync.domain import Quarantined
from demandsync.errors import OutsideError
from demandsync.mappings.engine import MappingError, build_mapper
from demandsync.mappings.presets import DETECT_ROWS, detect

XLSX_SUFFIXES = (".xlsx", ".xlsm")
#: Bytes looked at to guess the encoding and delimiter.
SNIFF_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t")
_MARK = "demandsync.mark"


class NoFilesMatched(OutsideError, FileNotFoundError):
    """The source's ``path`` glob matched nothing: almost always a config mistake."""


def _mark_undecodable(error: UnicodeError) -> tuple[str, int]:
    """Decode error handler: each bad byte becomes U+DC00+byte, a lone surrogate
    no valid text contains, so ``tabular.records`` can quarantine just that row."""
    assert isinstance(error, UnicodeDecodeError)
    bad = error.object[error.start : error.end]
    return "".join(chr(0xDC00 + b) for b in bad), error.end


codecs.register_error(_MARK, _mark_undecodable)
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class FileSource(Source):
    """CSV, XLSX and ZIP exports matched by a glob, read in sorted order."""

    kind = "file"
    cheap_to_scan = True

    class Options(SourceOptions):
        #: Glob relative to the config file's folder, or absolute; ``**`` allowed.
        path: str
        #: ``None``: detect (BOM, UTF-16, else per line: UTF-8, then cp1252).
        encoding: str | None = None
        #: ``None``: the most frequent of ``,`` ``;`` tab in the header line.
        delimiter: str | None = Field(default=None, min_length=1, max_length=1)
        #: XLSX: sheet name or 0-based index; first sheet by default.
        sheet: str | int | None = None
        #: Header rows; ``None``: from the detected preset, else 1.
        header_rows: int | None = Field(default=None, ge=1, le=5)
        #: Lines (CSV) or rows (XLSX) before the header to ignore (titles, notes).
        skip_rows: int = Field(default=0, ge=0)
        #: Longest cell, in characters; a row with a longer one is quarantined.
        #: 100,000 is about 15,000 words, far past any survey answer.
        max_cell_chars: int = Field(default=100_000, ge=1)
        #: Longest CSV row (all its lines), in characters: the most one row may
        #: hold in memory. A longer one is quarantined and reading goes on.
        max_row_chars: int = Field(default=1_000_000, ge=1)
        #: ZIP: most entries looked at; a ZIP with more is quarantined whole.
        max_zip_entries: int = Field(default=100, ge=1)
        #: ZIP and XLSX: most bytes their entries may expand to (declared sizes,
        #: which the ZIP reader enforces); a bigger archive is quarantined whole.
        max_expanded_bytes: int = Field(default=1 << 30, ge=1)

    def __init__(self, options: SourceOptions, context: SourceContext) -> None:
        super().__init__(options, context)
        assert isinstance(options, FileSource.Options)
        self.opts: FileSource.Options = options
        #: where -> preset detected from its header ("generic" when none), for ``preview``.
        self.detected: dict[str, str] = {}

    # -- discovery and cursor -----------------------------------------------------

    def files(self) -> list[Path]:
        """Files the glob matches, sorted; raises :class:`NoFilesMatched` if none."""
        pattern = Path(self.opts.path).expanduser()
        if pattern.is_absolute():
            anchor = Path(pattern.anchor)
            found = anchor.glob(str(pattern.relative_to(anchor)))
        else:
            found = self.context.base_dir.glob(self.opts.path)
        paths = sorted(p for p in found if not p.is_dir())
        if not paths:
            raise NoFilesMatched(
                f"source {self.context.name!r}: path {self.opts.path!r} matches no file "
                f"(looked in {self.context.base_dir})"
            )
        return paths

    def _relpath(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.context.base_dir.resolve()).as_posix()
        except ValueError:
            return path.as_posix()

    def pull(self, cursor: Cursor) -> Iterator[Record | Quarantined]:
        seen: dict[str, dict[str, Any]] = dict(cursor.get("files", {})) if not self.context.full else {}
        new: dict[str, dict[str, Any]] = {}
        for path in self.files():
            rel = self._relpath(path)
            try:
                print_ = _fingerprint(path, seen.get(rel))
            except OSError as exc:
                yield Quarantined(self.context.name, rel, f"cannot read the file: {exc.strerror or exc}")
                continue
            new[rel] = print_.as_dict()
            if print_.unchanged:
                continue
            yield from self._read(path, rel)
        self.cursor = {"files": new}

    def samples(self) -> Iterator[Record | Quarantined]:
        """The first row of every matched file (each may have its own layout)."""
        for path in self.files():
            rows = self._read(path, self._relpath(path))
            try:
                first = next(rows, None)
            finally:
                getattr(rows, "close", lambda: None)()  # a generator: release the file now
            if first is not None:
                yield first

    def check(self) -> str:
        """Files matched, the newest readable, the layout each file's header shows."""
        paths = self.files()
        newest = max(paths, key=lambda p: p.stat().st_mtime)
        with newest.open("rb") as handle:
            handle.read(1)  # readable (permissions, not a directory)
        firsts = list(self.samples())
        bad = [q for q in firsts if isinstance(q, Quarantined)]
        if bad:
            raise OutsideError(f"source {self.context.name!r}: {bad[0].reason}")
        layouts = sorted(set(self.detected.values())) or ["no rows"]
        matches = "1 file matches" if len(paths) == 1 else f"{len(paths)} files match"
        return (f"{matches} {self.opts.path!r}; newest "
                f"{self._relpath(newest)} readable; layout {', '.join(layouts)}")

    def inspect(self, mapping: Mapping[str, Any] | None = None, preset: str | None = None) -> list[FileCheck]:
        """What ``check`` shows for this source without reading whole files: per file
        (ZIP entry), the preset detected and, when the mapping cannot work on its
        header, the error naming the missing column. Reads each file's first rows only."""
        mapper = build_mapper(self.context.name, preset, mapping or {})
        checks: dict[str, FileCheck] = {}
        for path in self.files():
            rel = self._relpath(path)
            reads = self._read(path, rel)
            for n, out in enumerate(reads):
                where = out.locator.rsplit(" row ", 1)[0]
                check = checks.setdefault(where, FileCheck(where))
                if isinstance(out, Quarantined):
                    if " row " not in out.locator:
                        check.error = out.reason
                elif not check.columns:
                    check.columns = list(out.data.keys())
                    try:
                        check.preset, _ = mapper.columns_for(out)
                    except MappingError as exc:
                        check.error = str(exc)
                    if path.suffix.lower() != ".zip":
                        break  # one header per file: the rest is rows
                if n >= 10_000:
                    break
            reads.close()  # closes the workbook and removes temp files now, not at garbage collection
            for where, found in self.detected.items():
                if where in checks and checks[where].preset is None:
                    checks[where].preset = found
        return list(checks.values())

    # -- reading ------------------------------------------------------------------

    def _read(self, path: Path, rel: str) -> Generator[Record | Quarantined, None, None]:
        suffix = path.suffix.lower()
        if suffix == ".zip":
            yield from self._read_zip(path, rel)
        elif suffix in XLSX_SUFFIXES:
            yield from self._read_xlsx_safely(path, rel)
        else:
            yield from self._read_csv_safely(lambda: path.open("rb"), rel)

    def _read_csv_safely(self, open_: Callable[[], IO[bytes]], where: str) -> Iterator[Record | Quarantined]:
        try:
            with open_() as raw:
                yield from self._read_csv(raw, where)
        except (OSError, UnicodeError, NotTabular, zipfile.BadZipFile) as exc:
            yield Quarantined(self.context.name, where, f"cannot read {where}: {exc}")

    def _read_xlsx_safely(self, path: Path, where: str) -> Iterator[Record | Quarantined]:
        try:
            yield from self._read_xlsx(path, where)
        except Exception as exc:  # openpyxl raises many types for a damaged workbook
            yield Quarantined(self.context.name, where, f"cannot read {where} as an Excel workbook: {exc}")

    def _read_zip(self, path: Path, rel: str) -> Iterator[Record | Quarantined]:
        """Every CSV/XLSX entry of a vendor's ZIP download, in name order; entries'
        rows are located as ``export.zip!entry.csv row N``."""
        try:
            archive = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as exc:
            yield Quarantined(self.context.name, rel, f"cannot read {rel} as a ZIP file: {exc}")
            return
        with archive:
            entries = [i for i in archive.infolist() if not i.is_dir()]
            problem = _zip_problem(entries, self.opts.max_zip_entries, self.opts.max_expanded_bytes)
            if problem:
                yield Quarantined(self.context.name, rel, f"{rel}: {problem}; nothing in it was read")
                return
            tabular = sorted((i for i in entries if _is_tabular(i.filename)), key=lambda i: i.filename)
            if not tabular:
                names = ", ".join(i.filename for i in entries[:10]) or "nothing"
                yield Quarantined(self.context.name, rel, f"{rel} holds no CSV or XLSX entry (it holds {names})")
                return
            for info in tabular:
                where = f"{rel}!{info.filename}"
                if info.filename.lower().endswith(XLSX_SUFFIXES):
                    with tempfile.TemporaryDirectory(prefix="demandsync-") as folder:
                        target = Path(folder) / "entry.xlsx"
                        try:
                            with archive.open(info) as src, target.open("wb") as out:
                                shutil.copyfileobj(src, out, 1 << 20)
                        except (OSError, zipfile.BadZipFile) as exc:
                            yield Quarantined(self.context.name, where, f"cannot read {where}: {exc}")
                            continue
                        yield from self._read_xlsx_safely(target, where)
                else:
                    yield from self._read_csv_safely(functools.partial(archive.open, info), where)

    def _rows_with_layout(self, rows: Iterator[RawRow], where: str, *, pad_short: bool = False
                          ) -> Iterator[Record | Quarantined]:
        first: list[RawRow] = []
        good = 0
        for row in rows:
            first.append(row)
            good += not isinstance(row, BadRow)
            if good >= DETECT_ROWS:
                break
        layout = self._layout([row[1] for row in first if not isinstance(row, BadRow)])
        self.detected[where] = layout.preset or "generic"
        yield from records(rows, source=self.context.name, where=where, layout=layout, first_rows=first,
                           pad_short=pad_short, max_cell_chars=self.opts.max_cell_chars)

    def _layout(self, first_rows: list[list[str]]) -> Layout:
        """The detected preset's header layout; ``header_rows`` in the options wins
        (several rows with no preset that says otherwise are combined SurveyMonkey-style)."""
        found = detect(first_rows)
        layout = Layout(found.header_rows, found.header, found.name_row, found.preset) if found else Layout()
        rows = self.opts.header_rows
        if rows is None or rows == layout.header_rows:
            return layout
        style = "single" if rows == 1 else ("combine" if layout.style == "single" else layout.style)
        return replace(layout, header_rows=rows, style=style)

    def _read_csv(self, raw: IO[bytes], where: str) -> Iterator[Record | Quarantined]:
        sample = raw.read(SNIFF_BYTES)
        encoding = self.opts.encoding or sniff_encoding(sample)
        raw.seek(0)
        # Excel for Mac's "CSV (Macintosh)" ends lines with a bare CR.
        cr_only = b"\r" in sample and b"\n" not in sample
        lines = _Lines(raw, encoding, self.opts.max_row_chars, auto=self.opts.encoding is None, cr_only=cr_only)
        for _ in range(self.opts.skip_rows):
            lines.skip()
        head = "".join(sample.decode(encoding, errors=_MARK).splitlines(True)[self.opts.skip_rows :])
        delimiter = self.opts.delimiter or sniff_delimiter(head.lstrip("\ufeff"))
        yield from self._rows_with_layout(_csv_rows(lines, delimiter, self.opts.max_row_chars), where)

    def _read_xlsx(self, path: Path, where: str) -> Iterator[Record | Quarantined]:
        problem = _xlsx_problem(path, self.opts.max_expanded_bytes)
        if problem:
            yield Quarantined(self.context.name, where, f"{where}: {problem}; nothing in it was read")
            return
        with tempfile.TemporaryDirectory(prefix="demandsync-") as folder:
            safe = _defuse_sheets(path, self.opts.max_cell_chars, Path(folder))
            yield from self._read_workbook(safe, where)

    def _read_workbook(self, path: Path, where: str) -> Iterator[Record | Quarantined]:
        book = _open_workbook(path, self.opts.max_cell_chars)
        try:
            sheet_ref = self.opts.sheet
            if sheet_ref is None:
                sheet = book.worksheets[0]
            elif isinstance(sheet_ref, int):
                sheet = book.worksheets[sheet_ref]
            else:
                sheet = book[sheet_ref]
            if hasattr(sheet, "reset_dimensions"):
                sheet.reset_dimensions()  # some writers store a wrong used range
            rows: Iterator[RawRow] = (
                (number, [_cell_text(v) for v in values])
                for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
                if number > self.opts.skip_rows
            )
            # Excel and openpyxl leave out a row's trailing empty cells: pad them back.
            yield from self._rows_with_layout(rows, where, pad_short=True)
        finally:
            book.close()


def _is_tabular(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith((".", "__MACOSX")) and "__MACOSX/" not in name and \
        base.lower().endswith((".csv", ".tsv", ".txt", *XLSX_SUFFIXES))


def _zip_problem(entries: list[zipfile.ZipInfo], max_entries: int, max_bytes: int) -> str | None:
    """Why a ZIP is refused before anything in it is read (entry count, expanded size)."""
    if len(entries) > max_entries:
        return f"it holds {len(entries):,} entries, over the limit of {max_entries:,} (max_zip_entries)"
    total = sum(i.file_size for i in entries)
    if total > max_bytes:
        return (f"its entries expand to {total:,} bytes, over the limit of {max_bytes:,} "
                "(max_expanded_bytes)")
    return None


def _xlsx_problem(path: Path, max_bytes: int) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            return _zip_problem(archive.infolist(), 10_000, max_bytes)
    except zipfile.BadZipFile:
        return None  # openpyxl says it better


def _defuse_sheets(path: Path, cap: int, folder: Path) -> Path:
    """``path``, or a copy in ``folder`` whose worksheets have every text longer
    than ``cap`` (an inline string, as openpyxl and other writers store text in
    the sheet itself) replaced by :data:`OVERSIZE_MARK` + its length.

    openpyxl reads each cell's text whole, so a 200 MB inline string would reach
    memory; a first streaming pass measures the longest text of each sheet and
    only a sheet with one over the cap is rewritten (streamed again)."""
    with zipfile.ZipFile(path) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")]
        big = set()
        for name in sheets:
            with archive.open(name) as src:
                if _longest_text(src) > cap:
                    big.add(name)
        if not big:
            return path
        target = folder / "capped.xlsx"
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
            for info in archive.infolist():
                with archive.open(info) as src, out.open(info.filename, "w", force_zip64=True) as dst:
                    if info.filename in big:
                        _write_capped(src, dst, cap)
                    else:
                        shutil.copyfileobj(src, dst, 1 << 20)
    return target


def _stream_xml(src: IO[bytes], start: Callable[[str, Any], None], end: Callable[[str], None],
                text: Callable[[str], None], namespace_separator: str | None = None) -> None:
    """Parse an XML part chunk by chunk with expat, calling ``start``/``end`` per tag and ``text``
    per run of character data (buffered: one call per run between two tags)."""
    parser = expat.ParserCreate(namespace_separator=namespace_separator)
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.buffer_text = True
    for chunk in iter(lambda: src.read(1 << 16), b""):
        parser.Parse(chunk, False)
    parser.Parse(b"", True)


def _longest_text(src: IO[bytes]) -> int:
    """The longest run of character data between two tags, streamed."""
    state = [0, 0]  # current run, longest

    def cut(*_: Any) -> None:
        state[1] = max(state)
        state[0] = 0

    def text(data: str) -> None:
        state[0] += len(data)

    _stream_xml(src, cut, cut, text)
    return max(state)


def _write_capped(src: IO[bytes], dst: Any, cap: int) -> None:
    """Copy an XML part tag by tag (prefixes and namespace declarations kept as
    written), replacing each text run longer than ``cap`` with the oversize mark."""
    parts: list[str] = []
    size = [0]

    def flush() -> None:
        if size[0] > cap:
            dst.write(xml_escape(OVERSIZE_MARK + str(size[0])).encode())
        elif parts:
            dst.write(xml_escape("".join(parts)).encode())
        parts.clear()
        size[0] = 0

    def start(name: str, attrs: dict[str, str]) -> None:
        flush()
        dst.write(f"<{name}{''.join(f' {k}={quoteattr(v)}' for k, v in attrs.items())}>".encode())

    def end(name: str) -> None:
        flush()
        dst.write(f"</{name}>".encode())

    def text(data: str) -> None:
        size[0] += len(data)
        if size[0] <= cap:
            parts.append(data)
        elif parts:
            parts.clear()

    dst.write(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n')
    _stream_xml(src, start, end, text)


def _open_workbook(path: Path, max_cell_chars: int) -> Any:
    """openpyxl's read-only workbook, except that the shared-string table (where
    Excel keeps every text cell) is streamed with :func:`_capped_strings`, so a
    200 MB string in a small XLSX never reaches memory whole."""
    from openpyxl.reader.excel import ExcelReader  # slow: only for an XLSX
    from openpyxl.xml.constants import SHARED_STRINGS

    class _Reader(ExcelReader):
        def read_strings(self) -> None:
            part = self.package.find(SHARED_STRINGS)
            if part is not None:
                with self.archive.open(part.PartName[1:]) as src:
                    self.shared_strings = _capped_strings(src, max_cell_chars)

    reader = _Reader(path, read_only=True, data_only=True)
    reader.read()
    return reader.wb


def _capped_strings(src: IO[bytes], cap: int) -> list[str]:
    """The shared strings (``<si>``: its ``<t>`` runs, phonetic ``<rPh>`` left out,
    as openpyxl reads them); one longer than ``cap`` becomes
    :data:`OVERSIZE_MARK` + its length and is never held whole."""
    strings: list[str] = []
    parts: list[str] = []
    state = {"in_t": False, "skip": 0, "size": 0}

    def local(name: str) -> str:
        return name.rsplit(" ", 1)[-1]

    def start(name: str, _attrs: Any) -> None:
        tag = local(name)
        if tag == "si":
            parts.clear()
            state["size"] = 0
        elif tag == "rPh":
            state["skip"] += 1
        elif tag == "t" and not state["skip"]:
            state["in_t"] = True

    def end(name: str) -> None:
        tag = local(name)
        if tag == "t":
            state["in_t"] = False
        elif tag == "rPh":
            state["skip"] -= 1
        elif tag == "si":
            size = state["size"]
            strings.append(OVERSIZE_MARK + str(size) if size > cap else "".join(parts).replace("x005F_", ""))

    def text(data: str) -> None:
        if state["in_t"]:
            state["size"] += len(data)
            if state["size"] <= cap:
                parts.append(data)
            elif parts:
                parts.clear()

    _stream_xml(src, start, end, text, namespace_separator=" ")
    return strings


class _LineTooLong(Exception):
    def __init__(self, number: int, size: int) -> None:
        super().__init__(number, size)
        self.number, self.size = number, size


class _RowTooLong(Exception):
    pass


class _Unclosed(Exception):
    pass


class _Lines:
    """A CSV's physical lines for ``csv.reader``, one at a time, each decoded on
    its own (see the module docstring) and none read past ``limit`` characters.

    It remembers the lines handed out since the last complete row, so a row that
    runs away (an unclosed quote) can be quarantined and its later lines handed
    out again as rows of their own.
    """

    def __init__(self, raw: IO[bytes], encoding: str, limit: int, *, auto: bool, cr_only: bool = False) -> None:
        self.limit = limit
        self.number = 0
        self.row: list[tuple[int, str]] = []
        self.row_chars = 0
        self.pending: deque[tuple[int, str]] = deque()
        self.wide = codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))
        self.encoding = encoding
        self.auto = auto and codecs.lookup(encoding).name in ("utf-8", "utf-8-sig", "cp1252")
        self.raw = raw
        # UTF-16 (no byte-wise line split) and CR-only files are split by the text layer,
        # which decodes the whole file with one encoding.
        self.text = (io.TextIOWrapper(raw, encoding=encoding, errors=_MARK, newline="")
                     if self.wide or cr_only else None)

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self.pending:
            number, line = self.pending.popleft()
        else:
            got = self._read()
            if got is None:
                if self.row:
                    raise _Unclosed
                raise StopIteration
            number, line = got
        self.row.append((number, line))
        self.row_chars += len(line)
        if self.row_chars > self.limit:
            raise _RowTooLong
        return line

    def skip(self) -> None:
        self._read()

    def row_done(self) -> list[tuple[int, str]]:
        done, self.row, self.row_chars = self.row, [], 0
        return done

    def _read(self) -> tuple[int, str] | None:
        if self.text is not None:
            line = self.text.readline(self.limit + 1)
            if not line:
                return None
            self.number += 1
            if len(line) > self.limit and not line.endswith(("\n", "\r")):
                size = len(line) + _drain(self.text.readline)
                raise _LineTooLong(self.number, size)
            return self.number, line.lstrip("\ufeff") if self.number == 1 else line
        chunk = self.raw.readline(self.limit * 4 + 1)
        if not chunk:
            return None
        self.number += 1
        if len(chunk) > self.limit * 4 and not chunk.endswith(b"\n"):
            raise _LineTooLong(self.number, len(chunk) + _drain(self.raw.readline))
        # Decoded here, not in a method of its own: this runs once a line (~70 ns a call).
        if not self.auto:
            line = chunk.decode(self.encoding, errors=_MARK)
        else:
            try:
                line = chunk.decode("utf-8")
            except UnicodeDecodeError:
                line = chunk.decode("cp1252", errors=_MARK)
        if len(line) > self.limit:
            raise _LineTooLong(self.number, len(chunk))
        return self.number, line.lstrip("\ufeff") if self.number == 1 else line


def _drain(readline: Callable[[int], Any]) -> int:
    """Read to the end of the current line without keeping it; how much was there."""
    size = 0
    while True:
        part = readline(1 << 20)
        size += len(part)
        if not part or part.endswith(("\n", "\r") if isinstance(part, str) else b"\n"):
            return size


def _csv_rows(lines: _Lines, delimiter: str, limit: int) -> Iterator[RawRow]:
    """``(line number where the row starts, cells)``, or a :class:`BadRow`.

    A quoted multi-line cell keeps the number of its first line, which is what
    an admin looks for. A row that cannot be right — its quote never closes, it
    runs past ``limit``, or it swallowed lines that have the shape of rows —
    is quarantined, and its lines after the first are read again as rows, so a
    stray quote costs one row, not the rest of the file.
    """
    width: int | None = None
    while True:
        reader = csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
        try:
            for cells in reader:
                spanned = lines.row_done()
                start = spanned[0][0] if spanned else lines.number
                if width is None:
                    width = len(cells)
                elif len(spanned) > 1 and _swallowed(spanned, cells, width, delimiter):
                    lines.pending.extendleft(reversed(spanned[1:]))
                    yield BadRow(start, f"the quoted cell opened on line {start} runs over the next "
                                        f"{len(spanned) - 1} line(s), which look like rows of their own "
                                        "(a stray quote?); this row is quarantined and those lines are "
                                        "read again as rows", _line_excerpt(spanned))
                    break
                yield start, cells
            else:
                return
        except _LineTooLong as exc:
            spanned = lines.row_done()
            start = spanned[0][0] if spanned else exc.number
            yield BadRow(start, f"line {exc.number} holds {exc.size:,} bytes, over the limit of {limit:,} "
                                "characters a row may hold (the source's max_row_chars); it was skipped "
                                "without being read")
        except (_RowTooLong, _Unclosed) as exc:
            spanned = lines.row_done()
            start = spanned[0][0]
            lines.pending.extendleft(reversed(spanned[1:]))
            why = (f"runs past {limit:,} characters (the source's max_row_chars)" if isinstance(exc, _RowTooLong)
                   else "is never closed")
            yield BadRow(start, f"the quoted cell opened on line {start} {why}, so this row is quarantined "
                                "and the lines after it are read again as rows", _line_excerpt(spanned))
        except csv.Error as exc:
            spanned = lines.row_done()
            start = spanned[0][0] if spanned else lines.number
            yield BadRow(start, f"line {start} cannot be split into cells: {exc}", _line_excerpt(spanned))


def _swallowed(spanned: list[tuple[int, str]], cells: list[str], width: int, delimiter: str) -> bool:
    """A multi-line row that is not a row: wrong width; or, in a file of 4+
    columns, a line inside its quoted cell that on its own splits into a full
    row; or a quote opened in the last column whose closing line is a full row
    of its own (a stray quote closed by the next row's quoting)."""
    if len(cells) != width:
        return not (len(cells) > width and not any(c.strip() for c in cells[width:]))
    if width < 4:
        return False

    def alone(line: str) -> int:
        return len(next(csv.reader([line], delimiter=delimiter), []))

    if any(alone(line) == width for _, line in spanned[1:-1]):
        return True
    return alone(spanned[0][1]) == width and alone(spanned[-1][1]) == width


def _line_excerpt(spanned: list[tuple[int, str]]) -> str:
    text = "".join(line for _, line in spanned[:3])
    text = "".join("\N{REPLACEMENT CHARACTER}" if "\udc00" <= ch <= "\udcff" else ch for ch in text[:EXCERPT])
    return text.rstrip("\r\n")


@dataclass(slots=True)
class FileCheck:
    """One file's (or ZIP entry's) result of :meth:`FileSource.inspect`."""

    where: str
    preset: str | None = None
    columns: list[str] = field(default_factory=list)
    #: Why the mapping cannot work on this file (a missing column, …), or why it cannot be read.
    error: str | None = None


class NotTabular(ValueError):
    """The bytes are not a delimited text file (binary, or a ZIP such as an API download)."""


@dataclass(slots=True)
class _Print:
    size: int
    mtime_ns: int
    sha256: str
    unchanged: bool

    def as_dict(self) -> dict[str, Any]:
        return {"size": self.size, "mtime_ns": self.mtime_ns, "sha256": self.sha256}


def _fingerprint(path: Path, old: dict[str, Any] | None) -> _Print:
    """Size+mtime decide quickly; the hash settles a touched-but-identical file."""
    stat = path.stat()
    if old and old.get("size") == stat.st_size and old.get("mtime_ns") == stat.st_mtime_ns and old.get("sha256"):
        return _Print(stat.st_size, stat.st_mtime_ns, str(old["sha256"]), True)
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    sha = digest.hexdigest()
    return _Print(stat.st_size, stat.st_mtime_ns, sha, old is not None and old.get("sha256") == sha)


def sniff_encoding(sample: bytes) -> str:
    """BOM first (UTF-8, UTF-16 LE/BE as Excel's "Unicode text" writes), then
    UTF-8 if the sample is mostly valid UTF-8, else cp1252 (Excel on Windows).

    Deliberately hand-written: exports come in these few encodings, and a
    statistical detector can call a short cp1252 file "mac_roman".
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if sample.startswith(b"PK\x03\x04"):
        raise NotTabular("this is a ZIP file (an XLSX with the wrong extension, or a zipped export?)")
    if len(sample) >= 4 and sample[1::2].count(0) > len(sample) // 4 and sample[0] != 0:
        return "utf-16-le"
    if len(sample) >= 4 and sample[0::2].count(0) > len(sample) // 4:
        return "utf-16-be"
    if sample.count(0) > len(sample) // 100 + 1:  # a stray NUL only costs its row (tabular.records)
        raise NotTabular("this is a binary file, not a CSV export")
    decoded = sample.decode("utf-8", errors=_MARK)
    bad = sum(1 for ch in decoded if "\udc00" <= ch <= "\udcff")
    # A multi-byte character cut at the end of the sample is not an error.
    bad -= sum(1 for ch in decoded[-3:] if "\udc00" <= ch <= "\udcff")
    if bad <= 0:
        return "utf-8"
    good = sum(1 for ch in decoded if ord(ch) > 127 and not "\udc00" <= ch <= "\udcff")
    return "utf-8" if good > bad * 4 else "cp1252"


def sniff_delimiter(text: str) -> str:
    """The most frequent of ``,`` ``;`` tab outside quotes on the first line."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in ("\n", "\r"):
            break
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _cell_text(value: Any) -> str:
    """XLSX cell -> the string the same export's CSV would hold, so both give
    the same identity (whole numbers without ``.0``, dates as ``YYYY-MM-DD HH:MM:SS``)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S") + (f".{value.microsecond:06d}" if value.microsecond else "")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)

