"""Reading survey exports: rows per second and peak memory for CSV, XLSX and ZIP.

Prints one line per case: a seeded Hotjar-style export (11 columns, every field quoted,
1 answer in 30 over several lines), read and mapped the way a run does (pull + map),
each case in a fresh process so peak RSS is that case's own.

    .venv/bin/python bench/files.py                 # 100,000 CSV rows, 20,000 XLSX rows
    .venv/bin/python bench/files.py --rows 300000
"""

from __future__ import annotations

import argparse
import csv
import random
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HEADER = ["Number", "User", "Date Submitted", "Country", "Source URL", "Device", "Browser", "OS",
          "Hotjar User ID", "What is one thing we could do better?", "Tags for: What is one thing we could do better?"]
WORDS = "export pdf slow search dark mode calendar sso jira sync mobile offline pricing invoice team".split()


def rows(n: int, seed: int = 12) -> list[list[str]]:
    rng = random.Random(seed)
    out = []
    for i in range(1, n + 1):
        answer = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 40)))
        if i % 30 == 0:
            answer += "\nand another line,\n\"quoted\" too"
        out.append([str(i), f"{i:08x}", f"2026-{1 + i % 12:02d}-{1 + i % 28:02d} 10:{i % 60:02d}:{i % 59:02d}",
                    rng.choice(["Germany", "France", "Peru"]), f"https://x.example/p{i % 97}", "Desktop",
                    "Firefox 130", "Linux", f"{i:08x}-0000-4000-8000-{i:012x}", answer, ""])
    return out


def write(folder: Path, kind: str, n: int) -> str:
    data = rows(n)
    if kind == "xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(HEADER)
        for row in data:
            sheet.append([*row[:10], None])  # trailing empty cell left out, as Excel does
        book.save(folder / "export.xlsx")
        return "export.xlsx"
    with (folder / "export.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(data)
    if kind == "zip":
        with zipfile.ZipFile(folder / "export.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(folder / "export.csv", "hotjar_survey_response_export.csv")
        return "export.zip"
    return "export.csv"


def measure(folder: str, name: str) -> None:
    from demandsync.connectors.base import SourceContext
    from demandsync.connectors.files import FileSource
    from demandsync.domain import FeedbackItem
    from demandsync.mappings.engine import build_mapper

    start = time.perf_counter()
    source = FileSource(FileSource.Options(path=name), SourceContext(name="b", base_dir=Path(folder)))
    mapper = build_mapper("b", None, {})
    items = other = 0
    for record in source.pull({}):
        out = mapper.map(record) if not hasattr(record, "reason") else record
        if isinstance(out, FeedbackItem):
            items += 1
        else:
            other += 1
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{name:12} {items:>8,} items {other:>4} other  {wall:6.2f} s  {items / wall:>9,.0f} rows/s  "
          f"peak RSS {peak:5.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--xlsx-rows", type=int, default=20_000)
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(*args.measure)
        return
    with tempfile.TemporaryDirectory() as folder:
        for kind, n in (("csv", args.rows), ("zip", args.rows), ("xlsx", args.xlsx_rows)):
            name = write(Path(folder), kind, n)
            subprocess.run([sys.executable, __file__, "--measure", folder, name], check=True)


if __name__ == "__main__":
    main()
