"""Start-up time of the ``demandsync`` command against its floor.

The floor is a bare interpreter importing what every command needs anyway
(``python -c "import typer, httpx, pydantic"``). ``demandsync --help`` and
``--version`` must stay within 3x of it (issue 16): the engine, the store
(SQLAlchemy) and the linker (numpy, scipy) are imported by the commands that use
them, not by the CLI module. Each figure is the best of N fresh processes, so a
busy shared machine inflates them less than a mean would.

    .venv/bin/python bench/startup.py [--runs 15] [--limit 3.0]

Exits 1 when a ratio is over ``--limit``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path


def best_of(cmd: list[str], runs: int) -> float:
    """The fastest of ``runs`` wall-clock times of ``cmd`` in a fresh process, in seconds."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - started)
    return best


def demandsync_command() -> list[str]:
    """The installed console script beside this interpreter (what cron runs)."""
    script = Path(sys.executable).parent / "demandsync"
    if script.exists():
        return [str(script)]
    found = shutil.which("demandsync")
    return [found] if found else [sys.executable, "-m", "demandsync.cli.main"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="processes per command; the best counts")
    parser.add_argument("--limit", type=float, default=3.0, help="allowed ratio to the floor")
    args = parser.parse_args()

    floor = best_of([sys.executable, "-c", "import typer, httpx, pydantic"], args.runs)
    print(f"floor  python -c 'import typer, httpx, pydantic'  {floor * 1000:7.1f} ms  (best of {args.runs})")
    over = False
    for flag in ("--help", "--version"):
        took = best_of([*demandsync_command(), flag], args.runs)
        ratio = took / floor
        over |= ratio > args.limit
        print(f"demandsync {flag:<9}                         {took * 1000:7.1f} ms  {ratio:4.2f}x the floor"
              f"{'  OVER the limit' if ratio > args.limit else ''}")
    print(f"limit: {args.limit:.1f}x")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
