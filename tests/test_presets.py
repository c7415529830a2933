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
