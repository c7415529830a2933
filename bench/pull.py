"""The pull stage alone: CPU microseconds per row, split into read+map and store, per file source.

Generates (or reuses) the files of a ``bench/generate.py`` workload, then pulls its file
sources into a fresh store twice in one process: the first pull (every row new) and a
re-pull (every row unchanged). CPU time (``time.process_time``), not wall time, so the
figure holds on a shared machine; the per-stage run timings are ``bench/run.py``'s job.

Not the same figure as ``bench/run.py``'s pull stage (issue 17's "pull <= 15 us per row" is that
one: scenario 1's pull stage over all 100,800 rows): run.py's pull also reads the Jira feedback
source (5,000 issues over HTTP, ~30 us of this process's CPU each against ~15 for a CSV row) and
its CPU is the process's, so the epics read on its own thread meanwhile counts too (~0.05 s);
here only the CSV rows, or with ``--jira`` only that source, served by a Jira sandbox in a child
process so that the figure is the client's CPU alone (the HTTP stack imported beforehand, as a
run's epics read has). With ``--profile`` the first pull's CPU includes pyinstrument's own
(2026-11-29: 28 us a row profiled, 15-16 without, same code and load).

    .venv/bin/python bench/pull.py                                  # 100,000 items, SQLite
    .venv/bin/python bench/pull.py --items 20000 --profile /tmp/p.txt
    .venv/bin/python bench/pull.py --store postgresql+psycopg://postgres@127.0.0.1:5432/ds_x
    .venv/bin/python bench/pull.py --jira                           # the 5,000 Jira feedback issues
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (bench/generate.py, next to this file)

from demandsync.config import load_config  # noqa: E402
from demandsync.logs import setup_logging  # noqa: E402
from demandsync.sync.pull import pull_source  # noqa: E402
from demandsync.sync.store.store import ITEMS, Store, make_engine, migrate  # noqa: E402


def _fresh_store(url: str) -> Store:
    engine = make_engine(url)
    migrate(engine)
    store = Store(engine)
    with store.begin() as conn:  # a PostgreSQL bench database is reused: start empty
        for table in ("links", "item_people", "quarantine", "source_state", "items"):
            conn.exec_driver_sql(f"DELETE FROM {table}")
    return store


#: The child process serving the workload's Jira sandbox: prints its URL, serves until stdin closes.
_SANDBOX = """
import sys
sys.path.insert(0, sys.argv[1])
import generate
from demandsync.sandbox.jira import JiraSandbox
state = generate.build_state(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
print(JiraSandbox(state, email=generate.EMAIL, api_token=generate.TOKEN).start(), flush=True)
sys.stdin.read()
"""


def _sandbox(epics: int, seed: int, items: int) -> tuple[subprocess.Popen[str], str]:
    """A Jira sandbox in its own process (its CPU is not the client's) and its URL."""
    child = subprocess.Popen([sys.executable, "-c", _SANDBOX, str(HERE), str(epics), str(seed), str(items)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    return child, child.stdout.readline().strip()


def pull_all(config: Any, store: Store, names: list[str]) -> tuple[float, float, int, dict[str, Any]]:
    """Pull the named sources once: (CPU seconds, wall seconds, rows pulled, reports)."""
    reports = {}
    cpu, wall = time.process_time(), time.perf_counter()
    for src in config.settings.sources:
        if src.name in names:
            reports[src.name] = pull_source(config, store, src, 0, full=True)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu, wall, sum(r.pulled for r in reports.values()), reports


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epics", type=int, default=2000)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "demandsync-bench-pull")
    ap.add_argument("--store", help="store URL (default: a fresh SQLite file under --out)")
    ap.add_argument("--profile", type=Path, help="write a pyinstrument text profile of the first pull here")
    ap.add_argument("--jira", action="store_true", help="pull only the Jira feedback source (sandbox in a child process)")
    args = ap.parse_args(argv)

    workdir = args.out / f"e{args.epics}-i{args.items}"
    if not (workdir / "workload.json").exists():
        generate.build(workdir, epics=args.epics, items=args.items, seed=args.seed)
    # Only the file sources are pulled, or only Jira's; else the Jira URL just has to be valid.
    sandbox, url = _sandbox(args.epics, args.seed, args.items) if args.jira else (None, "http://127.0.0.1:9")
    (workdir / "demandsync.toml").write_text(generate.config_toml(args.epics, url), encoding="utf-8")
    setup_logging(quiet=True)
    config = load_config(workdir / "demandsync.toml")
    kinds = ("jira",) if args.jira else ("csv", "xlsx", "files")
    names = [s.name for s in config.settings.sources if s.kind in kinds]
    if args.jira:
        import httpcore  # noqa: F401  (a run's epics read imports the HTTP stack before any source is pulled)
    db = workdir / "pull-bench.db"
    db.unlink(missing_ok=True)
    store = _fresh_store(args.store or f"sqlite:///{db}")

    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001)
        profiler.start()
    first_cpu, first_wall, rows, reports = pull_all(config, store, names)
    if profiler is not None:
        profiler.stop()
        args.profile.write_text(profiler.output_text(unicode=True, show_all=False), encoding="utf-8")
    again_cpu, again_wall, _, again = pull_all(config, store, names)
    if sandbox is not None:
        sandbox.communicate()  # closes its stdin: it stops
    with store.begin() as conn:
        stored = conn.execute(ITEMS.select().with_only_columns(ITEMS.c.id)).all()
    store.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"pull of {', '.join(names)}: {rows:,} rows, {len(stored):,} items stored")
    if profiler is not None:
        print("  (profiled: the first pull's figures include the profiler's own CPU)")
    print(f"  first pull : {first_cpu:6.2f} s CPU = {first_cpu / rows * 1e6:5.1f} us/row, {first_wall:5.2f} s wall   "
          f"{ {k: (r.new, r.changed, r.unchanged, r.quarantined, r.skipped) for k, r in reports.items()} }")
    print(f"  re-pull    : {again_cpu:6.2f} s CPU = {again_cpu / rows * 1e6:5.1f} us/row, {again_wall:5.2f} s wall   "
          f"{ {k: (r.new, r.changed, r.unchanged, r.quarantined, r.skipped) for k, r in again.items()} }")
    print(f"  peak RSS   : {rss:6.0f} MB   (new, changed, unchanged, quarantined, skipped)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
