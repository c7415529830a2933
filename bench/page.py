"""How long the PM's page takes to compute on a large store (SQLite, one process).

Seeds a store with ``--epics`` epics and ``--items`` feedback items (texts
drawn from is22-dev's real reviews, dates over the last 16 weeks), links
``--linked`` of them to random epics, then times what each page needs:
``/`` (epic cards with figures and 12-week sparklines), ``/epics/KEY`` (the
largest epic's items) and ``/inbox`` (candidates for every unlinked item,
themes over the newest ``MAX_ITEMS``).

    .venv/bin/python bench/page.py [--epics 2000] [--items 100000] [--linked 0.7] [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from demandsync.domain import Epic, FeedbackItem, Link
from demandsync.sync import board
from demandsync.sync.store.store import Store

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "is22-dev"


def seed(store: Store, n_epics: int, n_items: int, linked: float, texts: list[str], now: datetime) -> None:
    rnd = random.Random(7)
    words = sorted({w for t in texts for w in t.lower().split() if w.isalpha() and len(w) > 4})
    epics = [Epic(f"PROD-{i}", str(i), " ".join(rnd.sample(words, 3))) for i in range(1, n_epics + 1)]
    store.save_epics(epics)
    items = [FeedbackItem("reviews", f"r{i}", texts[i % len(texts)], requester=f"u{rnd.randrange(n_items // 3)}@x.com",
                          account=f"acct{rnd.randrange(500)}", created_at=now - timedelta(days=rnd.randrange(112)))
             for i in range(n_items)]
    store.upsert_items(items, {})
    ids = [it.item_id for batch in store.items_to_link("seed") for it in batch]
    chosen = ids[: int(len(ids) * linked)]
    store.replace_auto_links(ids, [Link(i, rnd.choice(epics).key, "rule", "accepted", 1.0) for i in chosen], "seed")
    store.save_demand({e.key: {"requests": 0} for e in epics})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epics", type=int, default=2000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--linked", type=float, default=0.7)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    with open(args.data / "reviews.csv", newline="", encoding="utf-8") as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/page.db")
        seed(store, args.epics, args.items, args.linked, texts, now)
        print(f"{args.epics} epics, {args.items} items, {args.linked:.0%} linked")
        started = time.perf_counter()
        cards = board.epic_cards(store, ["requests", "requesters", "accounts"], now)
        print(f"/            {time.perf_counter() - started:6.2f} s  ({len(cards)} epics)")
        biggest = max(cards, key=lambda c: sum(c.weeks)).key
        started = time.perf_counter()
        items = board.epic_items(store, biggest)
        print(f"/epics/KEY   {time.perf_counter() - started:6.2f} s  ({len(items)} items)")
        started = time.perf_counter()
        box = board.inbox(store)
        print(f"/inbox       {time.perf_counter() - started:6.2f} s  ({box.total} unlinked, {len(box.themes)} themes)")
        store.close()


if __name__ == "__main__":
    main()
