"""Crash soak: kill ``demandsync run`` with SIGKILL at random points, again and again, and check convergence.

Each trial: a fresh Jira sandbox and store; 1..--max-kills runs each killed at
a random point (before or after any HTTP call Jira sees, or at a random moment
of the client-side work between two calls, where the store commits); then a run
to completion, compared with a clean run (every custom field of every issue,
writes per epic, items in the store, runs marked crashed, writes abandoned, the
lock free at once, nothing left to plan). The harness is the one
``tests/test_crash_safety.py`` uses.

    .venv/bin/python bench/soak.py --trials 50 [--seed 1] [--store postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _harness():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(ROOT / "tests"))  # the harness shares the tests' demo config helper
    spec = importlib.util.spec_from_file_location("crash_harness", ROOT / "tests" / "test_crash_safety.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["crash_harness"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-kills", type=int, default=3, help="crashed runs in a row before the last run")
    parser.add_argument("--store", default="sqlite", help="'sqlite' (a new file per trial) or a PostgreSQL URL "
                                                          "(its public schema is reset per trial)")
    parser.add_argument("--write-concurrency", type=int, default=4,
                        help="[jira] write_concurrency of the runs (the product default is 4)")
    args = parser.parse_args(argv)
    h = _harness()
    h.WRITE_CONCURRENCY = args.write_concurrency
    rng = random.Random(args.seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="demandsync-soak-") as tmp:
        truth = h.calibrate(args.store, Path(tmp) / "truth")
        print(f"clean run: {truth.requests} HTTP calls, {truth.items} items, {truth.seconds:.1f}s; "
              f"store {args.store.split('@')[-1]}", flush=True)
        failures: list[str] = []
        kills = 0
        modes: Counter[str] = Counter()
        for i in range(1, args.trials + 1):
            chain = h.random_chain(rng, truth.requests, args.max_kills)
            result = h.run_trial(chain, truth, args.store, Path(tmp) / "trial")
            kills += sum(result.killed)
            modes.update(p.mode for p, k in zip(result.chain, result.killed, strict=False) if k)
            print(f"{i:3d} {result}", flush=True)
            if not result.ok:
                failures.append(f"trial {i}: {result}")
    elapsed = time.monotonic() - started
    print(f"\ntrials: {args.trials}   runs killed: {kills} ({', '.join(f'{m} {n}' for m, n in sorted(modes.items()))})"
          f"   failures: {len(failures)}   time: {elapsed:.0f}s")
    for f in failures:
        print("  " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
