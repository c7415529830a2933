"""One row the store cannot take never costs the others, and stored errors carry no customer data
(issue 19: a NUL byte on PostgreSQL failed the whole source on every run, 0 of 805 rows stored,
and the error carried the SQL's bound parameters into logs, ``status``, the runs table and the
source state)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from demandsync.config import load_config_data
from demandsync.connectors.base import Record, Source
from demandsync.domain import FeedbackItem, Quarantined
from demandsync.sync.pull import pull_source
from demandsync.sync.store.store import Store, describe_db_error

ON_PG = os.environ.get("DEMANDSYNC_TEST_STORE", "").startswith("postgresql")
#: What a UTF-8 database refuses everywhere (a lone surrogate: how the file reader marks
#: undecodable bytes), and what PostgreSQL alone refuses (NUL).
REFUSED = "bad \udcfc byte"


class ListSource(Source):
    """Yields the records a test gives it (``ListSource.records``), like an API source would."""

    kind = "list"
    records: list[Record | Quarantined] = []

    def pull(self, cursor: dict[str, Any]) -> Iterator[Record | Quarantined]:
        yield from self.records


def make_config(tmp_path: Path, store_url: str) -> Any:
    data = {"store": {"url": store_url},
            "jira": {"url": "https://acme.atlassian.net", "email": "a@b.c", "api_token": "t0k3n-h19"},
            "sources": [{"name": "fb", "kind": "file", "path": "none.csv",
                         "map": {"id": "id", "text": "text", "requester": "email"}}]}
    config = load_config_data(data, tmp_path / "demandsync.toml")
    config.source_classes["fb"] = ListSource
    return config


def records(n: int, bad: dict[int, str]) -> list[Record | Quarantined]:
    return [Record({"id": str(i), "text": bad.get(i, f"feedback number {i}"), "email": f"person{i}@cust.example"},
                   f"fb record {i}") for i in range(n)]


def test_a_row_the_store_refuses_is_quarantined_and_the_other_805_are_stored(tmp_path: Path, store_url: str) -> None:
    config = make_config(tmp_path, store_url)
    bad = {400: REFUSED} | ({401: "nul \x00 byte"} if ON_PG else {})
    ListSource.records = records(806 + len(bad) - 1, bad)
    store = Store.open(store_url)
    try:
        rep = pull_source(config, store, config.settings.sources[0], 1, full=False)
        assert (rep.error, rep.new, rep.quarantined) == (None, 805, len(bad))
        assert store.count_items() == 805
        rows = store.quarantined("fb")
        assert sorted(r["locator"] for r in rows) == sorted(f"item {i}" for i in bad)
        for r in rows:
            assert r["reason"].startswith("the store refused it: ")
            assert "person" not in r["reason"] and "[SQL" not in r["reason"]  # no other row's data
        assert store.source_states()[0]["last_error"] is None
        # The next run retries the refused row only (still refused), nothing else changes.
        again = pull_source(config, store, config.settings.sources[0], 2, full=False)
        assert (again.error, again.new, again.changed, again.quarantined) == (None, 0, 0, len(bad))
    finally:
        store.close()


def test_a_changed_row_the_store_refuses_keeps_the_other_updates(tmp_path: Path, store_url: str) -> None:
    config = make_config(tmp_path, store_url)
    ListSource.records = records(10, {})
    store = Store.open(store_url)
    try:
        pull_source(config, store, config.settings.sources[0], 1, full=False)
        ListSource.records = [Record({**r.data, "text": REFUSED if r.data["id"] == "3" else r.data["text"] + "!"},
                                     r.locator) for r in records(10, {}) if isinstance(r, Record)]
        rep = pull_source(config, store, config.settings.sources[0], 2, full=False)
        assert (rep.error, rep.changed, rep.quarantined) == (None, 9, 1)
        texts = {t for _, _, _, t in store.item_texts()}
        assert "feedback number 3" in texts and "feedback number 4!" in texts
    finally:
        store.close()


def test_a_database_error_is_described_without_its_parameters(store: Store) -> None:
    secret_row = {"source": "s", "locator": "l", "reason": "r", "raw": "ann@customer.example wants SSO"}
    with pytest.raises(sa.exc.IntegrityError) as caught, store.begin() as conn:
        conn.execute(sa.text("INSERT INTO quarantine (source, locator, reason, raw, first_seen_at, last_seen_at) "
                             "VALUES (:source, :locator, :reason, :raw, NULL, NULL)"), secret_row)
    assert "ann@customer.example" in str(caught.value)  # SQLAlchemy's own text carries the row
    said = describe_db_error(caught.value)
    assert said.startswith("IntegrityError: ") and "ann@" not in said and "INSERT" not in said


def test_a_source_failing_in_the_store_reports_no_customer_data(tmp_path: Path, store_url: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    config = make_config(tmp_path, store_url)
    ListSource.records = records(5, {})
    store = Store.open(store_url)

    def broken(items: Any, known: Any) -> Any:
        raise sa.exc.DataError("INSERT INTO items VALUES (?)", [("ann@customer.example", "my secret plan")],
                               ValueError("value too long for type character varying(200)"))

    monkeypatch.setattr(store, "upsert_items", broken)
    try:
        rep = pull_source(config, store, config.settings.sources[0], 1, full=False)
        assert rep.error == "DataError: value too long for type character varying(200)"
        assert store.source_states()[0]["last_error"] == rep.error
    finally:
        store.close()


def test_a_record_that_breaks_the_mapping_is_quarantined_not_the_source(tmp_path: Path, store_url: str) -> None:
    config = make_config(tmp_path, store_url)

    ListSource.records = [*records(3, {}), Record(["not", "a", "mapping"], "fb record x"),  # type: ignore[arg-type]
                          *records(2, {})]
    store = Store.open(store_url)
    try:
        rep = pull_source(config, store, config.settings.sources[0], 1, full=False)
        assert rep.error is None and rep.quarantined == 1 and store.count_items() == 3
        assert store.quarantined("fb")[0]["locator"] == "fb record x"
    finally:
        store.close()


def test_quarantine_and_errors_holding_nul_are_stored(store: Store) -> None:
    store.quarantine([Quarantined("s", "row\x00 1", "bad \x00 value", "raw \x00 \udcff")], run_id=None)
    store.record_pull("s", "file", cursor=None, error="broke at \x00")
    assert store.quarantined()[0]["reason"] == "bad \\x00 value"
    assert store.source_states()[0]["last_error"] == "broke at \\x00"


def test_item_hash_of_an_unchanged_refused_row_is_not_remembered(tmp_path: Path, store_url: str) -> None:
    """A refused row is retried every run (not taken as 'unchanged') until it can be stored."""
    config = make_config(tmp_path, store_url)
    ListSource.records = records(2, {1: REFUSED})
    store = Store.open(store_url)
    try:
        pull_source(config, store, config.settings.sources[0], 1, full=False)
        assert store.find_item("fb", "1") is None
        ListSource.records = records(2, {})
        rep = pull_source(config, store, config.settings.sources[0], 2, full=False)
        assert rep.new == 1 and store.find_item("fb", "1") is not None
    finally:
        store.close()


def test_feedback_items_equal_after_isolation(store: Store) -> None:
    counts = store.upsert_items([FeedbackItem(source="s", external_id="a", text="ok"),
                                 FeedbackItem(source="s", external_id="b", text=REFUSED)], {})
    assert (counts.new, [q.locator for q in counts.refused]) == (1, ["item b"])


def test_an_epic_text_holding_nul_is_stored(store: Store) -> None:
    from demandsync.domain import Epic

    store.save_epics([Epic(key="PROD-1", id="1", summary="SSO\x00", description="d\x00", labels=["a\x00"],
                           values={"customfield_1": "v\x00"})])
    row = store.epic_row("PROD-1")
    assert row is not None and row["summary"] == "SSO\\x00" and row["labels"] == ["a\\x00"]


def test_a_nul_byte_deep_in_an_export_costs_one_row_not_the_source(tmp_path: Path, store_url: str) -> None:
    """The issue's case end to end: an 806-row export, a NUL byte in row 700 (past any sniff window)."""
    from conftest import cli
    from test_secrets import store_text

    broken = "broken \x00 text"
    rows = ["Date,Contact email,Request"] + [
        f"2026-10-01,person{i}@cust.example,{broken if i == 700 else f'request number {i} ' + 'x' * 80}"
        for i in range(806)]
    assert "\n".join(rows).index("\x00") > 64 * 1024  # past the file reader's 64 KB encoding sniff
    (tmp_path / "notes.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = tmp_path / "demandsync.toml"
    config.write_text(f'[store]\nurl = "{store_url}"\n[jira]\nurl = "https://acme.atlassian.net"\n'
                      '[[sources]]\nname = "notes"\nkind = "csv"\npath = "notes.csv"\n'
                      '[sources.map]\ntext = "Request"\nrequester = "Contact email"\ncreated_at = "Date"\n')
    store = Store.open(store_url)
    from demandsync.config import load_config

    cfg = load_config(config, need_tracker=False)
    try:
        rep = pull_source(cfg, store, cfg.settings.sources[0], 1, full=False)
        assert rep.error is None
        # the file reader quarantines the NUL row itself (any store); on PostgreSQL the store would refuse it too
        assert (rep.new, rep.quarantined) == (805, 1)
        assert store.source_states()[0]["last_error"] is None
    finally:
        store.close()
    code, stdout, _ = cli("status", "--json", "--config", str(config))
    assert code == 0 and "person1@" not in stdout  # status names no customer
    assert "person700@" in store_text(store_url)  # the quarantined row holds the address before forget
    code, _, _ = cli("forget", "person700@cust.example", "--config", str(config))
    assert code == 0 and "person700@" not in store_text(store_url)  # forget reaches the quarantined row


def test_a_refused_row_in_a_dry_run_costs_only_itself(store: Store) -> None:
    """Inside the dry run's one rolled-back transaction, a row the database refuses does not abort
    the dry run (on PostgreSQL a failed statement aborts its transaction: each write is a
    savepoint), and nothing is left in the store afterwards. On SQLite a refused executemany keeps
    the rows before it inside the dry run's transaction (pysqlite cannot take savepoints safely),
    so a dry run there may also count those as refused: a dry run's report, never the store."""
    from demandsync.domain import FeedbackItem

    items = [FeedbackItem("s", "1", "fine"), FeedbackItem("s", "2", REFUSED), FeedbackItem("s", "3", "ok")]
    with store.rolled_back():
        counts = store.upsert_items(items, {})
        assert "item 2" in [q.locator for q in counts.refused]
        if ON_PG:
            assert (counts.new, [q.locator for q in counts.refused]) == (2, ["item 2"])
            assert store.count_items() == 2
        store.set_meta("after-the-refusal", {"ok": True})  # the transaction still works
        assert store.get_meta("after-the-refusal") == {"ok": True}
    assert store.count_items() == 0 and store.get_meta("after-the-refusal") is None


class FailingAfter(ListSource):
    """Yields the test's records, then fails the way a broken file or API does."""

    def pull(self, cursor: dict[str, Any]) -> Iterator[Record | Quarantined]:
        yield from self.records
        raise OSError("the export ended mid-row")


def failing_upserts(store: Store, monkeypatch: pytest.MonkeyPatch, calls: set[int]) -> list[int]:
    """Make ``store.upsert_items`` raise on the given calls (1-based); returns the sizes of the batches
    it was called with."""
    real, sizes = store.upsert_items, []

    def upsert(items: Any, known: Any) -> Any:
        sizes.append(len(items))
        if len(sizes) in calls:
            raise sa.exc.OperationalError("INSERT", None, RuntimeError("disk I/O error"))
        return real(items, known)

    monkeypatch.setattr(store, "upsert_items", upsert)
    return sizes


@pytest.mark.parametrize(("fails", "stored"), [({2}, 6), ({2, 3}, 3)], ids=["retry-stores-it", "retry-fails"])
def test_a_batch_the_store_fails_mid_pull_stops_the_source_where_it_failed(
        tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch, fails: set[int], stored: int) -> None:
    """A batch the store fails stops the source there: nothing read after it is stored or counted, it is
    stored once more, the cursor stays. (What storing batches on another thread while reading on would
    have to keep: see _pull_source.)"""
    from demandsync.sync import pull as pull_module

    monkeypatch.setattr(pull_module, "_ITEM_BATCH", 3)
    config = make_config(tmp_path, store_url)
    ListSource.records = records(10, {})
    store = Store.open(store_url)
    sizes = failing_upserts(store, monkeypatch, fails)
    try:
        rep = pull_source(config, store, config.settings.sources[0], 1, full=False)
        assert rep.error == "OperationalError: disk I/O error"
        assert (rep.pulled, rep.new, rep.skipped, rep.quarantined) == (6, stored, 0, 0)
        assert sizes == [3, 3, 3]  # batch 1, batch 2, batch 2 once more; records 6-9 never stored
        assert store.count_items() == stored
        assert store.source_states()[0]["last_error"] == rep.error and store.get_cursor("fb") == {}
    finally:
        store.close()


@pytest.mark.parametrize("store_fails", [False, True])
def test_a_source_failing_after_a_full_batch(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch,
                                            store_fails: bool) -> None:
    """The source fails after a full batch: had storing that batch failed, that failure is the source's
    (the pull stopped there); else the rows read since are stored and the source's error is it."""
    from demandsync.sync import pull as pull_module

    monkeypatch.setattr(pull_module, "_ITEM_BATCH", 3)
    config = make_config(tmp_path, store_url)
    config.source_classes["fb"] = FailingAfter
    FailingAfter.records = records(7, {})
    store = Store.open(store_url)
    failing_upserts(store, monkeypatch, {2, 3} if store_fails else set())
    try:
        rep = pull_source(config, store, config.settings.sources[0], 1, full=False)
        if store_fails:
            assert (rep.error, rep.pulled, rep.new) == ("OperationalError: disk I/O error", 6, 3)
        else:
            assert (rep.error, rep.pulled, rep.new) == ("OSError: the export ended mid-row", 7, 7)
        assert store.count_items() == rep.new and store.get_cursor("fb") == {}
    finally:
        store.close()
