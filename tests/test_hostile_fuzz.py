"""Seeded fuzz of the parsers that are not file readers (issue 19): thousands of malformed API
records through every API preset's mapping, and malformed ``links import`` rows. No crash, no
hang, and every record or row accounted for (stored, unchanged, quarantined, skipped or
forgotten; decided, unchanged or a problem naming its row). The file readers' fuzz lives with
the file tests.

The generator is seeded (``FUZZ_SEED``, default 19), so a failure reproduces exactly:
``FUZZ_SEED=7 pytest tests/test_hostile_fuzz.py``.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demandsync.cli.links import export_links, import_links
from demandsync.config import load_config_data
from demandsync.connectors.base import Record, Source
from demandsync.domain import Epic, FeedbackItem, Quarantined
from demandsync.mappings.presets import load_preset
from demandsync.sync.pull import pull_source
from demandsync.sync.store.store import Store

SEED = int(os.environ.get("FUZZ_SEED", "19"))
API_PRESETS = ("canny", "productboard", "pendo-feedback", "uservoice", "hotjar-api", "jira")
RECORDS_PER_PRESET = 1500
NASTY = ["", " ", "\x00", "\udcff", "\ud800x", "=cmd|' /C calc'!A0", "\uff1dSUM(1)", "[/bold]", "\x1b[2J",
         "\u202egnp.exe", "PROD-1", "prod-1", "ABC-", "-1", "NaN", "1e309", "9999-12-31T23:59:59+14:00",
         "0001-01-01T00:00:00-12:00", "2024-02-30", "T", "Z", "ann@x.io", "ANN@X.IO ", "00000000", "null",
         "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\u0301" * 50, "a" * 5000, "mailto:x@y.z", "javascript:alert(1)"]


def value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.35:
        return rng.choice(NASTY)
    if roll < 0.45:
        return rng.choice([None, True, False, 0, -1, 2**63, -(2**70), 1.5, float("nan"), float("inf")])
    if roll < 0.6:
        return "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.randrange(0, 40)))
    if depth < 3 and roll < 0.8:
        return [value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    if depth < 3:
        return {rng.choice(["id", "name", "email", "", "0", "x"]): value(rng, depth + 1) for _ in range(rng.randrange(0, 4))}
    return "leaf"


def paths(ref: Any) -> list[str]:
    """Every column/JSON path a preset's map names (strings, lists of them, dicts of them)."""
    if isinstance(ref, str):
        return [ref.lstrip("?")]
    if isinstance(ref, list):
        return [p for r in ref for p in paths(r)]
    if isinstance(ref, dict):
        return [p for r in ref.values() for p in paths(r)]
    return []


def put(doc: dict[str, Any], path: str, leaf: Any, rng: random.Random) -> None:
    *parents, last = path.split(".")
    node: Any = doc
    for part in parents:
        child = node.get(part) if isinstance(node, dict) else None
        if not isinstance(child, dict):
            child = value(rng) if rng.random() < 0.1 else {}  # sometimes not an object where one is expected
            node[part] = child
        if not isinstance(child, dict):
            return
        node = child
    node[last] = leaf


def records(preset: str, rng: random.Random, n: int) -> list[Record | Quarantined]:
    wanted = paths(load_preset(preset).map_dict())
    out: list[Record | Quarantined] = []
    for i in range(n):
        if rng.random() < 0.02:
            out.append(Record(value(rng), f"fuzz {i}"))  # not a mapping at all
            continue
        doc: dict[str, Any] = {}
        for path in wanted:
            if rng.random() < 0.85:
                put(doc, path, value(rng), rng)
        if rng.random() < 0.7:  # most records have an identity, so some get stored
            put(doc, wanted[0], f"id-{i}-{rng.randrange(10**6)}", rng)
        out.append(Record(doc, f"fuzz {i}"))
    return out


class FuzzSource(Source):
    kind = "fuzz"
    feed: list[Record | Quarantined] = []

    def pull(self, cursor: dict[str, Any]) -> Iterator[Record | Quarantined]:
        yield from self.feed


@pytest.mark.parametrize("preset", API_PRESETS)
def test_malformed_api_records_are_all_accounted_for(tmp_path: Path, store_url: str, preset: str) -> None:
    rng = random.Random(f"{SEED}:{preset}")
    data = {"store": {"url": store_url},
            "jira": {"url": "https://acme.atlassian.net", "email": "a@b.c", "api_token": "t0k3n-fuzz"},
            "sources": [{"name": "fz", "kind": "file", "path": "none.csv", "preset": preset}]}
    config = load_config_data(data, tmp_path / "demandsync.toml")
    config.source_classes["fz"] = FuzzSource
    FuzzSource.feed = records(preset, rng, RECORDS_PER_PRESET)
    store = Store.open(store_url)
    store.upsert_items([FeedbackItem(source="other", external_id="1", text="x", requester="ann@x.io")], {})
    store.forget_requester("ann@x.io")
    try:
        started = time.monotonic()
        rep = pull_source(config, store, config.settings.sources[0], 1, full=False)
        elapsed = time.monotonic() - started
        assert rep.error is None
        assert rep.pulled == RECORDS_PER_PRESET
        assert rep.new + rep.changed + rep.unchanged + rep.quarantined + rep.skipped + rep.forgotten == rep.pulled
        assert rep.new > 0 and rep.quarantined > 0
        assert store.count_items() == rep.new + 0  # the forgotten person's item is gone
        rows = store.quarantined("fz")
        # One row per place: records sharing an identity (fuzzed ids collide) share their row.
        assert 0 < len(rows) <= rep.quarantined and all(q["reason"] for q in rows)
        assert elapsed < 60, f"{RECORDS_PER_PRESET} records took {elapsed:.1f}s"
    finally:
        store.close()


def _row(rng: random.Random, real: list[tuple[str, str]]) -> dict[str, Any]:
    source, item = rng.choice(real) if real and rng.random() < 0.5 else (value(rng), value(rng))
    row: dict[str, Any] = {"source": source, "item_id": item,
                           "epic": rng.choice(["PROD-1", "PROD-2", "NOPE-9", value(rng)]),
                           "state": rng.choice(["accepted", "rejected", "suggested", " Accepted ", value(rng)]),
                           "text": value(rng)}
    for key in list(row):
        if rng.random() < 0.05:
            del row[key]
    if rng.random() < 0.05:
        row[str(value(rng))] = value(rng)
    return row


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_malformed_link_import_rows_are_all_accounted_for(tmp_path: Path, store: Store, fmt: str) -> None:
    rng = random.Random(f"{SEED}:links:{fmt}")
    store.save_epics([Epic(key="PROD-1", id="1", summary="a"), Epic(key="PROD-2", id="2", summary="b")])
    items = [FeedbackItem(source="s", external_id=rng.choice(["-", "=", "'", "", "x"]) + str(i), text=f"t{i}")
             for i in range(50)]
    store.upsert_items(items, {})
    real = [("s", i.external_id) for i in items]
    rows = [_row(rng, real) for _ in range(3000)]
    path = tmp_path / f"links.{fmt}"
    if fmt == "json":
        doc: list[Any] = [*rows, 7, "row", None, [1, 2]]
        path.write_text(json.dumps(doc), encoding="utf-8")
        expected = len(doc)
    else:
        import csv
        import io

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=["source", "item_id", "epic", "state", "text"], extrasaction="ignore",
                                lineterminator="\r\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: str(v).encode("utf-8", "replace").decode() for k, v in row.items()})
        path.write_bytes(buf.getvalue().encode("utf-8"))
        expected = len(list(csv.DictReader(io.StringIO(buf.getvalue(), newline=""))))
    decided, unchanged, problems = import_links(store, path)
    assert decided + unchanged + len(problems) == expected
    assert decided > 0 and problems
    # What was decided is what an export now says; importing that export again changes nothing.
    again = tmp_path / f"again.{fmt}"
    again.write_bytes(export_links(store, "all", fmt).encode("utf-8"))
    d2, u2, p2 = import_links(store, again)
    assert (d2, p2) == (0, []) and u2 > 0


def _mutate(rng: random.Random, doc: dict[str, Any]) -> Any:
    """``doc`` with some fields (or the whole thing) replaced by fuzz."""
    if rng.random() < 0.05:
        return value(rng)
    out = dict(doc)
    for key in list(out):
        if rng.random() < 0.15:
            out[key] = value(rng)
        elif rng.random() < 0.03:
            del out[key]
    return out


def _wire(doc: Any) -> Any:
    """What can travel as JSON: non-finite floats become huge numbers, lone surrogates '?'."""
    if isinstance(doc, float) and doc != doc:
        return 0
    if isinstance(doc, float) and doc in (float("inf"), float("-inf")):
        return 1e308
    if isinstance(doc, str):
        return doc.encode("utf-8", "replace").decode()
    if isinstance(doc, dict):
        return {_wire(k): _wire(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_wire(v) for v in doc]
    return doc


def test_malformed_canny_posts_and_votes_never_stop_the_source(tmp_path: Path, store_url: str) -> None:
    """The connector's own parsing (a post and its voters -> one record) under fuzz, against the
    documented-shape Canny fake (tests/vendor_fakes.py) over real loopback HTTP."""
    from vendor_fakes import CannyFake, canny_post, canny_user

    rng = random.Random(f"{SEED}:canny-http")
    fake = CannyFake()
    for i in range(300):
        extra = {"mergeHistory": [{"post": {"id": f"p{i + 1}"}}]} if rng.random() < 0.02 else {}
        post = _wire(_mutate(rng, canny_post(f"p{i}", "2024-06-01T00:00:00.000Z",
                                             author=canny_user(f"a{i}", f"a{i}@x.example"), **extra)))
        if not isinstance(post, dict):
            fake.posts.append(post)  # a post that is no object at all
            continue
        voters = [_mutate(rng, canny_user(f"u{rng.randrange(200)}", f"u{j}@x.example"))
                  for j in range(rng.randrange(0, 6))]
        fake.add_post(post, voters)
        pid = str(post.get("id"))
        fake.votes[pid] = [_wire(_mutate(rng, v)) for v in fake.votes[pid]]
    with fake.serve() as url:
        data = {"store": {"url": store_url},
                "jira": {"url": "https://acme.atlassian.net", "email": "a@b.c", "api_token": "t0k3n-fuzz"},
                "sources": [{"name": "canny", "kind": "canny", "url": url + "/api/v1", "api_key": fake.key, "page_size": 50,
                             "companies": False}]}
        config = load_config_data(data, tmp_path / "demandsync.toml")
        store = Store.open(store_url)
        try:
            rep = pull_source(config, store, config.settings.sources[0], 1, full=True)
            assert rep.error is None
            assert rep.new + rep.changed + rep.unchanged + rep.quarantined + rep.skipped + rep.forgotten == rep.pulled
            assert rep.new > 0 and rep.quarantined > 0
        finally:
            store.close()
