"""The engine runs on any :class:`~demandsync.connectors.base.Tracker`, not only Jira.

``MemoryTracker`` keeps its epics and field values in dicts: no HTTP, no Jira
import. A whole ``run_sync`` over it (the demo's exports, rules and field names)
must write exactly the figures the Jira end-to-end test expects, then write
nothing on a second run. A bug inside a run (in the tracker, or in one source while the
others go on) must be logged with its traceback, naming file and line.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import demo_config
from test_e2e import ACCOUNTS, EXPECTED, LAST, REQUESTERS, REQUESTS, SOURCES

from demandsync.config import Config, load_config
from demandsync.connectors.base import Tracker
from demandsync.connectors.files import FileSource
from demandsync.domain import (
    Cursor,
    Epic,
    Quarantined,
    Record,
    SummaryContent,
    TrackerField,
    figure_line,
    footer,
    marker,
    recency_line,
)
from demandsync.errors import OutsideError
from demandsync.logs import setup_logging
from demandsync.sync import run as run_module
from demandsync.sync.run import run_sync

FIELDS = [
    TrackerField(REQUESTS, "Customer requests", "number", custom=True),
    TrackerField(REQUESTERS, "Requesters", "number", custom=True),
    TrackerField(ACCOUNTS, "Accounts", "number", custom=True),
    TrackerField(LAST, "Last requested", "date", custom=True),
    TrackerField(SOURCES, "Demand sources", "string", custom=True),
    TrackerField("summary", "Summary", "string"),
]


class MemoryTracker(Tracker):
    """A tracker held in memory: epics PROD-1..6, every write recorded."""

    section = "jira"
    display_name = "Memory"

    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {f"PROD-{n}": {} for n in range(1, 7)}
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self.selections: list[str] = []
        self.comments: dict[str, list[tuple[str, str, str | None]]] = {}
        self.closed = 0

    @classmethod
    def from_settings(cls, settings: Any) -> MemoryTracker:
        return cls()

    def fields(self) -> list[TrackerField]:
        return list(FIELDS)

    def epics(self, selection: str, value_fields: Sequence[str]) -> Iterator[Epic]:
        self.selections.append(selection)
        for key, values in self.values.items():
            yield Epic(key=key, id=key.removeprefix("PROD-"), summary=f"Epic {key}", project="PROD",
                       values={f: values.get(f) for f in value_fields})

    def update(self, key: str, values: Mapping[str, Any]) -> None:
        self.writes.append((key, dict(values)))
        self.values[key].update(values)

    def editable_fields(self, key: str) -> dict[str, str]:
        return {f.id: f.name for f in FIELDS}

    def whoami(self) -> str:
        return "memory"

    def released(self, keys: Sequence[str]) -> list[str]:
        return []

    def browse_url(self, key: str) -> str:
        return f"memory://{key}"

    def summary_comments(self, key: str) -> Iterator[tuple[str, str, str | None]]:
        yield from self.comments.get(key, [])

    def add_summary_comment(self, key: str, content: SummaryContent, changed_on: date) -> str:
        comment_id = f"c{sum(map(len, self.comments.values())) + 1}"
        self.comments.setdefault(key, []).append((comment_id, _plain(content, changed_on), "memory"))
        return comment_id

    def update_summary_comment(self, key: str, comment_id: str, content: SummaryContent, changed_on: date) -> bool:
        mine = self.comments.get(key, [])
        for n, (cid, _, author) in enumerate(mine):
            if cid == comment_id:
                mine[n] = (cid, _plain(content, changed_on), author)
                return True
        return False

    def field_text(self, key: str, field_id: str) -> str:
        return str(self.values[key].get(field_id) or "")

    def write_summary_field(self, key: str, field_id: str, content: SummaryContent, changed_on: date,
                            plain: bool = False) -> None:
        raise AssertionError("the summary is off in this config")

    def close(self) -> None:
        self.closed += 1


def _plain(content: SummaryContent, changed_on: date) -> str:
    """The summary as plain text (a real tracker renders its own rich format), marker last."""
    headline = "".join(text for text, _ in figure_line(content))
    return "\n".join([headline, recency_line(content), footer(changed_on), marker(content.epic_key, content.digest())])


@pytest.fixture
def config(tmp_path: Path, store_url: str) -> Config:
    # The Jira URL is never dialled: the tracker is the in-memory one.
    return load_config(demo_config(tmp_path, "http://127.0.0.1:9", store_url))


def _num(v: object) -> object:
    return int(v) if isinstance(v, float) and v.is_integer() else v


def test_the_engine_runs_a_whole_sync_on_a_tracker_that_is_not_jira(config: Config) -> None:
    tracker = MemoryTracker()
    report = run_sync(config, tracker_factory=lambda _: tracker)

    assert report.exit_code == 0, report.errors
    assert tracker.selections == [config.settings.jira.epics]
    assert report.epics == 6 and report.links == {"explicit": 5, "rule": 11}
    for key, want in EXPECTED.items():
        got = {fid: _num(tracker.values[key].get(fid)) for fid in want}
        assert got == want, key
    # One write per epic, all its changed fields at once; PROD-3's zeros fill empty fields.
    assert [key for key, _ in tracker.writes] == [f"PROD-{n}" for n in range(1, 7)]
    assert tracker.writes[2] == ("PROD-3", {REQUESTS: 0, REQUESTERS: 0, ACCOUNTS: 0})
    assert report.writes == {"planned": 5 * 5 + 3, "applied": 28, "failed": 0}
    assert tracker.closed == 1

    again = MemoryTracker()
    again.values = tracker.values
    second = run_sync(config, tracker_factory=lambda _: again)
    assert second.exit_code == 0
    assert again.writes == [] and second.writes == {"planned": 0, "applied": 0, "failed": 0}


def test_the_managed_summary_goes_through_the_interface_too(tmp_path: Path, store_url: str) -> None:
    path = demo_config(tmp_path, "http://127.0.0.1:9", store_url)
    path.write_text(path.read_text() + "\n[summary]\nenabled = true\n")
    config = load_config(path)
    tracker = MemoryTracker()
    report = run_sync(config, tracker_factory=lambda _: tracker)
    assert report.exit_code == 0, report.errors
    # PROD-3 has no requests: no comment for it.
    assert report.summaries == {"created": 5, "updated": 0, "unchanged": 0, "failed": 0}
    assert sorted(tracker.comments) == ["PROD-1", "PROD-2", "PROD-4", "PROD-5", "PROD-6"]
    [(_, text, _)] = tracker.comments["PROD-1"]
    assert text.startswith("6 requests · 5 requesters · 2 accounts · ")
    assert "demandsync/summary/PROD-1/" in text

    again = MemoryTracker()
    again.values, again.comments = tracker.values, tracker.comments
    assert run_sync(config, tracker_factory=lambda _: again).summaries == {
        "created": 0, "updated": 0, "unchanged": 5, "failed": 0}


class BrokenTracker(MemoryTracker):
    def epics(self, selection: str, value_fields: Sequence[str]) -> Iterator[Epic]:
        raise KeyError("epic")  # a bug, not an outside failure


def test_a_bug_in_a_run_is_logged_with_file_and_line(config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(secrets=config.secrets)  # the CLI's logging: stderr, through the scrubbing formatter
    report = run_sync(config, tracker_factory=lambda _: BrokenTracker())

    assert report.exit_code == 1
    assert report.errors == [{"stage": "run", "error": "KeyError: 'epic'"}]
    log = capsys.readouterr().err
    line = BrokenTracker.epics.__code__.co_firstlineno + 1
    assert "ERROR   run=1 demandsync.sync.run: run 1 failed: KeyError: 'epic'\nTraceback (most recent call last):" in log
    assert f'File "{__file__}", line {line}, in epics' in log
    assert "KeyError: 'epic'\n" in log.split("Traceback", 1)[1]


class BrokenSource(FileSource):
    def pull(self, cursor: Cursor) -> Iterator[Record | Quarantined]:
        raise KeyError("row")  # a bug in a connector


def test_a_bug_in_a_source_is_logged_with_file_and_line_and_the_others_go_on(
        config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    config.source_classes["exit-survey"] = BrokenSource
    setup_logging(secrets=config.secrets)
    tracker = MemoryTracker()
    report = run_sync(config, tracker_factory=lambda _: tracker)

    assert report.exit_code == 1
    assert report.sources["exit-survey"].error == "KeyError: 'row'"
    assert report.sources["sales-notes"].new == 5 and report.sources["sales-notes"].error is None
    log = capsys.readouterr().err
    line = BrokenSource.pull.__code__.co_firstlineno + 1
    assert "demandsync.sync.pull: source exit-survey failed: KeyError: 'row'\nTraceback" in log
    assert f'File "{__file__}", line {line}, in pull' in log


def test_the_epics_are_read_while_the_sources_pull(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tracker slow to answer (each search page a round trip) costs the run no extra time while
    the sources pull: the epic read has begun before the first pull ends, and the run's figures
    are the ones it makes otherwise."""
    reading = threading.Event()

    class Slow(MemoryTracker):
        def epics(self, selection: str, value_fields: Sequence[str]) -> Iterator[Epic]:
            reading.set()
            yield from super().epics(selection, value_fields)

    pulled_while_reading: list[bool] = []
    pull = run_module.pull_source

    def pull_source(*args: Any, **kwargs: Any) -> Any:
        result = pull(*args, **kwargs)
        if not pulled_while_reading:  # the first source pulled: the epic read has begun by now
            pulled_while_reading.append(reading.wait(timeout=10))
        return result

    monkeypatch.setattr(run_module, "pull_source", pull_source)
    tracker = Slow()
    report = run_sync(config, tracker_factory=lambda _: tracker)

    assert pulled_while_reading == [True]
    assert report.exit_code == 0 and report.epics == 6 and report.writes["applied"] == 28
    # The --json report and the runs table's record: what dataclasses.asdict gives, a copy.
    doc = report.as_dict()
    assert doc == {**dataclasses.asdict(report), "exit_code": 0}
    doc["plan"][0]["new"] = "changed"
    assert report.plan[0]["new"] != "changed"


def test_what_a_write_logs_carries_the_run_id(config: Config, capsys: pytest.CaptureFixture[str]) -> None:
    """Writes run on worker threads; a line they log (the HTTP layer's "retrying in …" after a 429)
    names the run like every other line, so a log shipper can group it with its run."""

    class Throttled(MemoryTracker):
        def update(self, key: str, values: Mapping[str, Any]) -> None:
            logging.getLogger("demandsync.http").warning("HTTP 429 from PUT %s; retrying in 1.0s", key)
            super().update(key, values)

    setup_logging(secrets=config.secrets)
    report = run_sync(config, tracker_factory=lambda _: Throttled())
    lines = [line for line in capsys.readouterr().err.splitlines() if "HTTP 429" in line]
    assert len(lines) == 6 and all(f" run={report.run_id} demandsync.http: " in line for line in lines), lines


def test_a_summary_that_failed_is_written_by_the_next_run_though_nothing_else_changed(
        tmp_path: Path, store_url: str) -> None:
    """A run that changed nothing reports every summary unchanged without reading them (the summary
    stage's shortcut), but only after a run without failures: one that failed is retried."""
    path = demo_config(tmp_path, "http://127.0.0.1:9", store_url)
    path.write_text(path.read_text() + "\n[summary]\nenabled = true\n")
    config = load_config(path)

    class Refusing(MemoryTracker):
        def add_summary_comment(self, key: str, content: SummaryContent, changed_on: date) -> str:
            if key == "PROD-1":
                raise OutsideError("Memory refused the comment")
            return super().add_summary_comment(key, content, changed_on)

    first = Refusing()
    assert run_sync(config, tracker_factory=lambda _: first).summaries == {
        "created": 4, "updated": 0, "unchanged": 0, "failed": 1}
    again = MemoryTracker()
    again.values, again.comments = first.values, first.comments
    assert run_sync(config, tracker_factory=lambda _: again).summaries == {
        "created": 1, "updated": 0, "unchanged": 4, "failed": 0}
    assert "PROD-1" in again.comments
