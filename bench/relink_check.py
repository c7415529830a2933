"""Exactness check of the edited-epic relink: random epic edits on the benchmark workload, each
followed by the incremental relink, compared row by row with linking the same items from scratch.

``link_items`` keeps the links of items whose texts the refitted model provably scores as the last
one did (``similarity.UnchangedScores``); this drives it through random sequences of edits
(descriptions with rare or common words, labels, summaries, reverts, one to three epics at once)
and stops at the first difference. Prints, per step, the items looked at and kept and how many
links differ from the first link (so a run whose edits changed nothing is visible as such).

    .venv/bin/python bench/relink_check.py                       # 300 epics, 15,000 items, 6 steps, seed 1
    .venv/bin/python bench/relink_check.py --epics 500 --items 30000 --steps 10 --seed 7
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (bench/generate.py, next to this file)

from demandsync.config import LinkingConfig, RuleConfig  # noqa: E402
from demandsync.domain import Epic, FeedbackItem  # noqa: E402
from demandsync.sandbox.jira import generate_state  # noqa: E402
from demandsync.sync.linking.link import link_items  # noqa: E402
from demandsync.sync.store.schema import LINKS  # noqa: E402
from demandsync.sync.store.store import Store  # noqa: E402

COMMON = ("export", "log", "audit", "mobile", "report", "team")


def links(store: Store) -> list[tuple[object, ...]]:
    with store.begin() as conn:
        return sorted(conn.execute(sa.select(LINKS.c.item_id, LINKS.c.epic_key, LINKS.c.method, LINKS.c.state,
                                             LINKS.c.score)).all())


def filled(url: str, items: list[FeedbackItem], epics: list[Epic]) -> Store:
    store = Store.open(url)
    for lo in range(0, len(items), 5000):
        store.upsert_items(items[lo:lo + 5000], {})
    store.save_epics(epics)
    return store


def edited(epics: list[Epic], original: list[Epic], words: list[str], rng: random.Random) -> list[Epic]:
    out = list(epics)
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(out))
        e = out[i]
        kind = rng.choice(("rare words", "common words", "label", "summary", "revert"))
        if kind == "rare words":
            out[i] = replace(e, description=" ".join(rng.sample(words, rng.randint(1, 6))))
        elif kind == "common words":
            out[i] = replace(e, description="now also about " + " ".join(rng.sample(COMMON, 2)))
        elif kind == "label":
            out[i] = replace(e, labels=[rng.choice(words)])
        elif kind == "summary":
            out[i] = replace(e, summary=f"{e.summary} {rng.choice(words)}")
        else:
            out[i] = original[i]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epics", type=int, default=300)
    ap.add_argument("--items", type=int, default=15_000)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1, help="seed of the edits (the workload is seed 1)")
    args = ap.parse_args()

    state = generate_state(n_epics=args.epics, seed=1, project=generate.EPIC_PROJECT)
    summaries = [state.issue(generate.epic_key(n))["fields"]["summary"] for n in range(1, args.epics + 1)]
    original = [Epic(generate.epic_key(n), str(n), s) for n, s in enumerate(summaries, start=1)]
    draw = generate.Texts(random.Random(1), summaries, args.epics)
    now = datetime(2026, 11, 28, tzinfo=UTC)
    items = [FeedbackItem("bench", str(i), draw.draw()[1], requester=f"u{i}@x.example", created_at=now)
             for i in range(args.items)]
    rules = [RuleConfig(epic=k, keywords=list(w)) for k, w in generate.rules(args.epics)]
    cfg = LinkingConfig()
    words = sorted({w for s in summaries for w in s.lower().split() if w.isalpha()})
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp, filled(f"sqlite:///{tmp}/kept.db", items, original) as kept:
        link_items(kept, original, rules, cfg)
        first = set(links(kept))
        epics = original
        for step in range(args.steps):
            epics = edited(epics, original, words, rng)
            kept.save_epics(epics)
            stats = link_items(kept, epics, rules, cfg)
            with filled(f"sqlite:///{tmp}/scratch{step}.db", items, epics) as scratch:
                link_items(scratch, epics, rules, cfg)
                want = links(scratch)
            got = links(kept)
            print(f"step {step}: looked at {stats.linked_items:,}, kept unread {stats.unchanged_items:,}; "
                  f"{len(set(got) ^ first):,} links differ from the first link; equal to scratch: {got == want}",
                  flush=True)
            if got != want:
                print("  only incremental:", sorted(set(got) - set(want))[:5])
                print("  only from scratch:", sorted(set(want) - set(got))[:5])
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
