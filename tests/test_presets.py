"""Every shipped preset: detected from its export (real samples where we have them) and mapped."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from openpyxl import Workbook
from rich.console import Console

from demandsync.cli.preview import build_preview, preview_source, render_preview
from demandsync.connectors.base import Record, SourceContext
from demandsync.connectors.files import FileSource
from demandsync.domain import FeedbackItem, Quarantined
from demandsync.mappings.engine import build_mapper
from demandsync.mappings.presets import all_presets, detect

EXPORTS = Path(__file__).parent / "fixtures" / "exports"
REAL = EXPORTS / "real"


def run(path: str, base: Path = EXPORTS, preset: str | None = None, **overrides: object) -> tuple[
    list[Record], list[FeedbackItem], list[Quarantined], int
]:
    """Records, mapped items, quarantined (reading or mapping), rows without feedback."""
    src = FileSource(FileSource.Options(path=path), SourceContext(name="s", base_dir=base))
    mapper = build_mapper("s", preset, overrides)
    records: list[Record] = []
    items: list[FeedbackItem] = []
    bad: list[Quarantined] = []
    empty = 0
    for rec in src.pull({}):
        if isinstance(rec, Quarantined):
            bad.append(rec)
            continue
        records.append(rec)
        out = mapper.map(rec)
        if out is None:
            empty += 1
        elif isinstance(out, Quarantined):
            bad.append(out)
        else:
            items.append(out)
    return records, items, bad, empty


def header_of(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return [row for _, row in zip(range(3), csv.reader(f))]


def test_shipped_presets_validate() -> None:
    presets = all_presets()
    assert set(presets) >= {"hotjar-survey", "hotjar-feedback", "typeform", "surveymonkey", "google-forms",
                            "qualtrics", "qualtrics-legacy", "formbricks", "generic"}
    assert all(p.description for p in presets.values())
    assert presets["generic"].detect is None


@pytest.mark.parametrize(
    ("file", "preset"),
    [
        ("hotjar_survey_export_HEADER_ONLY.csv", "hotjar-survey"),
        ("typeform_fcc2017_part2_sample.csv", "typeform"),
        ("qualtrics_sample_qualtRics.csv", "qualtrics"),
        ("qualtrics_legacy_sample_qualtRics.csv", "qualtrics-legacy"),
        ("formbricks_survey_export_HEADER_ONLY.csv", "formbricks"),
    ],
)
def test_real_headers_detected(file: str, preset: str) -> None:
    found = detect(header_of(REAL / file))
    assert found is not None and found.preset == preset


def test_unknown_layout_not_detected() -> None:
    assert detect([["id", "comment", "email"]]) is None
    assert detect([["Issue id", "Duplicate id"]]) is None


# -- Hotjar survey -------------------------------------------------------------------------


def test_hotjar_survey() -> None:
    _, items, bad, empty = run("hotjar/exit-survey-2024-03.csv")
    assert len(items) == 4 and empty == 1 and len(bad) == 1
    first, anon_a, anon_b, _ = items
    assert first.external_id == "3f2a9c1e-5b7d-4e21-9a0c-1d2e3f4a5b6c|2024-03-02 09:14:03"
    assert first.requester == "3f2a9c1e-5b7d-4e21-9a0c-1d2e3f4a5b6c"
    assert first.tags == ["pricing", "transparency"]
    assert first.url == "https://book.example.com/rooms?checkin=2024-04-01&nights=2"
    assert first.extra == {"country": "Germany", "device": "Desktop", "browser": "Chrome 122.0.0", "os": "Windows 10"}
    # Two consent-less answers in the same second stay two items.
    assert anon_a.requester is None and anon_b.requester is None
    assert anon_a.created_at == anon_b.created_at and anon_a.external_id != anon_b.external_id
    assert anon_a.text.startswith("Pas de paiement") and anon_a.text.count("\n") == 3
    assert anon_b.epic_hint == []  # epic keys come from an epic column, not free text


def test_overlapping_hotjar_exports_share_identities() -> None:
    _, march, _, _ = run("hotjar/exit-survey-2024-03.csv")
    _, april, _, _ = run("hotjar/exit-survey-2024-04.csv")
    # April's download renumbers 'Number' from 1; identity does not depend on it.
    overlap = {i.external_id for i in march} & {i.external_id for i in april}
    assert len(overlap) == 2
    assert len({i.external_id for i in march + april}) == 6


def test_hotjar_xlsx_same_identity_as_csv(tmp_path: Path) -> None:
    rows = header_of(EXPORTS / "hotjar" / "exit-survey-2024-04.csv")
    with (EXPORTS / "hotjar" / "exit-survey-2024-04.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(rows[0])
    for row in rows[1:]:
        sheet.append([int(row[0]), *row[1:2], datetime.fromisoformat(row[2]), *row[3:]])
    book.save(tmp_path / "exit-survey-2024-04.xlsx")
    _, from_csv, _, _ = run("hotjar/exit-survey-2024-04.csv")
    _, from_xlsx, _, _ = run("exit-survey-2024-04.xlsx", base=tmp_path)
    assert [i.external_id for i in from_xlsx] == [i.external_id for i in from_csv]
    assert [i.text for i in from_xlsx] == [i.text for i in from_csv]


# -- the other presets -----------------------------------------------------------------------


def test_hotjar_feedback() -> None:
    records, items, bad, empty = run("hotjar-feedback.csv")
    assert records[0].preset == "hotjar-feedback" and not bad and empty == 1
    assert items[0].requester == "anna.de.vries@example.nl" and items[0].extra["emotion"] == "1"
    assert items[0].text.startswith("Export to PDF") and items[1].requester is None


def test_typeform_fixture_and_real_sample() -> None:
    records, items, bad, _ = run("typeform-onboarding.csv")
    assert records[0].preset == "typeform"
    assert [q.reason for q in bad] == ["the id column '#' is empty, so this row has no identity"]
    founder = items[1]
    assert founder.external_id == "1d6e2c3b0f9a8b7c6d5e4f3a2b1c0d9e"
    # The text is the open answer alone; choices (and their 'Other') are attributes.
    assert founder.text == "Cheaper seats\nfor small teams"
    assert founder.extra == {"What's your role?": "Other", "Other": "Founder",
                             "Which tools do you use today?": "Linear, Other", "Other#2": "Notion"}
    assert items[0].requester == "pm@acme.io"
    assert items[0].created_at == datetime(2024, 5, 6, 12, 3, 44, tzinfo=UTC)

    records, items, bad, empty = run("typeform_fcc2017_part2_sample.csv", base=REAL)
    assert len(records) == 25 and not bad and list(records[0].data).count("Other") == 1
    assert "Other#3" in records[0].data
    # A demographics survey: ages, yes/no (0/1), countries and other repeated values are
    # attributes; the one open question is the subject studied, answered in 10 of 25 rows.
    assert len(items) == 10 and empty == 15
    first = items[0]
    assert (first.external_id, first.text) == ("d7c56bbf2c7b62096be9db010e86d96d", "Information Technology")
    assert first.extra["How old are you?"] == "20" and "Which country are you a citizen of?" in first.extra
    assert "already_working" not in first.extra  # hidden fields are neither text nor attributes


def test_surveymonkey_two_header_rows() -> None:
    records, items, bad, _ = run("surveymonkey-nps.csv")
    assert not bad and records[0].preset == "surveymonkey"
    keys = list(records[0].data)
    assert "What is the one thing we should build next? | Open-Ended Response" in keys
    assert "Which integrations matter to you? | Other (please specify)" in keys
    assert records[0].data["What is the one thing we should build next?"].startswith("Bulk edit")  # alias
    maria = items[0]
    assert maria.external_id == "114224681234" and maria.requester == "maria.lopez@initech.com"
    assert maria.created_at == datetime(2024, 4, 3, 10, 17, 29, tzinfo=UTC)
    assert maria.text == "Bulk edit for epics, and a way to merge duplicates"
    assert maria.extra == {"collector": "405667012", "How likely are you to recommend us?": "9",
                           "Which integrations matter to you? | Slack": "Slack",
                           "Which integrations matter to you? | Jira": "Jira"}
    # The other two answered only the score and the choices: no open answer, no item.
    assert len(items) == 1


def test_google_forms_locales() -> None:
    _, items, _, empty = run("google-forms-us.csv")
    assert len(items) == 2 and empty == 1
    assert items[0].requester == "jo.smith@example.com" and items[0].external_id.startswith("sha256:")
    assert items[1].created_at == datetime(2024, 4, 14, 8, 2, 11, tzinfo=UTC)
    with pytest.raises(Exception, match="dayfirst"):
        run("google-forms-gb.csv")
    _, items, _, _ = run("google-forms-gb.csv", dayfirst=True)
    assert [i.created_at.month for i in items if i.created_at] == [4, 4]
    assert items[0].requester == "sam@example.co.uk"  # 'Email address' spelled differently


def test_qualtrics_real_sample() -> None:
    records, items, bad, _ = run("qualtrics_sample_qualtRics.csv", base=REAL)
    [record], [item] = records, items
    assert not bad and record.locator == "qualtrics_sample_qualtRics.csv row 4"
    assert item.external_id == "R_2YPOQ602ER1jkf1" and item.text == "Hello World!"
    assert item.created_at == datetime(2017, 7, 18, 8, 28, 48, tzinfo=UTC)
    # Question text (German export) and ImportIds address the same columns.
    assert record.data["This is a free text question."] == record.data["QID2_TEXT"] == "Hello World!"
    assert record.data["Antwort-ID"] == "R_2YPOQ602ER1jkf1"
    _, [item], _, _ = run("qualtrics_sample_qualtRics.csv", base=REAL, text="Q1")
    assert item.text == "2"


def test_qualtrics_legacy_real_sample() -> None:
    records, [item], bad, _ = run("qualtrics_legacy_sample_qualtRics.csv", base=REAL)
    assert not bad and records[0].data["Q2"] == "Hello World!"
    assert item.external_id == "R_2YPOQ602ER1jkf1"
    assert item.text == "Hello World!" and item.extra == {"This is a multiple choice question.": "2"}


def test_formbricks() -> None:
    records, items, bad, _ = run("formbricks.csv")
    assert not bad and records[0].preset == "formbricks" and len(records[0].data) == 33
    lea, anonymous = items
    assert lea.external_id == "clx1a2b3c0001" and lea.requester == "lea@startup.dev"
    assert lea.tags == ["important", "vip"]
    assert lea.text == "Conditional logic across pages. We need it for onboarding flows.\n\nGreat product"
    assert lea.extra == {"plan": "scale", "country": "DE",
                         "5. We also have some ideas! Please rank these features by importance for you:":
                         "AI summaries; Webhooks",
                         "10. How likely would you recommend Formbricks to people you know?": "9"}
    assert anonymous.requester is None and anonymous.created_at == datetime(2024, 6, 16, 11, 30, tzinfo=UTC)


def test_header_only_real_exports_give_nothing_but_are_detected() -> None:
    for name, preset in (("hotjar_survey_export_HEADER_ONLY.csv", "hotjar-survey"),
                         ("formbricks_survey_export_HEADER_ONLY.csv", "formbricks")):
        src = FileSource(FileSource.Options(path=name), SourceContext(name="s", base_dir=REAL))
        assert list(src.pull({})) == [] and src.detected == {name: preset}


def test_generic_needs_text(tmp_path: Path) -> None:
    (tmp_path / "g.csv").write_text("Ticket;Body;Customer\nT-1;Need SAML;Acme\n", encoding="cp1252")
    _, [item], _, _ = run("g.csv", base=tmp_path, id="Ticket", text="Body", account="Customer")
    assert (item.external_id, item.text, item.account) == ("T-1", "Need SAML", "Acme")


# -- preview -----------------------------------------------------------------------------------


def test_preview_shows_preset_columns_and_outcomes() -> None:
    src = FileSource(FileSource.Options(path="hotjar/*.csv"), SourceContext(name="exit", base_dir=EXPORTS))
    preview = build_preview(src, build_mapper("exit", None, {}), limit=6)
    assert preview.presets == {"hotjar/exit-survey-2024-03.csv": "hotjar-survey"}
    assert preview.columns["text"] == ["What is stopping you from making a booking?"]
    assert [r.outcome for r in preview.rows] == ["item", "item", "item", "quarantined", "no feedback", "item"]
    assert preview.error is None
    console = Console(record=True, width=160)
    for table in render_preview(preview):
        console.print(table)
    text = console.export_text()
    assert "hotjar-survey" in text and "row 8" in text and "12 values" in text


def test_preview_reports_config_errors() -> None:
    src = FileSource(FileSource.Options(path="google-forms-gb.csv"), SourceContext(name="gf", base_dir=EXPORTS))
    preview = build_preview(src, build_mapper("gf", None, {}))
    assert preview.error is not None and "sources.gf.map.dayfirst" in preview.error
    src = FileSource(FileSource.Options(path="nothing-*.csv"), SourceContext(name="gf", base_dir=EXPORTS))
    assert "matches no file" in (build_preview(src, build_mapper("gf", None, {})).error or "")


def test_preview_source_as_the_cli_calls_it() -> None:
    options = FileSource.Options(path="hotjar/exit-survey-2024-03.csv")
    config = SimpleNamespace(source_classes={"exit": FileSource}, source_options={"exit": options}, base_dir=EXPORTS)
    console = Console(record=True, width=250)
    for renderable in preview_source(config, SimpleNamespace(name="exit", preset=None, map={}), 3):  # type: ignore[arg-type]
        console.print(renderable)
    shown = console.export_text()
    assert "hotjar-survey" in shown and "row 7" in shown
    for renderable in preview_source(config, SimpleNamespace(name="exit", preset=None, map={"text": "Nope"}), 3):  # type: ignore[arg-type]
        console.print(renderable)
    assert "sources.exit.map.text: column 'Nope'" in " ".join(console.export_text().split())
    [error] = preview_source(config, SimpleNamespace(name="exit", preset="hotjar", map={}), 3)  # type: ignore[arg-type]
    console.print(error)
    assert "unknown preset 'hotjar'" in console.export_text()


# -- exports as they really arrive: XLSX without trailing cells, locale dates, ZIPs ---------------

HOTJAR_HEADER = ["Number", "User", "Date Submitted", "Country", "Source URL", "Device", "Browser", "OS",
                 "Hotjar User ID", "What is one thing we could do better?",
                 "Tags for: What is one thing we could do better?"]


def hotjar_rows() -> list[list[object]]:
    rows: list[list[object]] = []
    for n in range(1, 9):
        rows.append([n, f"aaaa000{n}", datetime(2026, 9, n, 10, 0, n), "Germany", f"https://x.example/p{n}",
                     "Desktop", "Firefox 130", "Linux", f"aaaa000{n}-0000-4000-8000-00000000000{n}",
                     f"Answer number {n} about data export", None])
    return rows


def write_excel_style(path: Path, header: list[str], rows: list[list[object]]) -> None:
    """An XLSX as Excel writes it: empty cells are not written at all, so a row whose
    last columns are empty is shorter than the header in the sheet XML."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    for row in rows:
        sheet.append(row)  # openpyxl, like Excel, writes no <c> for None
    book.save(path)
    import zipfile

    xml = zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode()
    assert xml.count("<c ") < len(header) * (len(rows) + 1)  # trailing cells really are missing


def test_hotjar_xlsx_rows_without_trailing_cells_are_read_whole(tmp_path: Path) -> None:
    write_excel_style(tmp_path / "hotjar.xlsx", HOTJAR_HEADER, hotjar_rows())
    records, items, bad, _ = run("hotjar.xlsx", base=tmp_path)
    assert not bad and len(items) == 8
    assert records[0].data["Tags for: What is one thing we could do better?"] == ""
    assert items[0].text == "Answer number 1 about data export"  # the answer, not "question: answer"
    assert items[0].created_at == datetime(2026, 9, 1, 10, 0, 1, tzinfo=UTC)


def test_a_row_longer_than_the_header_is_still_quarantined(tmp_path: Path) -> None:
    rows = hotjar_rows()
    rows[2] = [*rows[2][:10], "tag", "an extra cell"]
    write_excel_style(tmp_path / "hotjar.xlsx", HOTJAR_HEADER, rows)
    _, items, [bad], _ = run("hotjar.xlsx", base=tmp_path)
    assert len(items) == 7 and bad.locator == "hotjar.xlsx row 4" and "12 values" in bad.reason


GOOGLE_HEADER = ["Timestamp", "Email Address", "Your name", "Company", "How satisfied are you? (1-5)",
                 "What should we build next?"]


@pytest.mark.parametrize(
    ("stamp", "options", "expected"),
    [
        ("2026/09/27 3:00:00 PM GMT+3", {}, datetime(2026, 9, 27, 12, 0, tzinfo=UTC)),
        ("2026/09/27 3:00:00 PM GMT-3", {}, datetime(2026, 9, 27, 18, 0, tzinfo=UTC)),
        ("9/27/2026 15:00:00", {}, datetime(2026, 9, 27, 15, 0, tzinfo=UTC)),
        ("27/09/2026 15:00:00", {}, datetime(2026, 9, 27, 15, 0, tzinfo=UTC)),
        # dayfirst decides only what is ambiguous: 27 cannot be a month either way.
        ("9/27/2026 15:00:00", {"dayfirst": True}, datetime(2026, 9, 27, 15, 0, tzinfo=UTC)),
        ("27/09/2026 15:00:00", {"dayfirst": False}, datetime(2026, 9, 27, 15, 0, tzinfo=UTC)),
        ("27.09.2026 15:00:00", {"timezone": "Europe/Berlin"}, datetime(2026, 9, 27, 13, 0, tzinfo=UTC)),
    ],
)
def test_google_forms_dates(tmp_path: Path, stamp: str, options: dict[str, object], expected: datetime) -> None:
    (tmp_path / "gf.csv").write_text(
        ",".join(GOOGLE_HEADER) + f"\n{stamp},a@b.co,Ann,Acme,4,Dark mode\n", encoding="utf-8")
    _, [item], bad, _ = run("gf.csv", base=tmp_path, **options)
    assert not bad and item.created_at == expected


def test_google_forms_locale_learnt_from_an_unambiguous_row(tmp_path: Path) -> None:
    """27/09 says the file is day/month; the later 03/10 is then 3 October, not a config error."""
    (tmp_path / "gf.csv").write_text(",".join(GOOGLE_HEADER) + "\n27/09/2026 15:00:00,,,,,A\n"
                                     "03/10/2026 09:00:00,,,,,B\n", encoding="utf-8")
    _, items, bad, _ = run("gf.csv", base=tmp_path)
    assert not bad and [i.created_at for i in items] == [datetime(2026, 9, 27, 15, tzinfo=UTC),
                                                         datetime(2026, 10, 3, 9, tzinfo=UTC)]


def test_dates_out_of_range_quarantine_only_their_row(tmp_path: Path) -> None:
    rows = ["id,when,text", "1,2024-01-01T00:00:00Z,first", "2,9999-12-31T23:00:00-05:00,far future",
            "3,0001-01-01T00:00:00+05:00,before year one", "4,2024/01/02 1:00:00 PM GMT+99,impossible offset",
            "5,2024-01-03T00:00:00Z,last"]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    _, items, bad, _ = run("d.csv", base=tmp_path, id="id", text="text", created_at="when")
    assert [i.text for i in items] == ["first", "last"]
    assert [q.locator for q in bad] == ["d.csv row 3", "d.csv row 4", "d.csv row 5"]
    assert "out of range" in bad[0].reason and "out of range" in bad[1].reason
    assert "offset of 4 days, 3:00:00" in bad[2].reason


def test_google_forms_text_is_the_answer_and_nothing_else(tmp_path: Path) -> None:
    rows = [f"9/{d + 12}/2026 10:00:00,{'' if d == 2 else f'p{d}@x.io'},Person {d},Company {d % 2},{d % 5 + 1},"
            f"Idea number {d} for us" for d in range(1, 13)]
    (tmp_path / "gf.csv").write_text(",".join(GOOGLE_HEADER) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    _, items, bad, _ = run("gf.csv", base=tmp_path)
    assert not bad and len(items) == 12
    first = items[0]
    assert first.text == "Idea number 1 for us"  # no name, no company, no score
    assert (first.requester, first.account) == ("p1@x.io", "Company 1")
    assert first.extra == {"How satisfied are you? (1-5)": "2"}
    assert items[1].requester == "Person 2"  # no e-mail: the name column is the requester


def test_qualtrics_previews_and_unfinished_do_not_count(tmp_path: Path) -> None:
    lines = (REAL / "qualtrics_sample_qualtRics.csv").read_text(encoding="utf-8").splitlines()
    head, row = lines[:3], lines[3]
    preview = row.replace(",0,130.92", ",Survey Preview,130.92").replace("R_2YPOQ602ER1jkf1", "R_preview")
    unfinished = row.replace(",100,38,1,", ",40,38,False,").replace("R_2YPOQ602ER1jkf1", "R_unfinished")
    (tmp_path / "q.csv").write_text("\n".join([*head, row, preview, unfinished]) + "\n", encoding="utf-8")
    _, items, bad, skipped = run("q.csv", base=tmp_path)
    assert [i.external_id for i in items] == ["R_2YPOQ602ER1jkf1"] and skipped == 2 and not bad
    _, items, _, _ = run("q.csv", base=tmp_path, skip={})
    assert [i.external_id for i in items] == ["R_2YPOQ602ER1jkf1", "R_preview", "R_unfinished"]


def test_same_responses_as_csv_xlsx_zip_and_european_excel_are_one_item_each(tmp_path: Path) -> None:
    """The same Google Forms responses downloaded as CSV, as the Sheet's XLSX (typed date
    and number cells), inside a ZIP, and re-saved by a German Excel (cp1252, ';'):
    every copy maps to the same identities, so a store holds each response once."""
    import zipfile

    answers = [(datetime(2026, 9, 13 + d, 15, 0, d), f"p{d}@x.io", f"Zoë {d}", "Müller GmbH", d % 5 + 1,
                f"Größere Schrift, bitte – Wunsch {d}") for d in range(6)]
    csv_text = ",".join(GOOGLE_HEADER) + "\n" + "".join(
        f'{t.month}/{t.day}/{t.year} {t.hour}:{t.minute:02d}:{t.second:02d},{e},{n},{c},{s},"{a}"\n'
        for t, e, n, c, s, a in answers)
    (tmp_path / "form.csv").write_text(csv_text, encoding="utf-8")
    european = ";".join(GOOGLE_HEADER) + "\r\n" + "".join(
        f"{t.day:02d}.{t.month:02d}.{t.year} {t.hour:02d}:{t.minute:02d}:{t.second:02d};{e};{n};{c};{s};{a}\r\n"
        for t, e, n, c, s, a in answers)
    (tmp_path / "form-excel-de.csv").write_bytes(european.encode("cp1252"))
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(GOOGLE_HEADER)
    for row in answers:
        sheet.append(list(row))
    book.save(tmp_path / "form.xlsx")
    with zipfile.ZipFile(tmp_path / "form.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("Feedback form (Responses).csv", csv_text)
    ids = {}
    for name in ("form.csv", "form-excel-de.csv", "form.xlsx", "form.zip"):
        _, items, bad, _ = run(name, base=tmp_path, preset="google-forms", date_format=None)
        assert not bad, (name, bad)
        ids[name] = [i.external_id for i in items]
        assert [i.text for i in items][0] == "Größere Schrift, bitte – Wunsch 0", name
        assert items[0].account == "Müller GmbH" and items[0].requester == "p0@x.io", name
    assert len(set(ids["form.csv"])) == 6
    assert ids["form.csv"] == ids["form-excel-de.csv"] == ids["form.xlsx"] == ids["form.zip"]


def test_preview_shows_what_each_column_became_and_why(tmp_path: Path) -> None:
    rows = [f"9/{d + 12}/2026 10:00:00,p{d}@x.io,Person {d},Company {d % 2},{d % 5 + 1},Idea {d} for us"
            for d in range(1, 8)]
    (tmp_path / "gf.csv").write_text(",".join(GOOGLE_HEADER) + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    src = FileSource(FileSource.Options(path="gf.csv"), SourceContext(name="gf", base_dir=tmp_path))
    preview = build_preview(src, build_mapper("gf", None, {}), limit=3)
    became = {r.column: (r.role, r.reason) for r in preview.roles}
    assert became == {
        "Timestamp": ("created_at", "map.created_at (preset 'google-forms')"),
        "Email Address": ("requester", "map.requester (preset 'google-forms')"),
        "Your name": ("requester", "a name question: the requester's name, not text"),
        "Company": ("account", "a company question: the account, not text"),
        "How satisfied are you? (1-5)": ("attribute", "all 7 answers in the first rows are numbers: a score"),
        "What should we build next?": ("text", "free text: 7 answers, 7 different, 13–13 characters"),
    }
    console = Console(record=True, width=200)
    for table in render_preview(preview):
        console.print(table)
    shown = console.export_text()
    assert "what each column became" in shown and "a company question: the account, not text" in shown


def test_preview_says_why_a_qualtrics_row_does_not_count(tmp_path: Path) -> None:
    lines = (REAL / "qualtrics_sample_qualtRics.csv").read_text(encoding="utf-8").splitlines()
    preview_row = lines[3].replace(",0,130.92", ",Survey Preview,130.92")
    (tmp_path / "q.csv").write_text("\n".join([*lines[:3], preview_row]) + "\n", encoding="utf-8")
    src = FileSource(FileSource.Options(path="q.csv"), SourceContext(name="q", base_dir=tmp_path))
    [row] = build_preview(src, build_mapper("q", None, {})).rows
    assert row.outcome == "no feedback" and row.detail.startswith("Status = 'Survey Preview': not counted")


def test_real_google_forms_responses_text_is_the_open_answer() -> None:
    """42 real responses (transcribed, see real/README.md): five scale/choice questions
    and one open question. Only the open answers become items, each answer alone."""
    name = "google_forms_gecko_sustainability_2022.csv"
    with pytest.raises(Exception, match=r"map\.timezone: .*'AST'.*'UTC'"):
        run(name, base=REAL)
    records, items, bad, empty = run(name, base=REAL, timezone="America/Puerto_Rico")
    assert records[0].preset == "google-forms" and not bad
    assert len(records) == 42 and len(items) == 13 and empty == 29
    assert items[0].text == "Pursue ISO 14001"
    assert items[0].created_at == datetime(2022, 6, 22, 15, 7, 36, tzinfo=UTC)  # 11:07:36 AM AST = UTC-4
    scale = "How important is it for your employer to take sustainable efforts/initiatives seriously?"
    picks = "What types of sustainability efforts do you think Gecko should participate in? (Pick top 2!)"
    assert items[0].extra[scale] == "5 - It's extremely important"
    assert items[0].extra[picks].startswith("Waste management")
    assert [i.text[:9] for i in items[-2:]] == [".", "Recycling"]
    assert not any("Sustainability Officer" in i.text for i in items)
    assert len({i.external_id for i in items}) == 13
