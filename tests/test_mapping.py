"""The mapping engine: references, values, identity, and errors that name the key to fix."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from demandsync.connectors.base import Record, SourceContext
from demandsync.connectors.tabular import Header, Layout, Row, build_header
from demandsync.domain import FeedbackItem, Quarantined
from demandsync.mappings.engine import MappingError, build_mapper
from demandsync.mappings.presets import PresetError


def rows(names: list[str], *values: list[str], preset: str | None = None) -> list[Record]:
    header = build_header([names], Layout(preset=preset))
    return [Record(Row(header, dict(zip(header.names, v))), f"f.csv row {i}", preset) for i, v in enumerate(values, 2)]


def one(overrides: dict[str, Any], names: list[str], values: list[str], preset: str | None = None) -> Any:
    return build_mapper("fb", preset, overrides).map(rows(names, values)[0])


COLS = ["ID", "Comment", "Email", "When", "Company", "Labels", "Jira", "Votes", "Plan", "Other", "Other"]
ROW = ["17", "  Please add SSO  ", " Jo@Example.COM ", "2024-03-04 10:17:29", "Acme", "sso; auth,\nsecurity",
       "see ABC-12 and DATA_2-7, not abc-1", "3", "enterprise", "x", "second other"]


def test_full_mapping() -> None:
    item = one(
        {"id": "ID", "text": "Comment", "requester": "Email", "created_at": "When", "account": "Company",
         "tags": "Labels", "epic": "Jira", "votes": "Votes", "extra": {"plan": "Plan"}},
        COLS, ROW,
    )
    assert item == FeedbackItem(
        source="fb", external_id="17", text="Please add SSO", requester="jo@example.com", account="Acme",
        created_at=datetime(2024, 3, 4, 10, 17, 29, tzinfo=UTC), url=None,
        tags=["sso", "auth", "security"], epic_hint=["ABC-12", "DATA_2-7"], votes=3, extra={"plan": "enterprise"},
    )


def test_duplicate_and_positional_references() -> None:
    assert one({"text": "Other#2"}, COLS, ROW).text == "second other"
    assert one({"text": "#2"}, COLS, ROW).text == "Please add SSO"
    assert one({"text": "comment"}, COLS, ROW).text == "Please add SSO"  # case-insensitive when unique


def test_text_and_id_lists_join_others_take_first_non_empty() -> None:
    item = one({"id": ["ID", "Company"], "text": ["Comment", "Other", "Plan"], "requester": ["?Other#9", "Email"]},
               COLS + ["Other"], ROW + [""])
    assert item.external_id == "17|Acme"
    assert item.text == "Please add SSO\n\nx\n\nenterprise"
    assert item.requester == "jo@example.com"


def test_empty_answer_gives_no_item() -> None:
    assert one({"text": "Comment"}, ["Comment"], [" \n\t "]) is None
    assert one({"text": ["A", "B"]}, ["A", "B"], ["", ""]) is None


def test_empty_id_is_quarantined_naming_the_column() -> None:
    out = one({"id": "ID", "text": "Comment"}, ["ID", "Comment"], ["", "hello"])
    assert isinstance(out, Quarantined)
    assert out.locator == "f.csv row 2" and "'ID'" in out.reason and "hello" in out.raw


def test_bad_date_quarantined_with_value_and_format() -> None:
    out = one({"text": "C", "created_at": "D", "date_format": "%d.%m.%Y"}, ["C", "D"], ["hi", "yesterday"])
    assert isinstance(out, Quarantined)
    assert "'yesterday'" in out.reason and "%d.%m.%Y" in out.reason and "'D'" in out.reason


@pytest.mark.parametrize(
    ("value", "options", "expected"),
    [
        ("2024-03-04T10:17:29Z", {}, datetime(2024, 3, 4, 10, 17, 29)),
        ("2024-03-04 10:17:29+02:00", {}, datetime(2024, 3, 4, 8, 17, 29)),
        ("4/13/2024 10:17:29", {}, datetime(2024, 4, 13, 10, 17, 29)),  # Google Forms en-US
        ("13/04/2024 10:17:29", {}, datetime(2024, 4, 13, 10, 17, 29)),  # en-GB, unambiguous
        ("03/04/2024 10:17:29", {"dayfirst": True}, datetime(2024, 4, 3, 10, 17, 29)),
        ("4/3/2024 10:17:29", {"dayfirst": False}, datetime(2024, 4, 3, 10, 17, 29)),
        ("04/03/2024 02:04:10 PM", {"dayfirst": False}, datetime(2024, 4, 3, 14, 4, 10)),
        ("2024-06-15 10:00:00 GMT+8", {}, datetime(2024, 6, 15, 2, 0, 0)),
        ("Sat Jun 15 2024", {}, datetime(2024, 6, 15)),
        ("2024-03-04 10:00:00", {"timezone": "Europe/Berlin"}, datetime(2024, 3, 4, 9, 0, 0)),
        ("04.03.2024 10:00", {"date_format": ["%Y", "%d.%m.%Y %H:%M"]}, datetime(2024, 3, 4, 10, 0)),
    ],
)
def test_dates(value: str, options: dict[str, Any], expected: datetime) -> None:
    item = one({"text": "C", "created_at": "D", **options}, ["C", "D"], ["hi", value])
    assert item.created_at == expected.replace(tzinfo=UTC)


def test_ambiguous_date_is_a_config_error() -> None:
    with pytest.raises(MappingError, match=r"sources\.fb\.map\.dayfirst.*'03/04/2024 10:17:29'"):
        one({"text": "C", "created_at": "D"}, ["C", "D"], ["hi", "03/04/2024 10:17:29"])


def test_requester_normalisation_and_anonymous() -> None:
    for value in ("", "00000000", "00000000-0000-0000-0000-000000000000", "Anonymous", "0000-0000"):
        assert one({"text": "C", "requester": "R"}, ["C", "R"], ["hi", value]).requester is None
    assert one({"text": "C", "requester": "R", "anonymous": ["guest"]}, ["C", "R"], ["hi", "guest"]).requester is None
    assert one({"text": "C", "requester": "R"}, ["C", "R"], ["hi", "User-42"]).requester == "User-42"


def test_votes() -> None:
    assert one({"text": "C", "votes": "V"}, ["C", "V"], ["hi", ""]).votes == 1
    assert one({"text": "C", "votes": "V"}, ["C", "V"], ["hi", "0"]).votes == 1
    assert one({"text": "C", "votes": "V"}, ["C", "V"], ["hi", "7.0"]).votes == 7
    bad = one({"text": "C", "votes": "V"}, ["C", "V"], ["hi", "many"])
    assert isinstance(bad, Quarantined) and "'many'" in bad.reason


def test_content_hash_identity_ignores_whitespace_and_line_endings() -> None:
    a = one({"text": "C", "requester": "R"}, ["C", "R"], ["Line one\r\nline  two", "A@x.io"])
    b = one({"text": "C", "requester": "R"}, ["C", "R"], ["Line one\nline two ", "a@x.io "])
    c = one({"text": "C", "requester": "R"}, ["C", "R"], ["Line one\nline three", "a@x.io"])
    assert a.external_id == b.external_id != c.external_id
    assert a.external_id.startswith("sha256:")


# -- configuration errors -----------------------------------------------------------------------


def test_missing_column_names_key_column_and_close_matches() -> None:
    mapper = build_mapper("exit-survey", None, {"text": "Coment", "requester": "Email"})
    with pytest.raises(MappingError) as err:
        mapper.map(rows(["Comment", "Email"], ["hi", "a@b.c"])[0])
    message = str(err.value)
    assert "sources.exit-survey.map.text" in message
    assert "'Coment'" in message and "did you mean 'Comment'" in message and "f.csv" in message


def test_missing_preset_column_says_it_came_from_the_preset() -> None:
    mapper = build_mapper("hj", "hotjar-survey", {})
    with pytest.raises(MappingError, match=r"map\.id: column 'Hotjar User ID'.*preset 'hotjar-survey'"):
        mapper.map(rows(["Number", "Date Submitted", "Q"], ["1", "2024-01-01 00:00:00", "hi"])[0])


def test_no_preset_and_no_text_mapping() -> None:
    with pytest.raises(MappingError, match=r"sources\.plain\.map\.text is required"):
        build_mapper("plain", None, {}).map(rows(["a"], ["b"])[0])
    with pytest.raises(MappingError, match=r"sources\.plain\.map\.text is required"):
        build_mapper("plain", "generic", {"id": "a"})


def test_typos_and_bad_values_are_named() -> None:
    with pytest.raises(MappingError, match=r"sources\.s\.map\.requestor"):
        build_mapper("s", "generic", {"text": "a", "requestor": "b"})
    with pytest.raises(MappingError, match=r"sources\.s\.map\.timezone: .*Mars/Olympus"):
        build_mapper("s", "generic", {"text": "a", "timezone": "Mars/Olympus"})
    with pytest.raises(PresetError, match="known presets: .*hotjar-survey"):
        build_mapper("s", "hotjar-surveys", {})


def test_selector_matching_nothing_is_an_error() -> None:
    with pytest.raises(MappingError, match="no column .* holds feedback text"):
        one({"text": {"match": "^Why"}}, ["A"], ["x"])


# -- presets and overrides ------------------------------------------------------------------


def test_overrides_merge_over_preset_key_by_key() -> None:
    names = ["Number", "User", "Date Submitted", "Country", "Source URL", "Device", "Browser", "OS",
             "Hotjar User ID", "Q1", "Q2", "Tags for: Q1", "Tags for: Q2"]
    values = ["1", "3f2a9c1e", "2024-03-02 09:14:03", "DE", "https://x", "Desktop", "Chrome", "Linux",
              "3f2a9c1e-aaaa", "first", "second", "a", "b;c"]
    [record] = rows(names, values, preset="hotjar-survey")
    item = build_mapper("hj", None, {}).map(record)
    assert item.text == "first\n\nsecond" and item.tags == ["a", "b", "c"]
    assert item.extra["country"] == "DE"
    item = build_mapper("hj", None, {"text": "Q2", "extra": {"plan": "Q1"}}).map(record)
    assert item.text == "second" and item.external_id == "3f2a9c1e-aaaa|2024-03-02 09:14:03"
    assert item.extra == {"country": "DE", "device": "Desktop", "browser": "Chrome", "os": "Linux", "plan": "first"}


def test_preset_per_record_is_cached_per_header() -> None:
    mapper = build_mapper("s", None, {"text": "C"})
    records = rows(["C"], ["a"], ["b"], ["c"])
    assert [mapper.map(r).text for r in records] == ["a", "b", "c"]  # type: ignore[union-attr]
    assert len(mapper._compiled["generic"].plans) == 1


def test_aliases_are_addressable() -> None:
    header = build_header([["Q1", "Q2"], ["Your role?", "What should we build?"], ['{"ImportId":"QID1"}', '{"ImportId":"QID2_TEXT"}']],
                          Layout(3, "aliases"))
    record = Record(Row(header, {"Q1": "PM", "Q2": "Roadmaps"}), "q.csv row 4")
    assert build_mapper("q", None, {"text": "What should we build?"}).map(record).text == "Roadmaps"  # type: ignore[union-attr]
    assert build_mapper("q", None, {"text": "QID2_TEXT"}).map(record).text == "Roadmaps"  # type: ignore[union-attr]
    labelled = build_mapper("q", None, {"text": {"match": "^Q", "label": True}}).map(record)
    assert labelled.text == "Your role?: PM\n\nWhat should we build?: Roadmaps"  # type: ignore[union-attr]
    assert isinstance(header, Header)


# -- JSON records (API sources use the same engine) ---------------------------------------------


def test_dotted_paths_in_json_records() -> None:
    mapper = build_mapper("jira", None, {
        "id": "key", "text": ["fields.summary", "fields.description"], "requester": "fields.reporter.emailAddress",
        "tags": "fields.labels", "epic": "fields.parent.key", "created_at": "fields.created",
        "extra": {"components": "fields.components.name"},
    })
    data = {"key": "SUP-1", "fields": {"summary": "Bulk export", "description": None, "labels": ["csv", "export"],
                                       "reporter": {"emailAddress": "Ann@Corp.com"}, "parent": {"key": "PRD-9"},
                                       "created": "2024-01-02T03:04:05.000+0000",
                                       "components": [{"name": "API"}, {"name": "UI"}]}}
    item = mapper.map(Record(data, "jira SUP-1"))
    assert isinstance(item, FeedbackItem)
    assert (item.external_id, item.text, item.requester, item.tags, item.epic_hint) == (
        "SUP-1", "Bulk export", "ann@corp.com", ["csv", "export"], ["PRD-9"])
    assert item.extra == {"components": "API\nUI"}
    assert item.created_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    # A later record without an optional branch is fine…
    assert mapper.map(Record({"key": "SUP-2", "fields": {"summary": "x"}}, "jira SUP-2")).requester is None  # type: ignore[union-attr]
    # …but a typo in the first record's top-level key is a config error.
    with pytest.raises(MappingError, match="map.text: column 'feilds.summary'"):
        build_mapper("jira", None, {"text": "feilds.summary"}).map(Record(data, "jira SUP-1"))


def test_json_paths_give_numbers_lists_and_literal_dotted_keys_as_text() -> None:
    """A path that ends on a number, a flag or an object, runs through a list, meets a null, or is
    itself a record's key (dots and all) reads the same whichever way the engine walks it."""
    mapper = build_mapper("api", None, {"id": "id", "text": "fields.title", "extra": {
        "votes": "fields.votes", "paid": "fields.paid", "owner": "fields.owner", "names": "fields.people.name",
        "literal": "a.b", "gone": "fields.missing.deeper", "null": "fields.nothing.x", "listed": "fields.tags",
    }})
    data = {"id": "7", "a.b": "dotted key", "a": {"b": "nested"},
            "fields": {"title": "Export", "votes": 12, "paid": True, "owner": {"id": 3}, "nothing": None,
                       "people": [{"name": "Ann"}, {"name": None}, {"other": 1}, {"name": "Bo"}],
                       "tags": ["a", "b"]}}
    item = mapper.map(Record(data, "api 7"))
    assert isinstance(item, FeedbackItem)
    assert item.extra == {"votes": "12", "paid": "true", "owner": "{'id': 3}", "names": "Ann\nBo",
                          "literal": "dotted key", "listed": "a\nb"}


def test_item_text_over_max_text_chars_is_quarantined() -> None:
    long = "word " * 30_000  # 150,000 characters across two columns of 75,000
    out = one({"text": ["A", "B"]}, ["A", "B"], [long[:75_000], long[75_000:]])
    assert isinstance(out, Quarantined)
    assert "150,000 characters" in out.reason and "sources.fb.map.max_text_chars" in out.reason
    assert len(out.raw) <= 500
    ok = one({"text": ["A", "B"], "max_text_chars": 200_000}, ["A", "B"], [long[:75_000], long[75_000:]])
    assert isinstance(ok, FeedbackItem) and len(ok.text) == 150_000


HOTJAR = ["Number", "User", "Date Submitted", "Country", "Source URL", "Device", "Browser", "OS", "Hotjar User ID",
          "What is missing?", "Tags for: What is missing?", "Anything else?", "Tags for: Anything else?"]
ANON = "00000000-0000-0000-0000-000000000000"
HOTJAR_ROWS = [
    ["1", "a1", "2026-01-01 08:00:01", "Peru", "https://x.example/p", "desktop", "Firefox", "Linux", "a1-b2",
     "  SSO please, see PROD-7 ", "sso; auth,\nsecurity", "", ""],
    ["2", "0", "2026-01-01 08:00:02", "Peru", "https://x.example/q", "tablet", "Chrome", "iOS", ANON,
     "Dark mode\r\nplease", "", "and offline", "ux, ux"],
    ["3", "0", "2026-01-01 08:00:02", "Chile", "https://x.example/q", "tablet", "Chrome", "iOS", ANON,
     "Dark mode\r\nplease", "", "and offline", ""],  # same second, another anonymous answer: another id
    ["4", "Jo@Example.COM", "2026-01-01T09:00:00+02:00", "", "", "", "", "", "jo@example.com", "Faster search", "",
     "", ""],
    ["5", "b", "2024/03/04 3:00:00 PM GMT+3", "", "", "", "", "", "b", "Zapier", "", "", ""],
    ["6", "c", "not a date", "", "", "", "", "", "c", "Slack", "", "", ""],  # quarantined: the date
    ["7", "d", "2026-01-01 08:00:09", "", "", "", "", "", "   ", "no identity", "", "", ""],  # quarantined: no id
    ["8", "e", "2026-01-01 08:00:10", "", "", "", "", "", "e", "  ", "", " ", ""],  # no answer: no item
    ["9", "f", "", "", "", "", "", "", "f", "x" * 30, "", "", ""],  # no date, over max_text_chars
    ["10", "g", "9999-12-31T23:00:00-05:00", "", "", "", "", "", "g", "Out of range", "", "", ""],
]


@pytest.mark.parametrize("overrides", [{}, {"max_text_chars": 20}, {"timezone": "Europe/Berlin"},
                                       {"votes": "Number", "account": "Country", "epic": "?Source URL"},
                                       {"extra": {"country": ["Country", "Device"], "os": ["OS"], "end": ["Browser"]}},
                                       {"skip": {"Country": ["chile"]}, "text": {"questions": True, "label": True,
                                                                               "exclude": ["^Tags for: "]}}])
def test_compiled_rows_map_exactly_like_the_general_path(overrides: dict[str, Any],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Each file header's plan is compiled into one function per row (the fast path); it must give
    the very item, quarantine reason or nothing that the general path gives for every kind of row."""
    from demandsync.mappings import engine

    records = rows(HOTJAR, *HOTJAR_ROWS, preset="hotjar-survey")
    compiled = build_mapper("fb", "hotjar-survey", overrides)
    fast = [compiled.map(r) for r in records]
    # a vote count is left to the general path: no function is compiled for such a plan
    assert all((p.rows is not None) == ("votes" not in overrides)
               for c in compiled._compiled.values() for _, p in c.plans.values())
    monkeypatch.setattr(engine, "_compile_rows", lambda *_: None)
    general = build_mapper("fb", "hotjar-survey", overrides)
    assert repr(fast) == repr([general.map(r) for r in records])  # repr: extra's key order is hashed too
    assert any(isinstance(i, FeedbackItem) for i in fast) and any(isinstance(i, Quarantined) for i in fast)


EXPORTS = Path(__file__).parent / "fixtures" / "exports"
#: Cells that each take some branch of the mapping: blank, placeholders, odd dates and numbers,
#: line ends, tag separators, epic keys, text over the limit, undecodable bytes.
HOSTILE_CELLS = ["", "   ", "0", "00000-000", "-", "Anonymous", "ANN@Example.COM ", "not a date", "13/01/2026",
                 "01/02/2026", "2026-01-01 08:00:00 GMT+99", "9999-12-31T23:00:00-05:00", "2024/03/04 3:00:00 PM GMT+3",
                 "a\r\nb", "x; y,\nx", "see PROD-12 and prod-13", "3.5", "x" * 120_001, "caf\udce9", " \t ", " a  b ",
                 "x\u00a0y\u2003z\tw", "2026-01-01", "2026-01-01T08", "20260101T080001", "2026-01-01T",
                 "2026-01-01T08:00:01+", "2026-01-01T08:00:01Z", "2026-01-01 08:00:01.5-01:00", "2026-W01-1 08:00",
                 "2026-01-01T08+05:00", "2026-01-01X08:00:01", "2026-01-01 08:00:61", "2026-01-01 24:00:00"]


#: Exports without a response id (Google Forms): their preset's identity comes from the answers,
#: which the general path derives; with an id mapped (the "generic" case) they compile.
NO_ID_EXPORTS = {"google-forms-gb.csv", "google-forms-us.csv", "real/google_forms_gecko_sustainability_2022.csv"}


def _both_paths(records: list[Record], preset: str | None, overrides: dict[str, Any],
                monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], int]:
    """The records whose outcome (item, quarantine, nothing, or the exception pull_source words)
    differs between the compiled positional path and the general one; and how many plans compiled."""
    from demandsync.mappings import engine

    def outcomes(mapper: Any) -> list[Any]:
        out: list[Any] = []
        for r in records:
            try:
                out.append(mapper.map(r))
            except Exception as exc:  # noqa: BLE001 - a mapping error, or what pull_source quarantines
                out.append(f"{type(exc).__name__}: {exc}")
        return out

    fast_mapper = build_mapper("s", preset, overrides)
    fast = outcomes(fast_mapper)
    plans = [p for c in fast_mapper._compiled.values() for _, p in c.plans.values()]
    # compiled wherever it can be: a plan with an id column and no vote count
    compiled = sum(p.rows is not None for p in plans)
    assert all((p.rows is not None) == (bool(p.columns["id"]) and not p.columns["votes"]) for p in plans)
    with monkeypatch.context() as patch:
        patch.setattr(engine, "_compile_rows", lambda *_: None)
        general = outcomes(build_mapper("s", preset, overrides))
    # repr, not ==: the order of ``extra``'s keys goes into the stored content hash.
    return [(r.locator, f, g) for r, f, g in zip(records, fast, general) if repr(f) != repr(g)], compiled


@pytest.mark.parametrize("path", sorted(p.relative_to(EXPORTS).as_posix() for p in EXPORTS.rglob("*.csv")))
@pytest.mark.parametrize(("preset", "overrides"), [(None, {}), ("generic", {"text": {"questions": True, "label": True},
                                                                               "id": "#1", "requester": "#2"})])
def test_positional_rows_map_like_the_general_path_on_every_export(path: str, preset: str | None,
                                                                   overrides: dict[str, Any],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Every shipped export (each preset's layout), its rows as read and the same rows with each
    cell in turn replaced by a hostile value: the compiled positional path gives the very item,
    quarantine reason, nothing or mapping error the general path gives."""
    from demandsync.connectors.files import FileSource

    src = FileSource(FileSource.Options(path=path), SourceContext(name="s", base_dir=EXPORTS))
    records = [r for r in src.pull({}) if isinstance(r, Record)]
    hostile = []
    for r in records[:3]:
        row = r.data
        assert isinstance(row, Row)
        for pos in range(len(row.cells)):
            for cell in HOSTILE_CELLS:
                cells = list(row.cells)
                cells[pos] = cell
                hostile.append(Record(Row.of(row.header, cells), f"{r.locator} cell {pos} = {cell[:20]!r}", r.preset))
    differences, compiled = _both_paths(records + hostile, preset, overrides, monkeypatch)
    assert differences == []
    assert compiled or not records or (preset is None and path in NO_ID_EXPORTS)  # the fast path did run


#: JSON values besides text that a path can end on (a list runs through _value's general walk).
HOSTILE_JSON = [None, 0, 3, 2.5, True, False, [], ["sso", "PROD-7"], [None, {"x": 1}], {"k": "v"}, {}]
JIRA_ISSUE = {"key": "FB-1", "id": "10001", "browse_url": "https://x.atlassian.net/browse/FB-1",
              "epic_keys": ["PROD-7"], "organization": "Acme",
              "fields": {"summary": "SSO please", "description_text": "We need Okta.\r\nSoon.",
                         "created": "2025-06-01T00:00:00.000+0000", "labels": ["sso", "auth"],
                         "reporter": {"emailAddress": "Ann@Corp.com", "accountId": "5570:1"}}}
HOTJAR_RESPONSE = {"Hotjar User ID": ANON, "Date Submitted": "2026-01-01 08:00:01", "Message": "Dark mode\r\nplease",
                   "Email": "", "Emotion": "3", "Country": "Peru", "Source URL": "https://x.example/q",
                   "Device": "tablet", "Browser": "Chrome", "OS": "iOS"}


def _leaves(data: dict[str, Any], at: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    return [p for k, v in data.items() for p in (_leaves(v, (*at, k)) if isinstance(v, dict) else [(*at, k)])]


def _with(data: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """A deep copy of ``data`` with the value at ``path`` replaced (or the key removed: ``_GONE``)."""
    out = copy.deepcopy(data)
    node = out
    for key in path[:-1]:
        node = node[key]
    if value is _GONE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


_GONE = object()


@pytest.mark.parametrize(("preset", "record"), [("jira", JIRA_ISSUE), ("hotjar-feedback", HOTJAR_RESPONSE)])
def test_compiled_json_records_map_like_the_general_path(preset: str, record: dict[str, Any],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """An API source's records share a plan per shape, compiled to the file path's row function
    over the plan's path values: with each value in turn made hostile (odd text, dates read two
    ways, numbers, lists, objects, nulls, the key gone) every record gives the very item,
    quarantine reason, nothing or mapping error the general path gives, records in a row
    included (a JSON record's dates teach nothing to the next)."""
    records = [Record(record, "api 0")]
    for path in _leaves(record):
        for value in [*HOSTILE_CELLS, *HOSTILE_JSON, _GONE]:
            records.append(Record(_with(record, path, value), f"api {'.'.join(path)} = {str(value)[:20]!r}"))
    for value in ("13/01/2026", "01/02/2026", "02/01/2026 10:00", "13/01/2026"):  # what is day, what month?
        records.append(Record(_with(record, _date_path(record), value), f"api date {value}"))
    differences, _ = _both_paths(records, preset, {}, monkeypatch)
    assert differences == []
    mapper = build_mapper("s", preset, {})
    mapper.map(records[0])
    mapper.map(records[1])
    assert [p.rows is not None for c in mapper._compiled.values() for p in c.json_plans.values()] == [True]


def _date_path(record: dict[str, Any]) -> tuple[str, ...]:
    return ("fields", "created") if "fields" in record else ("Date Submitted",)
