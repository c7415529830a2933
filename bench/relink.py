"""Link and count stages alone, on a store built in-process: first link, re-link with nothing new,
re-link after one epic's text changed, and counting twice (the second with nothing changed).

The items are bench/generate.py's texts (same mix: keys, rule words, paraphrased epic summaries,
noise), stored directly, without sources or a tracker, so the figures are the stages' own.
Prints wall and CPU seconds per step, and the time spent writing links (``Store.replace_auto_links``).

    .venv/bin/python bench/relink.py --epics 2000 --items 100000
    .venv/bin/python bench/relink.py --store postgresql+psycopg://postgres@127.0.0.1:5432/ds_bench  # an empty database
    PYTHONPATH=/tmp/othersrc .venv/bin/python bench/relink.py   # another copy of src/, same workload
    .venv/bin/python bench/relink.py --parts   # and CPU seconds per part of each link step
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (bench/generate.py, next to this file)

from demandsync.config import LinkingConfig, RuleConfig  # noqa: E402
from demandsync.domain import Epic, FeedbackItem  # noqa: E402
from demandsync.sandbox.jira import generate_state  # noqa: E402
from demandsync.sync import demand as demand_mod  # noqa: E402
from demandsync.sync import summary as summary_mod  # noqa: E402
from demandsync.sync.linking import link as link_mod  # noqa: E402
from demandsync.sync.store.store import Store  # noqa: E402

WRITES: Counter[str] = Counter()


def timed_writes(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*a: Any, **kw: Any) -> Any:
        s = time.perf_counter()
        try:
            return fn(*a, **kw)
        finally:
            WRITES["s"] += time.perf_counter() - s
    return wrapper


PROFILE: list[str] = []
#: CPU seconds (process_time: every thread) per part of a step, with --parts
PARTS: Counter[str] = Counter()
SHOW_PARTS: list[bool] = []


def timed_part(owner: Any, name: str, label: str) -> None:
    """Count the CPU ``owner.name`` takes into PARTS[label] (a module function or a method)."""
    fn = getattr(owner, name)

    def wrapper(*a: Any, **kw: Any) -> Any:
        c = time.process_time()
        try:
            return fn(*a, **kw)
        finally:
            PARTS[label] += time.process_time() - c
    setattr(owner, name, wrapper)


def time_parts() -> None:
    """The parts of a link step (nested: "similarity" includes "fit", "link" both and the rules)."""
    timed_part(link_mod, "_model_identity", "numpy/scipy import")
    timed_part(link_mod, "learned_from", "learned_from")
    timed_part(link_mod.AutoLinker, "_candidate_rules", "rules prefilter")
    timed_part(link_mod, "build_model", "fit")
    timed_part(link_mod.AutoLinker, "_similar", "similarity (with fit)")
    timed_part(link_mod.AutoLinker, "link", "AutoLinker.link")
    timed_part(Store, "replace_auto_links", "link writes")


class CommentsOnly:
    """Just enough tracker for the managed summary in comment mode: every comment is new."""

    def summary_comments(self, key: str) -> list[tuple[str, str, str | None]]:
        return []

    def own_account_id(self) -> None:
        return None

    def add_summary_comment(self, key: str, content: Any, changed_on: Any) -> str:
        return f"c-{key}"


def step(name: str, fn: Callable[[], Any]) -> Any:
    WRITES.clear()
    PARTS.clear()
    profiler = None
    if PROFILE and name.startswith(PROFILE[0]):
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.002)
        profiler.start()
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=True, show_all=False))
    print(f"{name:<34} wall {time.perf_counter() - w:6.2f} s  cpu {time.process_time() - c:6.2f} s"
          f"  link writes {WRITES['s']:5.2f} s", flush=True)
    if SHOW_PARTS and PARTS:
        print("  cpu s: " + ", ".join(f"{k} {v:.3f}" for k, v in PARTS.items()), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epics", type=int, default=2000)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--store", metavar="URL", help="an empty database to use (default: a temporary SQLite file)")
    ap.add_argument("--profile", metavar="STEP", help="pyinstrument profile of the steps whose name starts so")
    ap.add_argument("--parts", action="store_true", help="CPU seconds per part of each link step (imports, fit, ...)")
    args = ap.parse_args()
    PROFILE.extend([args.profile] if args.profile else [])
    if args.parts:
        SHOW_PARTS.append(True)
        time_parts()
    state = generate_state(n_epics=args.epics, seed=args.seed, project=generate.EPIC_PROJECT)
    summaries = [state.issue(generate.epic_key(n))["fields"]["summary"] for n in range(1, args.epics + 1)]
    epics = [Epic(generate.epic_key(n), str(n), s) for n, s in enumerate(summaries, start=1)]
    rng = random.Random(args.seed)
    texts = generate.Texts(rng, summaries, args.epics)
    now = datetime(2026, 11, 28, tzinfo=UTC)
    items = [FeedbackItem("bench", str(i), texts.draw()[1], requester=f"u{rng.randrange(args.items // 4)}@x.example",
                          account=f"acct{rng.randrange(800)}", created_at=now - timedelta(hours=rng.randrange(24 * 200)))
             for i in range(args.items)]
    rules = [RuleConfig(epic=k, keywords=list(w)) for k, w in generate.rules(args.epics)]
    linking = LinkingConfig()
    Store.replace_auto_links = timed_writes(Store.replace_auto_links)  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp, Store.open(args.store or f"sqlite:///{tmp}/relink.db") as store:
        if store.count_items():
            sys.exit(f"{args.store} is not empty: the steps' figures are for a store of these items only")
        for lo in range(0, len(items), 5000):
            store.upsert_items(items[lo:lo + 5000], {})
        store.save_epics(epics)
        keys = [e.key for e in epics]

        def count(at: datetime = now) -> Any:
            if hasattr(demand_mod, "stored_demand"):
                return demand_mod.stored_demand(store, keys, demand_mod.DemandRules(), at)
            return demand_mod.count_demand(store.iter_linked_items(with_extra=False, with_text=False), keys,
                                           demand_mod.DemandRules(), at)

        step("link, first", lambda: link_mod.link_items(store, epics, rules, linking))
        step("link, nothing new", lambda: link_mod.link_items(store, epics, rules, linking))
        edited = list(epics)
        edited[16] = Epic(epics[16].key, epics[16].id, epics[16].summary, "now also about exporting audit logs")
        stats = step("link, one epic's description edited", lambda: link_mod.link_items(store, edited, rules, linking))
        print(f"  relinked_all={stats.relinked_all} items looked at={stats.linked_items}"
              f" unchanged={getattr(stats, 'unchanged_items', '-')}")
        first = step("count", count)
        again = step("count, nothing changed", count)
        assert first == again, "figures differ"
        later = now + timedelta(hours=1)  # the next cron run: some items left the last 30/90 days
        step("count, nothing changed, 1 h later", lambda: count(later))
        one = items[7]
        store.upsert_items([FeedbackItem(one.source, one.external_id, one.text + " again", requester=one.requester,
                                         account=one.account, created_at=one.created_at)], store.item_hashes("bench"))
        link_mod.link_items(store, epics, rules, linking)
        step("count, one item changed, 1 h later", lambda: count(later))
        print(f"  {sum(d.requests for d in first.values())} requests over {len(first)} epics")
        demand = count(later)

        def summaries() -> Any:  # what the summary stage did with nothing changed: list every linked item
            tracker: Any = CommentsOnly()
            by_epic = summary_mod.items_by_epic(store.linked_items(keys))
            return summary_mod.sync_summaries(tracker, store, keys, demand, by_epic)

        step("summary, first", summaries)
        result = step("summary, nothing changed, every item listed", summaries)
        print(f"  {result.unchanged} unchanged, {result.skipped} skipped")
        if hasattr(summary_mod, "run_basis"):  # the stage now: nothing read when nothing changed
            basis = summary_mod.run_basis(store, epics, demand, {})
            summary_mod.remember_run(store, basis, result)
            again = step("summary, nothing changed, now", lambda: summary_mod.unchanged_since_last_run(
                store, summary_mod.run_basis(store, epics, demand, {})))
            assert again is not None and again.actions == result.actions
        # last, so the steps above measure what they did before it was added: a label saying a word
        # the epic already says changes only that epic's weights (no word's IDF changes)
        labelled = list(epics)
        labelled[40] = Epic(epics[40].key, epics[40].id, epics[40].summary, labels=[epics[40].summary.split()[0]])
        stats = step("link, one epic's label added", lambda: link_mod.link_items(store, labelled, rules, linking))
        print(f"  relinked_all={stats.relinked_all} items looked at={stats.linked_items}"
              f" unchanged={getattr(stats, 'unchanged_items', '-')}")


if __name__ == "__main__":
    main()
