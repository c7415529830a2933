"""What the hostile-input guards cost (issue 19). Prints figures; not a test.

- storing a batch of 2,000 items with one row the database refuses (row-by-row fallback)
  against the same batch with none;
- the forget tombstone check per item (none stored, and 1,000 stored);
- :func:`demandsync.cli.untrusted.clean` on plain and on hostile text;
- the secret :class:`~demandsync.connectors.http.redaction.Scrubber` on a 1 MB report.

    .venv/bin/python bench/hostile.py [--store postgresql+psycopg://postgres@127.0.0.1:5432/ds_h19]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from demandsync.cli.untrusted import clean
from demandsync.connectors.http.redaction import Scrubber
from demandsync.domain import FeedbackItem
from demandsync.sync.store.store import Store


def best(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def fresh(url: str) -> Store:
    if url.startswith("postgresql"):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        engine.dispose()
    return Store.open(url)


def batch(tag: str, bad: bool) -> list[FeedbackItem]:
    return [FeedbackItem(source="b", external_id=f"{tag}-{i}", text="bad \udcff" if bad and i == 1000 else f"text {i}",
                         requester=f"p{i}@x.example") for i in range(2000)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", default=None)
    args = parser.parse_args()
    url = args.store or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    store = fresh(url)
    runs = iter(range(1000))
    clean_s = best(lambda: store.upsert_items(batch(f"c{next(runs)}", False), {}))
    dirty_s = best(lambda: store.upsert_items(batch(f"d{next(runs)}", True), {}))
    print(f"store ({url.split(':')[0]}): 2,000 items {clean_s * 1000:.0f} ms; with 1 refused row "
          f"{dirty_s * 1000:.0f} ms (the batch halved until the refused row is alone)")

    people = [f"p{i}@x.example" for i in range(100_000)]
    check = store.forgotten_filter()
    none_s = best(lambda: [check(p) for p in people])
    for i in range(1000):
        store.forget_requester(f"gone{i}@x.example")
    check = store.forgotten_filter()
    some_s = best(lambda: [check(p) for p in people])
    print(f"tombstone check: {none_s / len(people) * 1e9:.0f} ns/item with none stored, "
          f"{some_s / len(people) * 1e9:.0f} ns/item with 1,000 stored")
    store.close()

    plain = [f"We need SSO for account {i}, please" for i in range(100_000)]
    hostile = [f"[/bold] \x1b[31mred\x1b[0m \x1b]8;;http://x\x07{i}\x1b]8;;\x07" for i in range(100_000)]
    print(f"clean(): {best(lambda: [clean(t) for t in plain]) / 1e5 * 1e9:.0f} ns plain, "
          f"{best(lambda: [clean(t) for t in hostile]) / 1e5 * 1e9:.0f} ns hostile (per text)")

    scrubber = Scrubber([f"secret-{i}-value" for i in range(10)], basic_users=["ops@acme.com", "client-id"])
    report = "x" * 1_000_000
    print(f"Scrubber ({len(scrubber.forms)} forms) over 1 MB: {best(lambda: scrubber.text(report)) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
