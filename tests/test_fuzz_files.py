"""Thousands of malformed rows and files thrown at the CSV, XLSX and ZIP readers and at the
mapping engine (hypothesis, derandomized: every run draws the same examples).

What must hold for every example: nothing raises, nothing hangs (hypothesis' deadline),
every row is accounted for (pulled = items + quarantined + skipped), and a broken row
costs only itself: every row that was not damaged comes out exactly once, with its values.
"""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from demandsync.connectors.base import Record, SourceContext
from demandsync.connectors.files import FileSource
from demandsync.domain import FeedbackItem, Quarantined
from demandsync.mappings.engine import MappingError, build_mapper

FUZZ = settings(max_examples=300, deadline=2000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
HEADER = ["id", "when", "who", "company", "text"]
MAP = {"id": "id", "created_at": "when", "requester": "who", "account": "company", "text": "text", "dayfirst": True}

# Cell content a respondent (or an attacker) can type: quotes, delimiters, line breaks,
# markup, control characters, non-Latin scripts.
CELL = st.text(alphabet=st.sampled_from(list('abcXYZ äöüßéçøł€–“”"\',;\t\n\r[]/=+-@\\ 日本語😀\x07\x1b')), max_size=40)
DATES = st.sampled_from(["2024-01-02 03:04:05", "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00",
                         "2026/09/27 3:00:00 PM GMT+99", "2026/09/27 3:00:00 PM GMT+3", "27/09/2026 15:00:00",
                         "31/31/2026", "not a date", "", "2024-02-30", "9/27/2026 15:00:00"])
DAMAGE = st.sampled_from(["none", "stray_quote", "extra_cell", "bad_bytes", "nul", "giant_cell", "missing_cell"])


def pull_and_map(folder: Path, name: str, **options: object) -> tuple[list[FeedbackItem], list[Quarantined], int, int]:
    """What ``run`` does with one source, counting as it does."""
    source = FileSource(FileSource.Options(path=name, **options), SourceContext(name="fz", base_dir=folder))
    mapper = build_mapper("fz", "generic", MAP)
    items: list[FeedbackItem] = []
    bad: list[Quarantined] = []
    pulled = skipped = 0
    for record in source.pull({}):
        pulled += 1
        out = record if isinstance(record, Quarantined) else mapper.map(record)
        if out is None:
            skipped += 1
        elif isinstance(out, Quarantined):
            bad.append(out)
        else:
            assert isinstance(record, Record)
            items.append(out)
    assert pulled == len(items) + len(bad) + skipped
    return items, bad, pulled, skipped


#: Text-cell stand-ins replaced after encoding: (what the damage puts in the bytes).
_PLACEHOLDERS = {"stray_quote": "STRAYQUOTE", "bad_bytes": "BADBYTES", "nul": "NULBYTE"}


def csv_file(rows: list[tuple[list[str], str]], encoding: str, delimiter: str) -> tuple[bytes, set[str]]:
    """The rows written the way a spreadsheet writes them, then damaged as drawn;
    returns the bytes and the ids of the damaged rows."""
    damaged: set[str] = set()
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(HEADER)
    quote_used = False
    for cells, damage in rows:
        cells = list(cells)
        if damage == "stray_quote" and quote_used:
            damage = "none"  # one unclosed quote per file: two can pair up like real quoting
        if damage in _PLACEHOLDERS and not (damage == "bad_bytes" and encoding == "utf-16"):
            quote_used |= damage == "stray_quote"
            cells[4] = _PLACEHOLDERS[damage]
        elif damage == "extra_cell":
            cells.append("surplus")
        elif damage == "missing_cell":
            cells = cells[:4]
        elif damage == "giant_cell":
            cells[4] = "G" * 3000
        else:
            damage = "none"
        if damage != "none":
            damaged.add(cells[0])
        writer.writerow(cells)
    data = buf.getvalue().encode(encoding, errors="replace")
    wide = encoding == "utf-16"
    for name, raw in (("STRAYQUOTE", '"unclosed'), ("NULBYTE", "x\x00y")):
        data = data.replace(name.encode("utf-16-le" if wide else encoding), raw.encode("utf-16-le" if wide else encoding))
    return data.replace(b"BADBYTES", b"bad \x81\x8d bytes"), damaged


ROWS = st.lists(st.tuples(st.lists(CELL, min_size=3, max_size=3), DATES, DAMAGE), min_size=1, max_size=40)


@FUZZ
@given(rows=ROWS, encoding=st.sampled_from(["utf-8", "cp1252", "utf-16"]), delimiter=st.sampled_from([",", ";", "\t"]))
def test_csv_rows_are_isolated(rows: list[tuple[list[str], str, str]], encoding: str, delimiter: str) -> None:
    table = [([f"r{n}", when, *cells], damage) for n, (cells, when, damage) in enumerate(rows)]
    data, damaged = csv_file(table, encoding, delimiter)
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "f.csv").write_bytes(data)
        items, bad, _, _ = pull_and_map(Path(folder), "f.csv", max_cell_chars=2000)
    ids = [i.external_id for i in items]
    assert len(ids) == len(set(ids))  # no row counted twice
    for cells, damage in table:
        if cells[0] in damaged:
            continue
        if any(c.strip() and c not in ("\r", "\n") for c in cells[1:]) and cells[4].strip():
            # Undamaged and with an answer: an item, or a row-level reason (its date, say).
            found = [i for i in items if i.external_id == cells[0]]
            reasons = [q for q in bad if q.raw.startswith((f"{cells[0]},", f"id={cells[0]};"))]
            if encoding != "utf-8" and any(ch not in _encodable(encoding) for ch in "".join(cells)):
                continue  # the writer already replaced what the encoding cannot hold
            assert len(found) == 1 or reasons, (cells, damage, [q.reason for q in bad])
            if found:
                assert found[0].text == cells[4].replace("\r\n", "\n").strip()


def _encodable(encoding: str) -> set[str]:
    probe = 'abcXYZ äöüßéçøł€–“”"\',;\t\n\r[]/=+-@\\ 日本語😀\x07\x1b'
    return {ch for ch in probe if ch.encode(encoding, errors="ignore")}


@FUZZ
@given(data=st.binary(max_size=3000), name=st.sampled_from(["f.csv", "f.xlsx", "f.zip", "f.tsv"]))
def test_random_bytes_never_crash_a_read(data: bytes, name: str) -> None:
    """Garbage gives quarantined rows or files, or, when what passes for a header lacks
    the mapped columns, the one config error that names them (the run reports it)."""
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, name).write_bytes(data)
        try:
            pull_and_map(Path(folder), name)
        except MappingError as exc:
            assert "is not in f." in str(exc) and "sources.fz.map." in str(exc)


XLSX_CELL = st.one_of(st.none(), st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                      st.booleans(), st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30))


@settings(max_examples=60, deadline=5000, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rows=st.lists(st.lists(XLSX_CELL, min_size=0, max_size=7), min_size=1, max_size=30), zipped=st.booleans())
def test_xlsx_and_zip_rows_are_isolated(rows: list[list[object]], zipped: bool) -> None:
    """Random typed cells, short rows (trailing cells not written) and long rows: a row
    longer than the header is quarantined, every other row with an id and an answer is read."""
    with tempfile.TemporaryDirectory() as folder:
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(HEADER)
        for n, row in enumerate(rows):
            sheet.append([f"r{n}", "2024-01-02 03:04:05", *row])
        book.save(Path(folder, "f.xlsx"))
        name = "f.xlsx"
        if zipped:
            with zipfile.ZipFile(Path(folder, "f.zip"), "w") as archive:
                archive.write(Path(folder, "f.xlsx"), "export/f.xlsx")
            name = "f.zip"
        items, bad, _, _ = pull_and_map(Path(folder), name)
    by_id = {i.external_id: i for i in items}
    assert len(by_id) == len(items)
    for n, row in enumerate(rows):
        cells = ["" if v is None else v for v in row]
        if len(row) > 3 and any(v not in (None, "") for v in row[3:]):
            assert f"r{n}" not in by_id and any(f"row {n + 2}" in q.locator for q in bad)
        elif len(row) >= 3 and isinstance(row[2], str) and row[2].strip():
            assert f"r{n}" in by_id or any(f"row {n + 2}" in q.locator for q in bad), (row, bad)
            if f"r{n}" in by_id:
                assert by_id[f"r{n}"].text == str(cells[2]).replace("\r\n", "\n").strip()


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), CELL, DATES),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(list("abcdef")), inner,
                                                                           max_size=4)),
    max_leaves=12,
)


@FUZZ
@given(records=st.lists(st.dictionaries(st.sampled_from(["key", "title", "body", "who", "when", "votes", "f"]),
                                        JSON, max_size=7), min_size=1, max_size=30))
def test_mapping_engine_on_json_records_never_raises_per_record(records: list[dict[str, object]]) -> None:
    """API records of any shape: every one becomes an item, nothing, or a quarantine with a
    reason; only a first record that lacks a mapped top-level key is a config error."""
    mapper = build_mapper("api", None, {"id": "?key", "text": ["?title", "?body", "?f.a.b"], "requester": "?who.e",
                                        "created_at": "?when", "votes": "?votes", "tags": "?f.c",
                                        "dayfirst": False})
    items = quarantined = skipped = 0
    for n, data in enumerate(records):
        out = mapper.map(Record(data, f"api record {n}"))
        if out is None:
            skipped += 1
        elif isinstance(out, Quarantined):
            assert out.reason and out.locator == f"api record {n}"
            quarantined += 1
        else:
            assert isinstance(out, FeedbackItem) and out.text and out.external_id
            items += 1
    assert items + quarantined + skipped == len(records)
