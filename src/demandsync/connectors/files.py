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
import hashlib
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from pydantic import Field

from demandsync.connectors.base import Cursor, Record, Source, SourceContext, SourceOptions
from demandsync.connectors.tabular import Layout, records
from demandsync.domain import Quarantined
from demandsync.errors import OutsideError
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
    """CSV and XLSX exports matched by a glob, read in sorted order."""

    kind = "file"
    cheap_to_scan = True

    class Options(SourceOptions):
        #: Glob relative to the config file's folder, or absolute; ``**`` allowed.
        path: str
        #: ``None``: detect (BOM, then UTF-8, then cp1252).
        encoding: str | None = None
        #: ``None``: the most frequent of ``,`` ``;`` tab in the header line.
        delimiter: str | None = Field(default=None, min_length=1, max_length=1)
        #: XLSX: sheet name or 0-based index; first sheet by default.
        sheet: str | int | None = None
        #: Header rows; ``None``: from the detected preset, else 1.
        header_rows: int | None = Field(default=None, ge=1, le=5)
        #: Lines (CSV) or rows (XLSX) before the header to ignore (titles, notes).
        skip_rows: int = Field(default=0, ge=0)

    def __init__(self, options: SourceOptions, context: SourceContext) -> None:
        super().__init__(options, context)
        assert isinstance(options, FileSource.Options)
        self.opts: FileSource.Options = options
        #: relpath -> preset detected from its header ("generic" when none), for ``preview``.
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

    # -- reading ------------------------------------------------------------------

    def _read(self, path: Path, rel: str) -> Iterator[Record | Quarantined]:
        if path.suffix.lower() in XLSX_SUFFIXES:
            try:
                yield from self._read_xlsx(path, rel)
            except Exception as exc:  # openpyxl raises many types for a damaged workbook
                yield Quarantined(self.context.name, rel, f"cannot read {rel} as an Excel workbook: {exc}")
            return
        try:
            yield from self._read_csv(path, rel)
        except (OSError, UnicodeError, csv.Error, NotTabular) as exc:
            yield Quarantined(self.context.name, rel, f"cannot read {rel}: {exc}")

    def _rows_with_layout(
        self, rows: Iterator[tuple[int, list[str]]], rel: str
    ) -> Iterator[Record | Quarantined]:
        first: list[tuple[int, list[str]]] = []
        failed: Exception | None = None
        try:
            for _ in range(DETECT_ROWS):
                row = next(rows, None)
                if row is None:
                    break
                first.append(row)
        except csv.Error as exc:  # keep the rows before the damage, then report it
            failed, rows = exc, iter(())
        layout = self._layout([cells for _, cells in first])
        self.detected[rel] = layout.preset or "generic"
        yield from records(rows, source=self.context.name, where=rel, layout=layout, first_rows=first)
        if failed is not None:
            raise failed

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

    def _read_csv(self, path: Path, rel: str) -> Iterator[Record | Quarantined]:
        with path.open("rb") as raw:
            sample = raw.read(SNIFF_BYTES)
            encoding = self.opts.encoding or sniff_encoding(sample)
            raw.seek(0)
            text = io.TextIOWrapper(raw, encoding=encoding, errors=_MARK, newline="")
            for _ in range(self.opts.skip_rows):
                text.readline()
            head = "".join(sample.decode(encoding, errors=_MARK).splitlines(True)[self.opts.skip_rows :])
            delimiter = self.opts.delimiter or sniff_delimiter(head.lstrip("\ufeff"))
            yield from self._rows_with_layout(_csv_rows(text, delimiter, self.opts.skip_rows), rel)

    def _read_xlsx(self, path: Path, rel: str) -> Iterator[Record | Quarantined]:
        from openpyxl import load_workbook  # slow import; only when an XLSX shows up

        book = load_workbook(path, read_only=True, data_only=True)
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
            rows = (
                (number, [_cell_text(v) for v in values])
                for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)
                if number > self.opts.skip_rows
            )
            yield from self._rows_with_layout(rows, rel)
        finally:
            book.close()


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
    if b"\x00" in sample:
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


def _csv_rows(text: io.TextIOBase, delimiter: str, skipped: int) -> Iterator[tuple[int, list[str]]]:
    """``(line number where the row starts, cells)``; a quoted multi-line cell
    keeps the number of its first line, which is what an admin looks for."""
    ended = False

    def lines() -> Iterator[str]:
        nonlocal ended
        yield from text
        ended = True

    reader = csv.reader(lines(), delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
    start = skipped + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise csv.Error(f"line {start}: {exc}; rows before it were read") from exc
        if ended:
            # The parser only asks past the last line when a quoted cell is still open.
            raise csv.Error(
                f"the quoted cell starting on line {start} is never closed, so the rest of the "
                "file cannot be split into rows; rows before it were read"
            )
        yield start, cells
        start = skipped + reader.line_num + 1


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

