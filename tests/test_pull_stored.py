"""What a pull stores is what earlier versions stored, byte for byte (issue 17).

The pull stage's speed work (the compiled row path, the driver-level insert that writes values in
their stored form, the content hash and the stored time taken from one ``isoformat``) must not move
a single stored value: the content hash decides "unchanged" on the next run, so a moved hash would
re-write and relink every item after an upgrade, and a moved id would double-count it.

The golden digests below are of the rows stored by main before that work (commit fdace1b) for every
shipped export plus each export's last two rows with every cell replaced in turn by a hostile value:
items in row-id order (every column but the id and the run's own timestamps, as the database holds
them), quarantine entries and the pull's counts, per source. They pass on fdace1b as on this branch;
they fail on a change that moves any stored byte (e.g. a stored time without its ``.000000``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from demandsync.config import load_config_data
from demandsync.domain import FeedbackItem
from demandsync.sync.pull import pull_source
from demandsync.sync.store.store import Store

EXPORTS = Path(__file__).parent / "fixtures" / "exports"
ON_PG = os.environ.get("DEMANDSYNC_TEST_STORE", "").startswith("postgresql")

#: Cells that take some branch of reading, mapping or storing: blanks, placeholders, odd dates
#: (microseconds, offsets, zone names, out of range), line ends, separators, epic keys, long text,
#: undecodable bytes, Unicode spaces, quotes and backslashes (JSON and repr escapes).
HOSTILE_CELLS = ["", "   ", "0", "00000-000", "-", "Anonymous", "ANN@Example.COM ", "not a date", "13/01/2026",
                 "2026-01-01 08:00:00 GMT+99", "9999-12-31T23:00:00-05:00",
                 "2024/03/04 3:00:00 PM GMT+3", "2026-03-04T10:17:29.250000", "2026-03-04T10:17:29.000001+05:30",
                 "0001-01-01T00:00:00", "2026-03-04", "a\r\nb", "x; y,\nx", "see PROD-12 and prod-13", "3.5",
                 "x" * 20_001, "caf\udce9", " \t ", " a  b ", "x\u00a0y\u2003z\tw", 'say "hi" \\ back', "ünïcödé ✓"]


#: What two real exports need to be read at all (an ambiguous day/month, a zone abbreviation).
MAPS = {"google-forms-gb.csv": {"dayfirst": True},
        "google_forms_gecko_sustainability_2022.csv": {"timezone": "America/Puerto_Rico"}}


def _exports(workdir: Path) -> list[tuple[str, Path, dict[str, Any]]]:
    """(source name, file, map): every shipped export, and beside each its hostile variant: the
    export, then its last two rows again with each cell in turn replaced by each hostile value."""
    out = []
    for n, path in enumerate(sorted(EXPORTS.rglob("*.csv"))):
        out.append((f"s{n}", path, MAPS.get(path.name, {})))
        with path.open(encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f))
        hostile = list(rows)
        for row in rows[-2:] if len(rows) > 2 else []:
            for pos in range(len(row)):
                for cell in HOSTILE_CELLS:
                    hostile.append([*row[:pos], cell, *row[pos + 1:]])
        text = io.StringIO()
        csv.writer(text, lineterminator="\r\n").writerows(hostile)
        target = workdir / f"hostile-{n}.csv"
        target.write_bytes(text.getvalue().encode("utf-8", "surrogateescape"))  # "caf\udce9": a cp1252 byte
        out.append((f"h{n}", target, MAPS.get(path.name, {})))
    return out


def _config(workdir: Path, store_url: str, files: list[tuple[str, Path, dict[str, Any]]]) -> Any:
    data = {"store": {"url": store_url},
            "jira": {"url": "https://acme.atlassian.net", "email": "a@b.c", "api_token": "t0k3n-h19"},
            "sources": [{"name": name, "kind": "csv", "path": str(path), "max_cell_chars": 20_000,
                         "map": map_} for name, path, map_ in files]}
    return load_config_data(data, workdir / "demandsync.toml")


def stored_digests(workdir: Path, store_url: str) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """Pull every export into the store at ``store_url`` (empty), then pull it again: per source, the
    digest of what the first pull stored, and the second pull's (new, changed, unchanged, quarantined)."""
    files = _exports(workdir)
    config = _config(workdir, store_url, files)
    store = Store.open(store_url)
    digests: dict[str, str] = {}
    again: dict[str, tuple[int, ...]] = {}
    try:
        reports = {src.name: pull_source(config, store, src, 1, full=True) for src in config.settings.sources}
        with store.begin() as conn:
            items = conn.exec_driver_sql(
                "SELECT source, external_id, content_hash, text, requester, account, created_at, url, tags, "
                "epic_hint, votes, extra, deleted, link_fp, has_people FROM items ORDER BY id").fetchall()
            quarantine = conn.exec_driver_sql(
                "SELECT source, locator, reason, raw FROM quarantine ORDER BY id").fetchall()
        for name, rep in reports.items():
            rows = [repr(tuple(r)) for r in items if r[0] == name]
            # a locator names the file by its path: the clone's own place is no stored byte of ours
            rows += [repr(tuple(q)).replace(str(EXPORTS.resolve()), "<exports>") for q in quarantine if q[0] == name]
            rows.append(repr((rep.pulled, rep.new, rep.changed, rep.unchanged, rep.quarantined, rep.skipped,
                              rep.error)))
            digests[name] = hashlib.sha256("\n".join(rows).encode("utf-8", "surrogatepass")).hexdigest()[:16]
        for src in config.settings.sources:  # a hostile file holds one id in several versions: "changed"
            rep = pull_source(config, store, src, 2, full=True)
            again[src.name] = (rep.new, rep.changed, rep.unchanged, rep.quarantined)
    finally:
        store.close()
    return digests, again


#: ``stored_digests`` on main before the pull-stage speed work (fdace1b), per store kind.
GOLDEN: dict[str, dict[str, str]] = {
    "sqlite": {'s0': 'f29a6c57c726b595', 'h0': '8e3cf05feb78ebdf', 's1': 'c71c24331e740fd6',
                'h1': '545a7bfa3eb89c06', 's2': '029165812d319927', 'h2': '7115e00101cd7ef2',
                's3': '983099fc50291292', 'h3': '2b97f206312f1f31', 's4': '31827a10bfcfccd0',
                'h4': 'e596a15f93dbc9b3', 's5': '301d7bab03641c36', 'h5': 'ef8d94ed4cf23a79',
                's6': '3bd708717485757f', 'h6': '3bd708717485757f', 's7': '9dd692f736f658e6',
                'h7': '320026b204662d22', 's8': '3bd708717485757f', 'h8': '3bd708717485757f',
                's9': '55421642af0c84bd', 'h9': '115ffb5ff9d5e0fa', 's10': '72b808d056b855e7',
                'h10': '0113668b9ef61d2c', 's11': 'ace25b13ff86b991', 'h11': 'd62c8c14b9005482',
                's12': '180249334cb1ab18', 'h12': '31a8203035a7d3fc', 's13': 'a63ade47d6436f7a',
                'h13': 'd696e92ee273a85f'},
    "postgresql": {'s0': 'a186e653d56e486c', 'h0': '8077b0beef01d6de', 's1': 'ce2ea8b42429c465',
                    'h1': '545a7bfa3eb89c06', 's2': '06b00f148621c26f', 'h2': '7115e00101cd7ef2',
                    's3': 'b998dd7123c10ee3', 'h3': 'a89c7b4614150a02', 's4': 'bbe3f5695b556dfe',
                    'h4': 'e596a15f93dbc9b3', 's5': '9fc5a3ae795c9893', 'h5': 'ef8d94ed4cf23a79',
                    's6': '3bd708717485757f', 'h6': '3bd708717485757f', 's7': '0a48d3b9ae4fb67b',
                    'h7': '70d91103dd087da7', 's8': '3bd708717485757f', 'h8': '3bd708717485757f',
                    's9': 'f36b258f6f717ec4', 'h9': '115ffb5ff9d5e0fa', 's10': 'a106f6444bb36d85',
                    'h10': '0113668b9ef61d2c', 's11': '521ece9608f39361', 'h11': 'd62c8c14b9005482',
                    's12': '24664eb9c74334ff', 'h12': '4b9e58526b46fe80', 's13': 'f9b320674dc81a54',
                    'h13': '8881df76c5a59337'},
}
#: ... and the re-pull's counts (new, changed, unchanged, quarantined), the same on both.
AGAIN = {'s0': (0, 0, 2, 0), 'h0': (0, 138, 0, 66), 's1': (0, 0, 2, 0), 'h1': (0, 0, 0, 6),
         's2': (0, 0, 2, 0), 'h2': (0, 0, 0, 8), 's3': (0, 0, 4, 1), 'h3': (0, 199, 88, 46),
         's4': (0, 0, 4, 0), 'h4': (0, 0, 0, 22), 's5': (0, 0, 2, 0), 'h5': (0, 0, 0, 24),
         's6': (0, 0, 0, 0), 'h6': (0, 0, 0, 0), 's7': (0, 0, 13, 0), 'h7': (0, 14, 184, 31),
         's8': (0, 0, 0, 0), 'h8': (0, 0, 0, 0), 's9': (0, 0, 1, 0), 'h9': (0, 0, 0, 32),
         's10': (0, 0, 1, 0), 'h10': (0, 0, 0, 40), 's11': (0, 0, 10, 0), 'h11': (0, 0, 0, 106),
         's12': (0, 0, 1, 0), 'h12': (0, 46, 1, 28), 's13': (0, 0, 2, 1), 'h13': (0, 23, 25, 283)}


def test_a_pull_stores_exactly_what_earlier_versions_stored(tmp_path: Path, store_url: str) -> None:
    digests, again = stored_digests(tmp_path, store_url)
    assert digests == GOLDEN["postgresql" if ON_PG else "sqlite"]
    assert again == AGAIN
    # A re-pull of an export finds every stored item unchanged: nothing re-written, nothing relinked.
    assert all(new == changed == 0 for name, (new, changed, *_) in again.items() if name.startswith("s"))


@pytest.mark.parametrize("created_at", [
    datetime(2026, 1, 1, 8, 0, 1, tzinfo=UTC), datetime(2026, 1, 1, 8, 0, 1, 250_000, tzinfo=UTC),
    datetime(2026, 1, 1, 8, 0, 1, 1, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59,
                                                                                          999_999, tzinfo=UTC),
    datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=5, minutes=30))), datetime(2026, 1, 1, 8), None])
def test_stored_time_reads_back_as_the_item_s_instant(store: Store, created_at: datetime | None) -> None:
    """The insert writes a created_at in its stored form without a second ``isoformat``: whatever the
    datetime (microseconds or none, years 1 and 9999, another offset, naive), it is the one the
    store's own column type stores and reads back, and an update of the same item stores it alike."""
    import sqlalchemy as sa

    from demandsync.sync.store.store import ITEMS, item_hash

    item = FeedbackItem("s", "1", "text", created_at=created_at)
    store.upsert_items([item], {})
    with store.begin() as conn:
        fast = conn.exec_driver_sql("SELECT created_at FROM items").scalar()
        conn.execute(sa.update(ITEMS).values(created_at=created_at.astimezone(UTC) if created_at and created_at.tzinfo
                                             else created_at.replace(tzinfo=UTC) if created_at else None))
        reference = conn.exec_driver_sql("SELECT created_at FROM items").scalar()
        assert fast == reference
        assert conn.exec_driver_sql("SELECT content_hash FROM items").scalar() == item_hash(item)


def test_one_batch_over_many_days_and_times_keeps_every_item_s_hash(store: Store) -> None:
    """A batch writes its times' ``isoformat`` from parts (each day's text once): every item of a
    batch spread over days, months, years and times of day (microseconds or none, another offset)
    keeps the content hash its own ``isoformat`` gives, so a re-pull finds it unchanged."""
    from demandsync.sync.store.store import item_hash

    start = datetime(1999, 12, 31, 23, 59, 58, tzinfo=UTC)
    times = [start + timedelta(seconds=s * 90_007, microseconds=s % 3 * 7) for s in range(200)]  # ~7 months
    times += [datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=-3))), start.replace(tzinfo=None)]
    items = [FeedbackItem("s", str(n), "text", created_at=t) for n, t in enumerate(times)]
    store.upsert_items(items, {})
    with store.begin() as conn:
        stored = [h for (h,) in conn.exec_driver_sql("SELECT content_hash FROM items ORDER BY id")]
    assert stored == [item_hash(i) for i in items]
    assert store.upsert_items(items, store.item_hashes("s")).unchanged == len(items)


def test_extra_values_that_compare_equal_are_stored_as_themselves(store: Store) -> None:
    """One batch writes each ``extra`` once per distinct value set; ``True``, ``1`` and ``1.0`` are
    equal in Python but not in the stored JSON (``true``, ``1``, ``1.0``): each row keeps its own."""
    values: list[Any] = [True, 1, 1.0, "1", True, 1, [1], {"a": 1}, "1"]
    store.upsert_items([FeedbackItem("s", str(n), "text", extra={"n": v}) for n, v in enumerate(values)], {})
    with store.begin() as conn:
        stored = [str(e) for (e,) in conn.exec_driver_sql("SELECT extra FROM items ORDER BY id")]
    expected = ['{"n": true}', '{"n": 1}', '{"n": 1.0}', '{"n": "1"}', '{"n": true}', '{"n": 1}', '{"n": [1]}',
                '{"n": {"a": 1}}', '{"n": "1"}']
    assert stored == (expected if not ON_PG else [repr({"n": v}) for v in values])
