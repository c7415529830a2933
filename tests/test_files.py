"""FileSource: finding files, decoding them, cursors, and quarantining what is broken."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from demandsync.connectors.base import Record, SourceContext
from demandsync.connectors.files import FileSource, NoFilesMatched, sniff_delimiter, sniff_encoding
from demandsync.domain import FeedbackItem, Quarantined
from demandsync.mappings.engine import build_mapper

EXPORTS = Path(__file__).parent / "fixtures" / "exports"


def pull(base: Path, path: str, cursor: dict | None = None, full: bool = False, **options: object) -> tuple[
    list[Record], list[Quarantined], FileSource
]:
    src = FileSource(FileSource.Options(path=path, **options), SourceContext(name="s", base_dir=base, full=full))
    out = list(src.pull(cursor or {}))
    return [r for r in out if isinstance(r, Record)], [q for q in out if isinstance(q, Quarantined)], src


def write_xlsx(path: Path, rows: Sequence[Sequence[object]], title: str = "Responses") -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    book.save(path)


# -- Hotjar CSV: quoting, multi-line cells, a broken row ----------------------------------


def test_hotjar_rows_locators_and_bad_row() -> None:
    records, bad, src = pull(EXPORTS, "hotjar/exit-survey-2024-03.csv")
    assert [r.locator for r in records] == [f"hotjar/exit-survey-2024-03.csv row {n}" for n in (2, 3, 7, 9, 10)]
    assert all(r.preset == "hotjar-survey" for r in records)
    # The multi-line answer keeps its line breaks and the row number of its first line.
    assert records[1].data["What is stopping you from making a booking?"].count("\n") == 3
    [q] = bad
    assert q.locator == "hotjar/exit-survey-2024-03.csv row 8"
    assert "12 values" in q.reason and "11 columns" in q.reason
    assert "Poland" in q.raw and len(q.raw) <= 500
    assert set(src.cursor["files"]) == {"hotjar/exit-survey-2024-03.csv"}


def test_glob_several_files_sorted_and_no_match_error(tmp_path: Path) -> None:
    records, _, _ = pull(EXPORTS, "hotjar/exit-survey-*.csv")
    files = [r.locator.split(" row ")[0] for r in records]
    assert files == sorted(files) and len(set(files)) == 2
    with pytest.raises(NoFilesMatched) as err:
        pull(tmp_path, "exports/exit-*.csv")
    assert "exports/exit-*.csv" in str(err.value) and str(tmp_path) in str(err.value)


def test_recursive_and_absolute_globs(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.csv").write_text("id,text\n1,hello\n", encoding="utf-8")
    records, _, _ = pull(tmp_path, "**/*.csv")
    assert records[0].locator == "a/b/x.csv row 2"
    records, _, _ = pull(Path("/"), str(tmp_path / "a" / "**" / "*.csv"))
    assert len(records) == 1


# -- duplicates and positions --------------------------------------------------------------


def test_duplicate_names_made_unique() -> None:
    records, _, _ = pull(EXPORTS, "typeform-onboarding.csv")
    keys = list(records[1].data)
    assert keys[:6] == ["#", "What's your role?", "Other", "Which tools do you use today?", "Other#2",
                        "What would make you switch to us? Tell us as much as you like."]
    assert records[1].data["Other"] == "Founder" and records[1].data["Other#2"] == "Notion"


def test_empty_header_names_are_positional(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("id,,text\n1,x,hi\n", encoding="utf-8")
    [record], _, _ = pull(tmp_path, "e.csv")
    assert list(record.data) == ["id", "#2", "text"]


# -- encodings and delimiters -------------------------------------------------------------

ROWS = [["id", "Kommentar", "Konto"], ["1", "Größere Schrift, bitte – danke", "Müller GmbH"], ["2", "Café €uro", "Zoë"]]


def _delimited(delimiter: str, newline: str = "\n") -> str:
    def cell(c: str) -> str:
        return f'"{c}"' if delimiter in c or "," in c else c

    return "".join(delimiter.join(cell(c) for c in row) + newline for row in ROWS)


@pytest.mark.parametrize(
    ("encoding", "delimiter", "newline"),
    [
        ("utf-8", ",", "\n"),
        ("utf-8-sig", ",", "\r\n"),  # Excel "CSV UTF-8"
        ("utf-16", "\t", "\r\n"),  # Excel "Unicode text": UTF-16 LE with BOM, tabs
        ("utf-16-be", "\t", "\r\n"),
        ("cp1252", ";", "\r\n"),  # Excel on a German Windows
    ],
)
def test_encodings_and_delimiters(tmp_path: Path, encoding: str, delimiter: str, newline: str) -> None:
    data = _delimited(delimiter, newline).encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    (tmp_path / "f.csv").write_bytes(data)
    records, bad, _ = pull(tmp_path, "f.csv")
    assert not bad
    assert [dict(r.data) for r in records] == [dict(zip(ROWS[0], row)) for row in ROWS[1:]]
    assert [r.locator for r in records] == ["f.csv row 2", "f.csv row 3"]


def test_explicit_encoding_and_delimiter_options(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_bytes("id|text\n1|Grüße\n".encode("latin-1"))
    records, _, _ = pull(tmp_path, "f.txt", encoding="latin-1", delimiter="|")
    assert records[0].data["text"] == "Grüße"


def test_undecodable_bytes_quarantine_only_their_row(tmp_path: Path) -> None:
    good = "id,text\n" + "".join(f"{i},Größe {i}\n" for i in range(1, 40))
    # 0x81 and 0x8d are neither UTF-8 nor cp1252: no decoding of that line is right.
    data = good.encode("utf-8") + b"40,broken \x81\x8d here\n41,fine\n"
    (tmp_path / "u.csv").write_bytes(data)
    records, bad, _ = pull(tmp_path, "u.csv")
    assert len(records) == 40
    [q] = bad
    assert q.locator == "u.csv row 41" and "'text'" in q.reason and "encoding" in q.reason
    assert "broken" in q.raw


def test_sniffers() -> None:
    assert sniff_encoding("a,b\nä,ö\n".encode()) == "utf-8"
    assert sniff_encoding("a,b\nä,ö\n".encode("cp1252")) == "cp1252"
    assert sniff_encoding("a\tb\n".encode("utf-16-le")) == "utf-16-le"  # no BOM
    assert sniff_delimiter('"a;b",c,d\n') == ","
    assert sniff_delimiter("a;b;c\n1,5;2;3") == ";"


def test_wide_file_and_huge_cell(tmp_path: Path) -> None:
    header = ",".join(f"q{i}" for i in range(2000))
    row = ",".join("x" for _ in range(1999)) + ',"' + "long " * 60_000 + '"'
    (tmp_path / "w.csv").write_text(header + "\n" + row + "\n2" + ",y" * 1999 + "\n", encoding="utf-8")
    # The default cap (100,000 characters a cell) quarantines the 300,000-character cell, naming the limit.
    [later], [q], _ = pull(tmp_path, "w.csv")
    assert later.locator == "w.csv row 3" and later.data["q1999"] == "y"
    assert q.locator == "w.csv row 2" and "'q1999' holds 300,000 characters" in q.reason
    assert "max_cell_chars" in q.reason and len(q.raw) <= 500
    # Raised, the same cell is read whole.
    [record, _], bad, _ = pull(tmp_path, "w.csv", max_cell_chars=400_000)
    assert not bad and len(record.data) == 2000 and len(record.data["q1999"]) == 300_000


def test_unterminated_quote_costs_one_row(tmp_path: Path) -> None:
    (tmp_path / "q.csv").write_text('id,text\n1,ok\n2,"never closed\n3,next row\n4,last\n', encoding="utf-8")
    records, bad, _ = pull(tmp_path, "q.csv")
    # The rows after the stray quote are not swallowed into row 3's text: they are read as rows.
    assert [(r.locator, r.data["text"]) for r in records] == [
        ("q.csv row 2", "ok"), ("q.csv row 4", "next row"), ("q.csv row 5", "last")]
    [q] = bad
    assert q.locator == "q.csv row 3" and "opened on line 3 is never closed" in q.reason
    assert q.raw.startswith('2,"never closed')


def test_quote_closed_rows_later_does_not_swallow_them(tmp_path: Path) -> None:
    """A stray quote that a later stray quote closes: the lines between have the shape
    of rows, so the row is quarantined and they are read as rows, not silently joined."""
    lines = ["id,when,who,text"] + [f"{i},2024-01-0{i},u{i},answer {i}" for i in range(1, 4)]
    lines += ['4,2024-01-04,u4,"starts a quote', "5,2024-01-05,u5,answer 5", '6,2024-01-06,u6,ends it"']
    lines += ["7,2024-01-07,u7,answer 7"]
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    records, bad, _ = pull(tmp_path, "s.csv")
    assert [q.locator for q in bad] == ["s.csv row 5"] and "look like rows" in bad[0].reason
    assert [r.data["id"] for r in records] == ["1", "2", "3", "5", "6", "7"]
    assert records[4].data["text"] == 'ends it"'


def test_quote_closed_by_the_next_rows_quoting_does_not_swallow_it(tmp_path: Path) -> None:
    """Row 2's stray quote is closed by row 3's quoted last cell: without a check, row 3
    would vanish into row 2's text with the right number of cells."""
    (tmp_path / "s.csv").write_text('id,when,who,text\n1,2024-01-01,u1,"stray\n2,2024-01-02,u2,"quoted"\n'
                                    "3,2024-01-03,u3,plain\n", encoding="utf-8")
    records, [q], _ = pull(tmp_path, "s.csv")
    assert q.locator == "s.csv row 2" and "look like rows" in q.reason
    assert [(r.data["id"], r.data["text"]) for r in records] == [("2", "quoted"), ("3", "plain")]


def test_a_runaway_row_stops_at_max_row_chars(tmp_path: Path) -> None:
    body = "".join(f"{i},line {i} of a long answer\n" for i in range(3, 400))
    (tmp_path / "r.csv").write_text('id,text\n1,"opened\n' + body, encoding="utf-8")
    records, bad, _ = pull(tmp_path, "r.csv", max_row_chars=2_000)
    assert bad[0].locator == "r.csv row 2" and "runs past 2,000 characters" in bad[0].reason
    assert len(records) == 397 and records[0].locator == "r.csv row 3"


def test_a_50_mb_line_is_skipped_without_being_held(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write("id,text\n1,before\n2,")
        chunk = "x" * (1 << 20)
        for _ in range(50):
            f.write(chunk)
        f.write("\n3,after\n")
    import tracemalloc

    tracemalloc.start()
    records, [q], _ = pull(tmp_path, "big.csv")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [r.data["text"] for r in records] == ["before", "after"]
    assert q.locator == "big.csv row 3" and "52,428,80" in q.reason and "max_row_chars" in q.reason
    assert peak < 20 * (1 << 20)


def test_mixed_encodings_decode_per_line(tmp_path: Path) -> None:
    """A cp1252 export with UTF-8 rows appended later: each line reads right."""
    data = "id;Konto\n1;Müller GmbH\n".encode("cp1252") + "2;Zürich AG\n3;Café €uro\n".encode()
    (tmp_path / "m.csv").write_bytes(data)
    records, bad, _ = pull(tmp_path, "m.csv")
    assert not bad and [r.data["Konto"] for r in records] == ["Müller GmbH", "Zürich AG", "Café €uro"]


def test_mac_excel_cr_line_endings(tmp_path: Path) -> None:
    (tmp_path / "mac.csv").write_bytes("id;text\r1;Grüße\r2;\"two\rlines\"\r".encode("cp1252"))
    records, bad, _ = pull(tmp_path, "mac.csv")
    assert not bad and [r.data["text"] for r in records] == ["Grüße", "two\rlines"]
    assert [r.locator for r in records] == ["mac.csv row 2", "mac.csv row 3"]


def test_nul_byte_in_a_late_row_quarantines_that_row(tmp_path: Path) -> None:
    good = "".join(f"{i},fine {i}\n" for i in range(1, 8000))  # past the 64 KB sniff window
    (tmp_path / "n.csv").write_bytes(("id,text\n" + good).encode() + b"8000,bad\x00byte\n8001,ok\n")
    records, [q], _ = pull(tmp_path, "n.csv")
    assert len(records) == 8000 and q.locator == "n.csv row 8001" and "NUL" in q.reason
    (tmp_path / "n.csv").write_bytes(b"id,text\n1,a\x00b\n2,ok\n")  # inside it, too
    records, [q], _ = pull(tmp_path, "n.csv")
    assert [r.data["text"] for r in records] == ["ok"] and q.locator == "n.csv row 2"


def test_skip_rows(tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text("Survey export, generated 2024-05-01\n\nid;text\n1;hi\n", encoding="utf-8")
    records, _, _ = pull(tmp_path, "s.csv", skip_rows=2)
    assert dict(records[0].data) == {"id": "1", "text": "hi"} and records[0].locator == "s.csv row 4"


# -- unreadable files ----------------------------------------------------------------------


def test_unreadable_files_are_one_quarantine_each(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "b.xlsx").write_text("not a workbook", encoding="utf-8")
    (tmp_path / "c.csv").write_bytes(b"PK\x03\x04zipped")
    (tmp_path / "d.csv").write_text("id,text\n1,still read\n", encoding="utf-8")
    records, bad, src = pull(tmp_path, "*.*")
    assert [r.data["text"] for r in records] == ["still read"]
    assert [q.locator for q in bad] == ["a.csv", "b.xlsx", "c.csv"]
    assert "binary" in bad[0].reason and "Excel" in bad[1].reason and "ZIP" in bad[2].reason
    assert len(src.cursor["files"]) == 4


# -- XLSX ---------------------------------------------------------------------------------


def hotjar_as_xlsx(csv_path: Path, xlsx_path: Path) -> None:
    """The XLSX download of the same survey: numbers and dates are typed cells."""
    import csv

    rows: list[list[object]] = [list(r) for r in csv.reader(csv_path.open(encoding="utf-8", newline=""))]
    for row in rows[1:]:
        if len(row) != len(rows[0]):
            continue
        row[0] = int(str(row[0]))
        row[2] = datetime.strptime(str(row[2]), "%Y-%m-%d %H:%M:%S")
    write_xlsx(xlsx_path, [r for r in rows if len(r) == len(rows[0])])


def test_xlsx_same_items_as_csv(tmp_path: Path) -> None:
    hotjar_as_xlsx(EXPORTS / "hotjar" / "exit-survey-2024-03.csv", tmp_path / "exit.xlsx")
    csv_records, _, _ = pull(EXPORTS, "hotjar/exit-survey-2024-03.csv")
    xlsx_records, bad, _ = pull(tmp_path, "exit.xlsx")
    assert not bad and xlsx_records[0].preset == "hotjar-survey"
    assert [dict(r.data) for r in xlsx_records] == [dict(r.data) for r in csv_records]
    mapper = build_mapper("exit", None, {})
    ids_csv = [i.external_id for r in csv_records if isinstance(i := mapper.map(r), FeedbackItem)]
    ids_xlsx = [i.external_id for r in xlsx_records if isinstance(i := mapper.map(r), FeedbackItem)]
    assert ids_csv == ids_xlsx and len(ids_csv) == 4


def test_xlsx_sheet_option_and_row_numbers(tmp_path: Path) -> None:
    book = Workbook()
    assert book.active is not None
    book.active.title = "Summary"
    sheet = book.create_sheet("Raw")
    for row in (["id", "text"], [1, "first"], [None, None], [2.0, "second"], [3.5, True]):
        sheet.append(row)
    book.save(tmp_path / "w.xlsx")
    records, _, _ = pull(tmp_path, "w.xlsx", sheet="Raw")
    assert [(r.locator, dict(r.data)) for r in records] == [
        ("w.xlsx row 2", {"id": "1", "text": "first"}),
        ("w.xlsx row 4", {"id": "2", "text": "second"}),
        ("w.xlsx row 5", {"id": "3.5", "text": "TRUE"}),
    ]
    records, _, _ = pull(tmp_path, "w.xlsx", sheet=1)
    assert len(records) == 3


# -- cursor ---------------------------------------------------------------------------------


def test_cursor_skips_unchanged_files(tmp_path: Path) -> None:
    shutil.copytree(EXPORTS / "hotjar", tmp_path / "hotjar")
    first, _, src = pull(tmp_path, "hotjar/*.csv")
    cursor = src.cursor
    assert len(first) == 10
    again, bad, src = pull(tmp_path, "hotjar/*.csv", cursor)
    assert again == [] and bad == [] and src.cursor == cursor

    # Touched but identical (e.g. re-downloaded): skipped by hash, mtime updated.
    path = tmp_path / "hotjar" / "exit-survey-2024-04.csv"
    os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    again, _, src2 = pull(tmp_path, "hotjar/*.csv", cursor)
    assert again == []
    assert src2.cursor["files"]["hotjar/exit-survey-2024-04.csv"]["mtime_ns"] == 1_700_000_000_000_000_000

    # Changed: only that file is read again.
    with path.open("a", encoding="utf-8") as f:
        f.write('"6","aaaaaaaa","2024-04-05 10:00:00","Peru","https://book.example.com/","Desktop",'
                '"Edge 122","Windows 11","aaaaaaaa-0000-4000-8000-000000000001","More languages",""\n')
    again, _, _ = pull(tmp_path, "hotjar/*.csv", src2.cursor)
    assert {r.locator.split(" row ")[0] for r in again} == {"hotjar/exit-survey-2024-04.csv"}
    assert len(again) == 6

    # --full reads everything again.
    everything, _, _ = pull(tmp_path, "hotjar/*.csv", src2.cursor, full=True)
    assert len(everything) == 11


def test_cursor_set_only_when_pull_is_exhausted(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,text\n1,a\n2,b\n", encoding="utf-8")
    src = FileSource(FileSource.Options(path="a.csv"), SourceContext(name="s", base_dir=tmp_path))
    it = src.pull({})
    next(it)
    assert src.cursor == {}
    list(it)
    assert "a.csv" in src.cursor["files"]


def test_options_reject_unknown_keys() -> None:
    with pytest.raises(ValueError, match="delimeter"):
        FileSource.Options.model_validate({"path": "x.csv", "delimeter": ";"})


def test_header_rows_option_combines_rows_without_a_preset(tmp_path: Path) -> None:
    (tmp_path / "h.csv").write_text("id,Feedback,\n,Text,Score\n1,Faster sync,4\n", encoding="utf-8")
    [record], _, src = pull(tmp_path, "h.csv", header_rows=2)
    assert dict(record.data) == {"id": "1", "Feedback | Text": "Faster sync", "Feedback | Score": "4"}
    assert src.detected == {"h.csv": "generic"}


# -- ZIP downloads ------------------------------------------------------------------------

HOTJAR_CSV = EXPORTS / "hotjar" / "exit-survey-2024-04.csv"


def zip_of(path: Path, entries: dict[str, bytes], compression: int = 8) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(
    "entry",
    [
        "hotjar_survey_response_export_2868694.csv",  # Hotjar API: one CSV at the top
        "CSV/Exit survey.csv",  # SurveyMonkey: a folder per format
        "Exit survey.csv",  # Qualtrics: the survey's name
        "responses-abc123-csv/responses.csv",  # a folder inside, as Typeform's download may hold
    ],
)
def test_zip_entry_rows_are_the_csv_rows_and_are_located_in_the_zip(tmp_path: Path, entry: str) -> None:
    zip_of(tmp_path / "export.zip", {entry: HOTJAR_CSV.read_bytes(), "__MACOSX/._x.csv": b"\x00\x05"})
    from_zip, bad, src = pull(tmp_path, "export.zip")
    from_csv, _, _ = pull(EXPORTS, "hotjar/exit-survey-2024-04.csv")
    assert not bad and [dict(r.data) for r in from_zip] == [dict(r.data) for r in from_csv]
    assert from_zip[0].locator == f"export.zip!{entry} row 2" and from_zip[0].preset == "hotjar-survey"
    assert src.detected == {f"export.zip!{entry}": "hotjar-survey"} and list(src.cursor["files"]) == ["export.zip"]


def test_zip_bad_entry_named_in_the_reason_and_other_entries_read(tmp_path: Path) -> None:
    zip_of(tmp_path / "e.zip", {"a.csv": b"id,text\n1,fine\n2,\"open\n3,next\n", "b.csv": b"\x89PNG\x00\x00\x00\x00",
                                "c.csv": b"id,text\n9,other file\n"})
    records, bad, _ = pull(tmp_path, "e.zip")
    assert [r.locator for r in records] == ["e.zip!a.csv row 2", "e.zip!a.csv row 4", "e.zip!c.csv row 2"]
    assert [q.locator for q in bad] == ["e.zip!a.csv row 3", "e.zip!b.csv"]
    assert "e.zip!b.csv" in bad[1].reason and "binary" in bad[1].reason


def test_zip_limits_refuse_a_bomb_before_reading_it(tmp_path: Path) -> None:
    zip_of(tmp_path / "bomb.zip", {"a.csv": b"id,text\n" + b"1," + b"x" * (8 << 20) + b"\n"})
    assert (tmp_path / "bomb.zip").stat().st_size < 100_000
    records, [q], _ = pull(tmp_path, "bomb.zip", max_expanded_bytes=1 << 20)
    assert records == [] and q.locator == "bomb.zip" and "max_expanded_bytes" in q.reason
    zip_of(tmp_path / "bomb.zip", {f"{i}.csv": b"id,text\n1,x\n" for i in range(30)})
    records, [q], _ = pull(tmp_path, "bomb.zip", max_zip_entries=20)
    assert records == [] and "30 entries" in q.reason and "max_zip_entries" in q.reason


def test_zip_without_a_table_and_a_broken_zip(tmp_path: Path) -> None:
    zip_of(tmp_path / "a.zip", {"readme.pdf": b"%PDF"})
    (tmp_path / "b.zip").write_bytes(b"PK\x03\x04 truncated")
    records, bad, _ = pull(tmp_path, "*.zip")
    assert records == [] and [q.locator for q in bad] == ["a.zip", "b.zip"]
    assert "no CSV or XLSX entry" in bad[0].reason and "readme.pdf" in bad[0].reason
    assert "ZIP" in bad[1].reason


def test_xlsx_inside_a_zip(tmp_path: Path) -> None:
    hotjar_as_xlsx(HOTJAR_CSV, tmp_path / "x.xlsx")
    zip_of(tmp_path / "x.zip", {"Exit survey.xlsx": (tmp_path / "x.xlsx").read_bytes()})
    records, bad, _ = pull(tmp_path, "x.zip")
    from_csv, _, _ = pull(EXPORTS, "hotjar/exit-survey-2024-04.csv")
    assert not bad and [dict(r.data) for r in records] == [dict(r.data) for r in from_csv]
    assert records[0].locator == "x.zip!Exit survey.xlsx row 2"


# -- XLSX limits --------------------------------------------------------------------------


def _xlsx_with_a_giant_cell(tmp_path: Path, shared: bool) -> Path:
    """A small XLSX with one 200 MB text cell: inline in the sheet (as openpyxl writes
    text) or in the shared-string table (as Excel does). Streamed, never held."""
    import zipfile

    write_xlsx(tmp_path / "small.xlsx", [["id", "text"], [1, "before"], [2, "PLACEHOLDER"], [3, "after"]])
    target = tmp_path / ("shared.xlsx" if shared else "inline.xlsx")
    with zipfile.ZipFile(tmp_path / "small.xlsx") as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                if shared:  # the cell points at shared string 0 instead
                    data = data.replace(b'<c r="B3" t="inlineStr"><is><t>PLACEHOLDER</t></is></c>',
                                        b'<c r="B3" t="s"><v>0</v></c>')
                    out.writestr(info, data)
                    ns = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
                    head, tail = b"<sst " + ns + b' count="1" uniqueCount="1"><si><t>', b"</t></si></sst>"
                    name = "xl/sharedStrings.xml"
                else:
                    out_head, _, tail = data.partition(b"PLACEHOLDER")
                    head, name = out_head, info.filename
                with out.open(name, "w", force_zip64=True) as member:
                    member.write(head)
                    block = b"A" * (1 << 20)
                    for _ in range(200):
                        member.write(block)
                    member.write(tail)
                continue
            if shared and info.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                                    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>')
            if shared and info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Id="rIdS" Type="http://schemas.openxmlformats.'
                                    b'org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
                                    b"</Relationships>")
            out.writestr(info, data)
    assert target.stat().st_size < 1_000_000
    return target


@pytest.mark.parametrize("shared", [False, True], ids=["inline-string", "shared-string"])
def test_xlsx_200_mb_cell_is_quarantined_without_loading_it(tmp_path: Path, shared: bool) -> None:
    import tracemalloc

    name = _xlsx_with_a_giant_cell(tmp_path, shared).name
    tracemalloc.start()
    records, [q], _ = pull(tmp_path, name)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [r.data["text"] for r in records] == ["before", "after"]
    assert q.locator == f"{name} row 3" and "209,715,200 characters" in q.reason and "max_cell_chars" in q.reason
    assert peak < 50 * (1 << 20)


def test_inspect_tells_check_what_was_detected_and_what_is_missing(tmp_path: Path) -> None:
    shutil.copy(EXPORTS / "hotjar" / "exit-survey-2024-03.csv", tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("Comment,Email\nhi,a@b.c\n", encoding="utf-8")
    (tmp_path / "c.csv").write_bytes(b"\x89PNG\x00\x00\x00\x00")
    src = FileSource(FileSource.Options(path="*.csv"), SourceContext(name="s", base_dir=tmp_path))
    a, b, c = src.inspect({})
    assert (a.where, a.preset, a.error) == ("a.csv", "hotjar-survey", None)
    assert a.columns[:3] == ["Number", "User", "Date Submitted"]
    assert (b.where, b.preset) == ("b.csv", "generic") and "sources.s.map.text is required" in str(b.error)
    assert c.where == "c.csv" and c.error is not None and "binary" in c.error
    a, b, _ = src.inspect({"text": "Comment"})
    assert (b.preset, b.error) == ("generic", None)
    assert "sources.s.map.text: column 'Comment' is not in a.csv" in str(a.error)


def test_a_hostile_zip_in_a_real_run_costs_only_its_bad_rows(sandbox: object, config: Path) -> None:
    """End to end through `demandsync run`: a ZIP whose CSV holds a stray quote, bytes no
    encoding reads, a NUL, dates out of range, a 200,000-character cell and a cp1252 line
    among UTF-8 ones. Every row is accounted for, the good ones are stored, the run
    succeeds, the other sources' figures are untouched, and a second run changes nothing."""
    from conftest import cli, run_json
    from test_e2e import EXPECTED, values

    good = [f"{i},2026-11-0{1 + i % 9} 10:00:00,p{i}@x.io,Idea {i} for the roadmap" for i in range(1, 9)]
    lines = ["id,when,who,text", *good[:3], '90,2026-11-01 10:00:00,q@x.io,"stray quote', *good[3:5],
             "91,9999-12-31T23:00:00-05:00,r@x.io,far future", "92,2026-11-02 10:00:00,s@x.io,x" + "y" * 200_000,
             *good[5:]]
    data = "\n".join(lines).encode() + b"\n93,2026-11-03 10:00:00,t@x.io,bad \x81 byte\n"
    data += b"94,2026-11-03 10:00:00,u@x.io,nul \x00 here\n" + "95,2026-11-04 10:00:00,v@x.io,Zürich AG\n".encode("cp1252")
    zip_of(config.parent / "exports" / "hostile.zip", {"CSV/responses.csv": data})
    config.write_text(config.read_text() + '\n[[sources]]\nname = "hostile"\nkind = "csv"\npath = "exports/hostile.zip"\n'
                      '[sources.map]\nid = "id"\ntext = "text"\nrequester = "who"\ncreated_at = "when"\n')
    report = run_json(config)
    hostile = report["sources"]["hostile"]
    assert hostile["error"] is None
    assert (hostile["pulled"], hostile["new"], hostile["quarantined"], hostile["skipped"]) == (14, 9, 5, 0)
    assert hostile["pulled"] == hostile["new"] + hostile["changed"] + hostile["quarantined"] + hostile["skipped"]
    _, stdout, _ = cli("quarantine", "--config", str(config), "--json")
    import json

    locators = sorted(r["locator"] for r in json.loads(stdout) if r["locator"].startswith("exports/hostile.zip"))
    assert locators == sorted(f"exports/hostile.zip!CSV/responses.csv row {n}" for n in (5, 8, 9, 13, 14))
    for key, want in EXPECTED.items():
        assert values(sandbox, key) == want, key  # type: ignore[arg-type]
    again = run_json(config)["sources"]["hostile"]
    assert (again["pulled"], again["new"], again["changed"]) == (0, 0, 0)
