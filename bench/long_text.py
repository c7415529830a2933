"""Link time against the length of one hostile feedback text.

A survey answer that is one very long "word" (a pasted blob: 300k to 1.2M
letters) once made the link stage quadratic in its length (the compound-word
search sliced the word at every position: 12.6 s, 48 s, 185 s). This prints
the time of the whole automatic linker (keys, rules, similarity) on one such
item, and on ordinary text of the same length, for growing lengths: the time
per million characters should stay flat (linear growth).

    .venv/bin/python bench/long_text.py [--lengths 300000,600000,1200000]
"""

from __future__ import annotations

import argparse
import sys
import time

from demandsync.config import LinkingConfig, RuleConfig
from demandsync.domain import Epic
from demandsync.sync.linking.link import AutoLinker

EPICS = [
    Epic(key="PROD-1", id="1", summary="Offline listening", description="Play downloaded songs without a connection."),
    Epic(key="PROD-2", id="2", summary="Dark mode", description="A dark theme for the whole interface."),
    Epic(key="PROD-3", id="3", summary="Export reports to CSV", description="Download any report as a spreadsheet."),
]


def blob(n: int) -> str:
    """One "word" of ``n`` letters that contains epic words (so lookups find prefixes)."""
    unit = "darkmodeofflinexportcsv"
    return (unit * (n // len(unit) + 1))[:n]


def prose(n: int) -> str:
    unit = "please add a dark mode and offline listening, export to csv too. "
    return (unit * (n // len(unit) + 1))[:n]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", default="300000,600000,1200000")
    args = ap.parse_args(argv)
    print("$ " + " ".join([".venv/bin/python", "bench/long_text.py", *(argv if argv is not None else sys.argv[1:])]))
    rules = [RuleConfig(epic="PROD-3", keywords=["csv export"])]
    print(f"{'length':>10} {'kind':<6} {'link s':>8} {'s per 1M chars':>15}")
    for n in (int(x) for x in args.lengths.split(",")):
        for kind, text in (("blob", blob(n)), ("prose", prose(n))):
            linker = AutoLinker(EPICS, rules, LinkingConfig())  # a fresh model: no cached words
            t0 = time.perf_counter()
            linker.link([(1, "survey", text, [])])
            dt = time.perf_counter() - t0
            print(f"{n:>10,} {kind:<6} {dt:>8.3f} {dt / n * 1e6:>15.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
