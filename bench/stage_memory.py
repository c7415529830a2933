"""Which stage of a first full run holds memory, and in which lines: tracemalloc by stage.

``bench/run.py`` prints each child's peak RSS after every stage (``VmHWM``), which says
*which* stage raised the peak. This says *what* it held: one first run, in this process,
against a fresh sandbox, with tracemalloc on (numpy's buffers are traced too); for each
stage the Python-heap figure when it started, its peak inside the stage, what was left at
its end, and the lines holding most at its end. Slow (tracemalloc roughly doubles the
run time): use 100,000 items, not 1,000,000.

    .venv/bin/python bench/stage_memory.py [--items 100000] [--epics 2000] [--out /tmp/bench-mem]
"""

from __future__ import annotations

import argparse
import os
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
import run as bench_run  # noqa: E402

MB = 2**20


def traced(name: str, fn: Callable[..., Any], top: int) -> Callable[..., Any]:
    def wrapper(*a: Any, **kw: Any) -> Any:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        try:
            return fn(*a, **kw)
        finally:
            now, peak = tracemalloc.get_traced_memory()
            snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
            lines = ", ".join(f"{s.traceback[0]} {s.size / MB:.1f}" for s in snap.statistics("lineno")[:top])
            print(f"{name:14} start {start / MB:5.0f} MB  peak {peak / MB:5.0f} MB  end {now / MB:5.0f} MB  | {lines}",
                  flush=True)
    return wrapper


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--epics", type=int, default=2000)
    ap.add_argument("--top", type=int, default=4)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench-mem"))
    args = ap.parse_args()
    w = generate.build(args.out / f"e{args.epics}-i{args.items}", epics=args.epics, items=args.items, seed=1,
                       changed_epics=50)
    site = bench_run.Site(w)
    try:
        os.chdir(w.out)
        from demandsync.config import load_config
        from demandsync.logs import setup_logging
        from demandsync.sync import run as run_mod
        from demandsync.sync.store.store import Store

        setup_logging(quiet=True)
        config = load_config(w.config)
        for name in ("pull_source", "link_items", "stored_demand", "plan_writes", "apply_plan"):
            setattr(run_mod, name, traced(name, getattr(run_mod, name), args.top))
        for name in ("save_epics", "linked_items", "save_demand"):
            setattr(Store, name, traced(name, getattr(Store, name), args.top))
        tracemalloc.start(1)
        report = run_mod.run_sync(config)
        print(f"run exit code {report.exit_code}")
    finally:
        site.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
