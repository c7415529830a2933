"""Client-side cost of the apply stage: CPU per PUT, demandsync vs a stdlib client.

The end-to-end bench (bench/run.py) runs the Jira sandbox in the parent process on the
same cores as the measured child, and pyinstrument sees only the main thread while the
writes run on worker threads. This script isolates the apply stage: the sandbox lives in
this (parent) process, and each measured child writes the same N epics' five demand
fields, so the child's own CPU (``getrusage``, all its threads) is what *our* side of a PUT
costs:

* ``demandsync``: ``JiraTracker`` + ``writeback.apply_plan`` (retry layer, journal in a
  SQLite store, concurrency from ``--concurrency``), exactly as a run applies a plan;
* ``httpx``: what is left when nothing of ours runs: an ``httpx.Client`` with the same basic
  auth sending requests built before the clock starts, one after another (the library's floor
  under our client: send, auth flow, httpcore's pool, h11);
* ``floor``: ``http.client`` on one keep-alive connection, one PUT after another (what
  bench/floor.py does).

    .venv/bin/python bench/apply_speed.py [--epics 2000] [--concurrency 4] [--repeat 3] [--src /tmp/main/src]
    .venv/bin/python bench/apply_speed.py --profile /tmp/apply.txt   # pyinstrument, all threads' time in one view
    .venv/bin/python bench/apply_speed.py --profile /tmp/apply.prof  # cProfile timed by CPU (pstats file + .txt)

A pyinstrument profile is wall time: on the loopback most of it is the sandbox answering (it
shows as ``socket.send``/``recv``). A ``.prof`` path profiles with cProfile on
``time.process_time`` instead, so each function is charged the CPU it spent (cProfile's own
overhead roughly triples the total; the shares are what to read).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402

FIELDS = ("customfield_10050", "customfield_10051", "customfield_10052", "customfield_10055", "customfield_10058")


def values(n: int) -> dict[str, Any]:
    """Five demand values for epic number ``n`` (numbers, a date, a string, as a run writes them)."""
    return {"customfield_10050": 10 + n % 97, "customfield_10051": 5 + n % 41, "customfield_10052": 1 + n % 13,
            "customfield_10055": f"2026-{1 + n % 12:02d}-{1 + n % 28:02d}",
            "customfield_10058": f"exit-survey {n % 50} · typeform {n % 30}"}


def _cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def child_demandsync(url: str, n: int, concurrency: int, profile: str | None) -> dict[str, Any]:
    from demandsync.connectors.jira.tracker import JiraTracker
    from demandsync.sync.store.store import Store
    from demandsync.sync.writeback import ApplyResult, PlannedWrite, apply_plan, write_epic

    tmp = tempfile.mkdtemp(prefix="apply-speed-")
    store = Store.open(f"sqlite:///{tmp}/s.db")
    run_id = store.start_run("bench", os.getpid(), False)
    tracker = JiraTracker(url, email=generate.EMAIL, api_token=generate.TOKEN, allow_insecure_http=True)
    plan = [PlannedWrite(generate.epic_key(i), fid, fid, fid, None, v)
            for i in range(1, n + 1) for fid, v in values(i).items()]
    profiler: Any = None
    if profile and profile.endswith(".prof"):
        import cProfile

        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
    elif profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.001, async_mode="disabled")
        profiler.start()
    c0, w0 = _cpu(), time.perf_counter()
    if profiler is not None:  # pyinstrument sees one thread: the per-PUT path, in this one, epic after epic
        for i in range(1, n + 1):
            write_epic(tracker, generate.epic_key(i), [(0, w) for w in plan[5 * (i - 1):5 * i]])
        result = ApplyResult(epics_written=n)
    else:
        result = apply_plan(tracker, store, run_id, plan, concurrency=concurrency)
    wall, cpu = time.perf_counter() - w0, _cpu() - c0
    if profile and profile.endswith(".prof"):
        import io
        import pstats

        profiler.disable()
        profiler.dump_stats(profile)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(40)
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
        Path(profile).with_suffix(".txt").write_text(text.getvalue(), encoding="utf-8")
    elif profile:
        profiler.stop()
        Path(profile).write_text(profiler.output_text(unicode=True, show_all=True), encoding="utf-8")
    tracker.close()
    store.close()
    import demandsync

    return {"wall_s": wall, "cpu_s": cpu, "epics": result.epics_written, "failed": result.failed,
            "src": str(Path(demandsync.__file__).parent.parent)}


def child_floor(url: str, n: int) -> dict[str, Any]:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=60)
    auth = base64.b64encode(f"{generate.EMAIL}:{generate.TOKEN}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/json", "Accept": "application/json"}
    c0, w0 = _cpu(), time.perf_counter()
    for i in range(1, n + 1):
        conn.request("PUT", f"/rest/api/3/issue/{generate.epic_key(i)}?notifyUsers=false",
                     body=json.dumps({"fields": values(i)}), headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status >= 300:
            raise RuntimeError(f"HTTP {resp.status}")
    wall, cpu = time.perf_counter() - w0, _cpu() - c0
    return {"wall_s": wall, "cpu_s": cpu, "epics": n, "failed": 0}


def child_httpx(url: str, n: int) -> dict[str, Any]:
    import httpx

    client = httpx.Client(auth=(generate.EMAIL, generate.TOKEN), headers={"Accept": "application/json"})
    requests = [client.build_request("PUT", f"{url}/rest/api/3/issue/{generate.epic_key(i)}",
                                     params={"notifyUsers": "false"}, json={"fields": values(i)})
                for i in range(1, n + 1)]
    c0, w0 = _cpu(), time.perf_counter()
    for request in requests:
        response = client.send(request)
        if response.status_code >= 300:
            raise RuntimeError(f"HTTP {response.status_code}")
    wall, cpu = time.perf_counter() - w0, _cpu() - c0
    client.close()
    return {"wall_s": wall, "cpu_s": cpu, "epics": n, "failed": 0}


def spawn(args: list[str], src: str | None = None) -> dict[str, Any]:
    """One measured child; ``src`` first on its PYTHONPATH (another copy of src/, e.g. main's)."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    out = subprocess.run([sys.executable, str(Path(__file__)), "--child", *args], check=True,
                         capture_output=True, text=True, env=env)
    return dict(json.loads(out.stdout))


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        kind, url, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
        if kind == "floor":
            doc = child_floor(url, n)
        elif kind == "httpx":
            doc = child_httpx(url, n)
        else:
            doc = child_demandsync(url, n, int(sys.argv[5]), sys.argv[6] if len(sys.argv) > 6 else None)
        print(json.dumps(doc))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epics", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--src", help="PYTHONPATH for the demandsync children, e.g. main's src/ exported to /tmp")
    ap.add_argument("--profile", help="profile one demandsync child: pyinstrument text (wall) here, or cProfile "
                                      "by CPU when the path ends in .prof (pstats there, text beside it)")
    args = ap.parse_args()
    from demandsync.sandbox.jira import JiraSandbox

    sandbox = JiraSandbox(generate.build_state(args.epics, 1), email=generate.EMAIL, api_token=generate.TOKEN)
    url = sandbox.start()
    try:
        if args.profile:
            d = spawn(["demandsync", url, str(args.epics), str(args.concurrency), args.profile], args.src)
            print(f"profiled run: wall {d['wall_s']:.2f}s cpu {d['cpu_s']:.2f}s -> {args.profile}")
            return 0
        best: dict[str, dict[str, Any]] = {}
        for r in range(args.repeat):
            for kind in ("demandsync", "httpx", "floor") if r % 2 == 0 else ("floor", "httpx", "demandsync"):
                extra = [str(args.concurrency)] if kind == "demandsync" else []
                d = spawn([kind, url, str(args.epics), *extra], args.src)
                print(f"  {kind:10} #{r + 1}: wall {d['wall_s']:.2f}s cpu {d['cpu_s']:.2f}s "
                      f"({d['cpu_s'] / args.epics * 1e6:.0f} us CPU/PUT) epics {d['epics']} failed {d['failed']} "
                      f"load {os.getloadavg()[0]:.1f}" + (f" src {d['src']}" if "src" in d else ""), flush=True)
                if kind not in best or d["cpu_s"] < best[kind]["cpu_s"]:
                    best[kind] = d
    finally:
        sandbox.stop()
    ds, hx, fl = best["demandsync"], best["httpx"], best["floor"]
    print(f"\n{args.epics} PUTs, best of {args.repeat} by CPU: demandsync {ds['cpu_s'] / args.epics * 1e6:.0f} us CPU/PUT "
          f"(wall {ds['wall_s']:.2f}s, {args.concurrency} in flight) vs floor {fl['cpu_s'] / args.epics * 1e6:.0f} us "
          f"(wall {fl['wall_s']:.2f}s, sequential): CPU ratio {ds['cpu_s'] / fl['cpu_s']:.2f}x, "
          f"wall ratio {ds['wall_s'] / fl['wall_s']:.2f}x; httpx alone {hx['cpu_s'] / args.epics * 1e6:.0f} us "
          f"(wall {hx['wall_s']:.2f}s, sequential)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
