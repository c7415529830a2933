"""demandsync end-to-end benchmark: wall time, peak RSS and HTTP requests per scenario.

Each measured run is a fresh ``python`` subprocess (what cron starts), talking
over loopback HTTP to the Jira sandbox that lives in *this* process. Peak RSS
is the child's own high-water mark (``VmHWM`` from ``/proc/self/status``, read by
the child as it exits). Not ``ru_maxrss``: on Linux a child started by fork/vfork +
exec carries the *parent's* RSS at that moment into its ``ru_maxrss``, so a 60 MB
child of a 250 MB parent reported 250 MB. Requests are counted at the sandbox by
(method, route).

Scenarios (``--scenarios 1,2,3,4``):
  1  first full run: empty store, epics without demand values
  2  re-run with nothing new: zero writes expected
  3  re-run after 1 % new items naming ``--changed-epics`` epics: exactly that many PUTs
  4  as 1, with the sandbox sleeping ``--latency`` seconds per request
and ``epic-read``: demandsync's ``JiraTracker.epics`` vs pycontribs ``jira``'s
``enhanced_search_issues`` on the same sandbox (each in its own subprocess).

    .venv/bin/python bench/run.py                       # 2,000 epics, 100,000 items, all scenarios
    .venv/bin/python bench/run.py --epics 200 --items 2000 --repeat 1
    .venv/bin/python bench/run.py --scale --items-list 10000,100000,1000000
    .venv/bin/python bench/run.py --src /tmp/benchsrc   # measure a patched copy of src/

Results: a table on stdout and ``bench/results/<timestamp>-<mode>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (bench/generate.py, next to this file)

PUT = ("PUT", "/rest/api/3/issue/{key}")
SEARCH = ("POST", "/rest/api/3/search/jql")


# =====================================================================================
# Child side: one measured process
# =====================================================================================


def child_run(config_path: str) -> dict[str, Any]:
    """One ``run_sync`` with per-stage timings (wrapping the stage functions run.py calls)."""
    t0 = time.perf_counter()
    import demandsync
    try:
        from demandsync.cli import gcfreeze
    except ImportError:  # a --src from before cli/gcfreeze.py: measured as it ran then
        gcfreeze = None  # type: ignore[assignment]
    from demandsync.config import load_config
    from demandsync.logs import setup_logging
    from demandsync.sync import run as run_mod
    from demandsync.sync.store.store import Store

    imported = time.perf_counter() - t0
    stages: Counter[str] = Counter()
    #: Peak RSS (MB) of the process when each stage last finished: ru_maxrss only grows, so the
    #: first stage whose figure jumps is the one that raised the peak.
    peak_after: dict[str, float] = {"imports": _maxrss_mb()}
    stages_cpu: Counter[str] = Counter()  # process CPU seconds per stage: what a loaded machine does not blur

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **kw: Any) -> Any:
            s, c = time.perf_counter(), time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                stages[name] += time.perf_counter() - s
                peak_after[name] = _maxrss_mb()
                stages_cpu[name] += time.process_time() - c
        return wrapper

    run_mod.pull_source = timed("pull", run_mod.pull_source)
    run_mod.link_items = timed("link", run_mod.link_items)
    for counting in ("stored_demand", "count_demand"):  # count_demand: a --src from before the count cache
        if hasattr(run_mod, counting):
            setattr(run_mod, counting, timed("count", getattr(run_mod, counting)))
    run_mod.plan_writes = timed("plan", run_mod.plan_writes)
    run_mod.apply_plan = timed("apply", run_mod.apply_plan)
    Store.save_epics = timed("save_epics", Store.save_epics)
    Store.linked_items = timed("count", Store.linked_items)  # the query feeding count_demand
    Store.save_demand = timed("apply", Store.save_demand)

    def tracker_factory(config: Any) -> Any:
        tracker = run_mod.build_tracker(config)
        epics = tracker.epics

        def read_all(*a: Any, **kw: Any) -> Any:
            s = time.perf_counter()
            out = list(epics(*a, **kw))
            stages["epics"] += time.perf_counter() - s
            peak_after["epics"] = _maxrss_mb()
            return iter(out)

        tracker.epics = read_all
        return tracker

    setup_logging(quiet=True)
    config = load_config(config_path)
    if gcfreeze is not None:
        gcfreeze.enable()  # a process of its own, like the `demandsync` executable (cli/main.py: main, run)
        gcfreeze.after_imports()
    profile = os.environ.get("BENCH_PROFILE")
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.002)
        profiler.start()
    s = time.perf_counter()
    report = run_mod.run_sync(config, tracker_factory=tracker_factory)
    run_s = time.perf_counter() - s
    peak_after["run"] = _maxrss_mb()
    if profiler is not None:
        profiler.stop()
        Path(profile).write_text(profiler.output_text(unicode=True, show_all=False, timeline=False), encoding="utf-8")
        Path(profile).with_suffix(".html").write_text(profiler.output_html(), encoding="utf-8")
    doc = report.as_dict()
    planned_epics = sorted({w["epic"] for w in doc.pop("plan")})
    doc.pop("demand")
    if gcfreeze is not None:
        gcfreeze.before_exit()
    return {"import_s": round(imported, 3), "run_s": round(run_s, 3), "stages": {k: round(v, 3) for k, v in stages.items()},
            "stages_cpu": {k: round(v, 3) for k, v in stages_cpu.items()},
            "peak_rss_after": peak_after, "planned_epics": planned_epics, "report": doc, "src": str(Path(demandsync.__file__).parent)}


def _maxrss_mb() -> float:
    """This process's peak RSS so far (MB): ``VmHWM``, not ``ru_maxrss`` (see the module docstring)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(round(int(line.split()[1]) / 1024, 1) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def child_epics(tool: str, url: str, jql: str, fields: str) -> dict[str, Any]:
    """Read every epic once with ``tool`` (client construction included, imports not)."""
    field_list = fields.split(",")
    if tool == "demandsync":
        from demandsync.connectors.jira.tracker import JiraTracker

        s = time.perf_counter()
        tracker = JiraTracker(url, email=generate.EMAIL, api_token=generate.TOKEN, allow_insecure_http=True)
        n = sum(1 for _ in tracker.epics(jql, [f for f in field_list if f.startswith("customfield_")]))
        tracker.close()
    else:
        from jira import JIRA

        s = time.perf_counter()
        # get_server_info stays True (one GET serverInfo): enhanced_search_issues is @cloud_api and silently
        # returns None unless serverInfo said deploymentType "Cloud".
        # rest_api_version "3": the default "2" asks /rest/api/2/search/jql, a route the sandbox (v3 only) lacks.
        # check_update=False: otherwise the first JIRA() asks PyPI for a newer release of the package.
        client = JIRA(server=url, basic_auth=(generate.EMAIL, generate.TOKEN),
                      options={"rest_api_version": "3", "check_update": False})
        n = len(client.enhanced_search_issues(jql, maxResults=False, fields=field_list))
        client.close()
    return {"seconds": round(time.perf_counter() - s, 3), "epics": n}


# =====================================================================================
# Parent side
# =====================================================================================


#: Runs a script as ``__main__`` and, as the interpreter exits, writes the process's own peak RSS
#: (``VmHWM``, which exec resets, unlike ``ru_maxrss``) to stderr for :func:`spawn`.
_HWM_WRAPPER = (
    "import atexit, runpy, sys\n"
    "def _hwm():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            sys.stderr.write('\\nBENCH_VMHWM_KB ' + line.split()[1] + '\\n'); sys.stderr.flush()\n"
    "atexit.register(_hwm)\n"
    "sys.argv = sys.argv[1:]\n"
    "sys.path[0] = __import__('os').path.dirname(sys.argv[0])\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def _child_peak_mb(stderr: bytes, fallback_kib: int) -> float:
    """The child's own peak RSS in MB: its ``VmHWM`` line, or ``ru_maxrss`` where /proc is missing."""
    for line in reversed(stderr.decode(errors="replace").splitlines()):
        if line.startswith("BENCH_VMHWM_KB "):
            return round(int(line.split()[1]) / 1024, 1)
    return round(fallback_kib / 1024, 1)


def spawn(args: list[str], src: str | None, extra_env: dict[str, str] | None = None,
          script: list[str] | None = None) -> dict[str, Any]:
    """Run ``bench/run.py --child …`` (or ``script``) in a fresh interpreter; wall time and peak RSS of
    that child only."""
    env = dict(os.environ) | (extra_env or {})
    if src:
        env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    err = open(os.devnull, "wb")  # noqa: SIM115
    s = time.perf_counter()
    target = script if script else [str(Path(__file__)), "--child", *args]
    cmd = [sys.executable, "-c", _HWM_WRAPPER, *target]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    out, errb = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - s
    proc.returncode = os.waitstatus_to_exitcode(status)
    err.close()
    if proc.returncode != 0:
        raise RuntimeError(f"child {args[0]} failed ({proc.returncode}):\n{errb.decode(errors='replace')[-3000:]}")
    doc = json.loads(out)
    doc["wall_s"] = round(wall, 3)
    doc["peak_rss_mb"] = _child_peak_mb(errb, usage.ru_maxrss)  # ru_maxrss: Linux KiB
    doc["cpu_s"] = round(usage.ru_utime + usage.ru_stime, 2)
    return doc


class Site:
    """A fresh sandbox holding the workload's epics and Jira feedback; config pointed at it."""

    def __init__(self, w: generate.Workload, latency: float = 0.0, similarity: bool = True) -> None:
        from demandsync.sandbox.jira import JiraSandbox

        self.w = w
        self.state = generate.build_state(w.epics, w.seed, w.items)
        self.sandbox = JiraSandbox(self.state, email=generate.EMAIL, api_token=generate.TOKEN, latency=latency)
        self.url = self.sandbox.start()
        out = Path(w.out)
        for db in [*out.glob("bench.db*"), *out.glob("floor.db*")]:
            db.unlink()
        (out / "exports" / "hotjar-exit-survey-2026-04.csv").unlink(missing_ok=True)
        text = generate.config_toml(w.epics, self.url, similarity)
        (out / "demandsync.toml").write_text(text, encoding="utf-8")

    def close(self) -> None:
        self.sandbox.stop()

    def requests(self) -> dict[str, int]:
        return {f"{m} {r}": n for (m, r), n in sorted(self.sandbox.requests.items())}

    def add_delta(self) -> int:
        out = Path(self.w.out)
        shutil.copy2(out / "delta" / "hotjar-exit-survey-2026-04.csv", out / "exports")
        return generate.add_jira_delta(self.state, self.w.items, self.w.seed, self.w.delta_epics)


PROFILE_DIR: Path | None = None  # --profile: pyinstrument report per measured run


def measure(site: Site, name: str, src: str | None) -> dict[str, Any]:
    site.sandbox.reset_counters()
    env = {}
    if PROFILE_DIR is not None:
        env["BENCH_PROFILE"] = str(PROFILE_DIR / f"scenario{name}-e{site.w.epics}-i{site.w.items}.txt")
    doc = spawn(["run", site.w.config], src, env)
    doc["requests"] = site.requests()
    doc["puts"] = site.sandbox.requests.get(PUT, 0)
    doc["epics_written"] = len(site.sandbox.writes)
    doc["scenario"] = name
    if doc["report"]["exit_code"] != 0:
        print(f"  ! {name}: exit {doc['report']['exit_code']}: {doc['report']['errors'][:3]}", file=sys.stderr)
    return doc


def measure_floor(site: Site, name: str) -> dict[str, Any]:
    """The stdlib floor client (bench/floor.py) on its own site: the same workload, the same sandbox."""
    site.sandbox.reset_counters()
    doc = spawn([], None, script=[str(HERE / "floor.py"), site.w.config])
    doc["puts"] = site.sandbox.requests.get(PUT, 0)
    doc["requests"] = site.requests()
    doc["scenario"] = name
    print(f"  floor    {name} : wall {doc['wall_s']:.2f}s cpu {doc['cpu_s']:.1f}s rss {doc['peak_rss_mb']:.0f} MB "
          f"PUT {doc['puts']}  load {os.getloadavg()[0]:.1f}  stages {doc.get('stages', {})}", flush=True)
    return doc


def run_floor(w: generate.Workload, scenarios: list[str], results: dict[str, list[dict[str, Any]]]) -> None:
    """Scenarios 1-3 for the floor client, on a fresh site of its own (its figures differ from ours)."""
    site = Site(w)
    try:
        f1 = measure_floor(site, "1")
        if "1" in scenarios:
            results.setdefault("floor-1", []).append(f1)
        if "2" in scenarios:
            results.setdefault("floor-2", []).append(measure_floor(site, "2"))
        if "3" in scenarios:
            site.add_delta()
            results.setdefault("floor-3", []).append(measure_floor(site, "3"))
    finally:
        site.close()


def epic_pages(n_epics: int, page: int = 100) -> int:
    return max(1, -(-n_epics // page))


def run_scenarios(w: generate.Workload, scenarios: list[str], repeat: int, latency: float, latency_repeat: int,
                  src: str | None, compare: bool, similarity: bool = True) -> dict[str, list[dict[str, Any]]]:
    results: dict[str, list[dict[str, Any]]] = {}
    if {"1", "2", "3"} & set(scenarios) or compare:
        for r in range(repeat):
            site = Site(w, similarity=similarity)
            try:
                s1 = measure(site, "1", src)  # needed by 2 and 3 even when not reported
                if "1" in scenarios:
                    results.setdefault("1", []).append(s1)
                    _progress("1", r, s1)
                if "2" in scenarios:
                    s2 = measure(site, "2", src)
                    results.setdefault("2", []).append(s2)
                    _progress("2", r, s2)
                if "3" in scenarios:
                    added_jira = site.add_delta()
                    s3 = measure(site, "3", src)
                    s3["changed_epics"] = len(w.delta_epics)
                    s3["delta_items"] = w.delta_items - w.delta_jira + added_jira
                    s3["k_equals_writes"] = (s3["puts"] == len(w.delta_epics)
                                             and set(s3["planned_epics"]) == set(w.delta_epics))
                    results.setdefault("3", []).append(s3)
                    _progress("3", r, s3)
                    assert s3["k_equals_writes"], (
                        f"K={len(w.delta_epics)} epics changed but {s3['puts']} PUTs; planned epics not in K: "
                        f"{sorted(set(s3['planned_epics']) - set(w.delta_epics))[:10]}")
                if compare and r == 0:
                    results["epic-read"] = compare_epic_read(site, w, repeat, src)
            finally:
                site.close()
            run_floor(w, scenarios, results)  # interleaved with ours, so both see the same machine load
    if "4" in scenarios:
        for r in range(latency_repeat):
            site = Site(w, latency=latency)
            try:
                s4 = measure(site, "4", src)
                s4["latency_s"] = latency
                results.setdefault("4", []).append(s4)
                _progress("4", r, s4)
            finally:
                site.close()
    return results


def compare_epic_read(site: Site, w: generate.Workload, repeat: int, src: str | None) -> list[dict[str, Any]]:
    from demandsync.connectors.jira.tracker import EPIC_FIELDS

    jql = f"project = {generate.EPIC_PROJECT} AND issuetype = Epic ORDER BY key"
    value_fields = [f"customfield_{n}" for n in (10050, 10051, 10052, 10055, 10058)]
    fields = ",".join([*EPIC_FIELDS, *value_fields])
    out = []
    for r in range(max(3, repeat)):
        for tool in ("demandsync", "pycontribs") if r % 2 == 0 else ("pycontribs", "demandsync"):
            site.sandbox.reset_counters()
            doc = spawn(["epics", tool, site.url, jql, fields], src)
            doc.update(tool=tool, requests=site.requests())
            out.append(doc)
            print(f"  epic-read {tool:10} #{r + 1}: {doc['seconds']:.3f}s  {doc['epics']} epics  {doc['requests']}",
                  flush=True)
    return out


def _progress(name: str, r: int, d: dict[str, Any]) -> None:
    print(f"  scenario {name} #{r + 1}: wall {d['wall_s']:.2f}s (run {d['run_s']:.2f}s, import {d['import_s']:.2f}s) "
          f"cpu {d['cpu_s']:.1f}s rss {d['peak_rss_mb']:.0f} MB  PUT {d['puts']}  load {os.getloadavg()[0]:.1f}  "
          f"stages {d['stages']}  cpu {d.get('stages_cpu')}", flush=True)
    print(f"      peak RSS (MB) after each stage: {d['peak_rss_after']}", flush=True)


# ---- reporting ------------------------------------------------------------------------

TARGETS = {"1": (None, 300.0), "2": (None, None), "3": (None, None), "4": (None, None)}
#: Issue 17's peak RSS target for a first run of 1,000,000 items (scenario 1's 300 MB is for 100,000).
RSS_TARGET_1M = 400.0
#: demandsync's best wall / the floor client's best wall, both measured in the same benchmark run.
RATIO_TARGETS = {"1": 2.0, "2": 1.3, "3": 1.5}
TITLES = {"1": "first full run", "2": "re-run, nothing new", "3": "re-run, 1% new items",
          "4": "first run, +latency/request"}


def best(samples: list[dict[str, Any]]) -> dict[str, Any]:
    return min(samples, key=lambda d: d["wall_s"])


def summarize(results: dict[str, list[dict[str, Any]]], w: generate.Workload) -> list[dict[str, Any]]:
    rows = []
    for name in ("1", "2", "3", "4"):
        if name not in results:
            continue
        samples = results[name]
        b = best(samples)
        row = {
            "scenario": name, "title": TITLES[name], "runs": len(samples),
            "wall_s": b["wall_s"], "wall_all": [d["wall_s"] for d in samples], "run_s": b["run_s"],
            "import_s": b["import_s"], "peak_rss_mb": max(d["peak_rss_mb"] for d in samples),
            "cpu_s": b["cpu_s"], "stages": b["stages"], "requests": b["requests"],
            "total_requests": sum(b["requests"].values()), "puts": b["puts"],
            "writes_planned": b["report"]["writes"]["planned"], "exit_code": b["report"]["exit_code"],
            "sources": {k: {x: v[x] for x in ("pulled", "new", "changed", "quarantined", "skipped")}
                        for k, v in b["report"]["sources"].items()},
            "links": b["report"]["links"],
        }
        floor = results.get(f"floor-{name}")
        if floor:
            row["floor_wall_s"] = best(floor)["wall_s"]
            row["floor_wall_all"] = [d["wall_s"] for d in floor]
            row["ratio"] = round(row["wall_s"] / row["floor_wall_s"], 2)
        wall_target, rss_target = TARGETS[name]
        if name == "1" and w.items >= 1_000_000:
            rss_target = RSS_TARGET_1M
        checks = []
        if name in RATIO_TARGETS and "ratio" in row:
            checks.append(("ratio", row["ratio"] <= RATIO_TARGETS[name], f"<= {RATIO_TARGETS[name]:g}x floor"))
        if wall_target:
            checks.append(("wall", row["wall_s"] <= wall_target, f"<= {wall_target:g}s"))
        if rss_target:
            checks.append(("rss", row["peak_rss_mb"] <= rss_target, f"<= {rss_target:g} MB"))
        if name == "2":
            # epic pages + one search page for the Jira source; the run also reads /field once and the
            # Jira source asks /myself for the account's time zone (its cursor is in that zone).
            want = epic_pages(w.epics) + 1
            searches = b["requests"].get(" ".join(SEARCH), 0)
            checks.append(("zero writes", b["puts"] == 0 and row["writes_planned"] == 0, "0 PUT"))
            checks.append(("requests", searches == want, f"search pages == {want} (epic pages + 1 per API source)"))
            row["requests_expected"] = {"search pages": want, "other": "GET field, GET myself"}
        if name == "3":
            row["changed_epics"] = b["changed_epics"]
            row["k_equals_writes"] = all(d["k_equals_writes"] for d in samples)
            checks.append(("K epics -> K PUTs", row["k_equals_writes"], f"PUT == {b['changed_epics']}"))
        row["checks"] = [{"check": c, "ok": ok, "target": t} for c, ok, t in checks]
        rows.append(row)
    return rows


def print_table(rows: list[dict[str, Any]], cmp: dict[str, Any] | None, w: generate.Workload,
                spine: bool = False) -> None:
    linking = "; --spine: keys and rules only, similarity off" if spine else ""
    print(f"\n== demandsync bench: {w.epics:,} epics, {w.items:,} items (seed {w.seed}) on "
          f"{os.cpu_count()} cores; best of N wall, max peak RSS{linking} ==")
    hdr = (f"{'scenario':32} {'wall s':>7} {'floor s':>7} {'ratio':>6} {'run s':>6} {'cpu s':>6} {'RSS MB':>7} "
           f"{'PUT':>5} {'requests':>8}  checks")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        checks = ", ".join(f"{c['check']} {'OK' if c['ok'] else 'MISS'} ({c['target']})" for c in r["checks"])
        floor_s = f"{r['floor_wall_s']:7.2f}" if "floor_wall_s" in r else f"{'-':>7}"
        ratio = f"{r['ratio']:5.2f}x" if "ratio" in r else f"{'-':>6}"
        print(f"{r['scenario'] + ' ' + r['title']:32} {r['wall_s']:7.2f} {floor_s} {ratio} {r['run_s']:6.2f} "
              f"{r['cpu_s']:6.1f} {r['peak_rss_mb']:7.0f} "
              f"{r['puts']:5d} {r['total_requests']:8d}  {checks}")
    for r in rows:
        print(f"\n[{r['scenario']}] {r['title']}: walls {r['wall_all']}  stages {r['stages']}")
        print(f"    requests: {r['requests']}")
        print(f"    sources: {r['sources']}  links: {r['links']}")
    if cmp:
        print(f"\nepic read ({cmp['epics']} epics, same sandbox, best of {cmp['runs']}): demandsync "
              f"{cmp['demandsync_s']:.3f}s vs pycontribs jira {cmp['pycontribs_s']:.3f}s -> "
              f"pycontribs/demandsync = {cmp['ratio']:.2f}x  ({'OK' if cmp['ok'] else 'MISS'}: demandsync at least "
              f"as fast)")
        print(f"    demandsync requests: {cmp['demandsync_requests']}")
        print(f"    pycontribs requests: {cmp['pycontribs_requests']}")


def summarize_compare(samples: list[dict[str, Any]]) -> dict[str, Any]:
    ds = [d for d in samples if d["tool"] == "demandsync"]
    pc = [d for d in samples if d["tool"] == "pycontribs"]
    b_ds, b_pc = min(ds, key=lambda d: d["seconds"]), min(pc, key=lambda d: d["seconds"])
    return {"epics": b_ds["epics"], "runs": len(ds), "demandsync_s": b_ds["seconds"], "pycontribs_s": b_pc["seconds"],
            "demandsync_all": [d["seconds"] for d in ds], "pycontribs_all": [d["seconds"] for d in pc],
            "ratio": round(b_pc["seconds"] / b_ds["seconds"], 2), "ok": b_ds["seconds"] <= b_pc["seconds"],
            "demandsync_rss_mb": min(d["peak_rss_mb"] for d in ds), "pycontribs_rss_mb": min(d["peak_rss_mb"] for d in pc),
            "demandsync_requests": b_ds["requests"], "pycontribs_requests": b_pc["requests"]}


def run_scale(args: argparse.Namespace) -> dict[str, Any]:
    series = []
    for n in args.items_list:
        t = time.perf_counter()
        w = generate.build(args.out / f"scale-{n}", epics=args.epics, items=n, seed=args.seed,
                           changed_epics=args.changed_epics)
        print(f"scale: generated {n:,} items in {time.perf_counter() - t:.1f}s", flush=True)
        samples = []
        for r in range(args.scale_repeat):
            site = Site(w)
            try:
                d = measure(site, "1", args.src)
            finally:
                site.close()
            _progress(f"1 @{n:,}", r, d)
            samples.append(d)
        b = best(samples)
        series.append({"items": n, "wall_s": b["wall_s"], "run_s": b["run_s"], "peak_rss_mb": max(d["peak_rss_mb"] for d in samples),
                       "stages": b["stages"], "walls": [d["wall_s"] for d in samples], "puts": b["puts"],
                       "requests": sum(b["requests"].values())})
        if not args.keep:
            shutil.rmtree(w.out, ignore_errors=True)
    base = series[0]
    print(f"\n== scale: {args.epics:,} epics, first full run, best of {args.scale_repeat} ==")
    print(f"{'items':>10} {'wall s':>8} {'run s':>8} {'RSS MB':>7} {'us/item':>8} {'x items':>8} {'x run time':>10}  stages")
    for s in series:
        s["us_per_item"] = round(s["run_s"] / s["items"] * 1e6, 1)
        s["items_ratio"] = round(s["items"] / base["items"], 2)
        s["time_ratio"] = round(s["run_s"] / base["run_s"], 2)
        print(f"{s['items']:>10,} {s['wall_s']:8.2f} {s['run_s']:8.2f} {s['peak_rss_mb']:7.0f} {s['us_per_item']:8.1f} "
              f"{s['items_ratio']:8.1f} {s['time_ratio']:10.2f}  {s['stages']}")
    return {"epics": args.epics, "series": series}


def save(kind: str, doc: dict[str, Any]) -> Path:
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    path = results / f"{datetime.now():%Y%m%d-%H%M%S}-{kind}.json"
    doc["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                      "load_avg_at_end": os.getloadavg()}
    path.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    return path


def compile_bytecode(src: str) -> None:
    """Compile the measured ``demandsync`` package's modules to bytecode once, before any child runs.

    An installed demandsync has its ``.pyc`` files (pip compiles them at install), and so does the
    standard library the floor client imports. A copy of ``src/`` has none, and where
    ``PYTHONDONTWRITEBYTECODE`` is set (it was on the machine these figures come from) no child
    writes them, so every measured child compiled each demandsync module it imported from source,
    a cost no installed ``demandsync run`` pays. Scenario 1, the same code with and without them
    (7 alternating pairs): the child's CPU outside its stages (start, imports, exit) 0.72-0.78 ->
    0.64-0.71 s; its imports 0.29-0.35 -> 0.24-0.34 s wall. ``compileall`` writes them whatever
    that variable says; a child still compiles any module changed since."""
    import compileall

    compileall.compile_dir(str(Path(src) / "demandsync"), quiet=1)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        kind, rest = argv[1], argv[2:]
        doc = child_run(*rest) if kind == "run" else child_epics(*rest)
        sys.stdout.write(json.dumps(doc, default=str))
        return 0
    ap = argparse.ArgumentParser(description="demandsync end-to-end benchmark (see bench/README.md)")
    ap.add_argument("--epics", type=int, default=2000)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scenarios", default="1,2,3,4", help="comma list of 1,2,3,4")
    ap.add_argument("--latency", type=float, default=0.05, help="scenario 4: seconds the sandbox sleeps per request")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions of scenarios 1-3 (best wall time is reported)")
    ap.add_argument("--latency-repeat", type=int, default=1, help="repetitions of scenario 4 (slow: ~latency x requests)")
    ap.add_argument("--changed-epics", type=int, default=50, help="scenario 3: K epics the new items name")
    ap.add_argument("--no-compare", dest="compare", action="store_false", help="skip the pycontribs epic-read comparison")
    ap.add_argument("--scale", action="store_true", help="scenario 1 at each of --items-list (time vs items)")
    ap.add_argument("--items-list", default="10000,100000,1000000")
    ap.add_argument("--scale-repeat", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("/tmp/demandsync-bench"), help="working directory for workloads")
    ap.add_argument("--src", help="PYTHONPATH for the measured children, e.g. a patched copy of src/")
    ap.add_argument("--keep", action="store_true", help="keep generated workloads")
    ap.add_argument("--spine", action="store_true",
                    help="scenarios 1-3 with [linking] similarity = false: demandsync doing the floor's kinds of "
                         "work (keys and rules, no similarity model), to tell the model's share of a ratio from the rest")
    ap.add_argument("--profile", action="store_true",
                    help="run each measured child under pyinstrument (bench-only dependency); reports in "
                         "bench/results/profiles/ (times then include the profiler's overhead)")
    args = ap.parse_args(argv)
    if args.profile:
        global PROFILE_DIR
        PROFILE_DIR = HERE / "results" / "profiles"
        PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    args.items_list = [int(x.replace("_", "")) for x in args.items_list.split(",") if x.strip()]
    if not args.src:
        # Measure one fixed copy of src/: other people edit the tree while a bench runs, and an edit to
        # e.g. similarity/params.py between scenario 1 and 2 changes the linker fingerprint (= relink everything).
        snap = args.out / "src-snapshot"
        shutil.rmtree(snap, ignore_errors=True)
        shutil.copytree(HERE.parent / "src", snap, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        args.src = str(snap)
        print(f"measuring a snapshot of src/ taken now: {snap}", flush=True)
    compile_bytecode(args.src)
    if args.scale:
        doc = run_scale(args)
        doc["src"] = args.src
        print(f"\nsaved {save('scale', doc)}")
        return 0
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    t = time.perf_counter()
    w = generate.build(args.out / f"e{args.epics}-i{args.items}", epics=args.epics, items=args.items, seed=args.seed,
                       changed_epics=args.changed_epics)
    print(f"generated {args.items:,} items / {args.epics:,} epics in {time.perf_counter() - t:.1f}s "
          f"({w.counts}; mix {w.mix})", flush=True)
    results = run_scenarios(w, scenarios, args.repeat, args.latency, args.latency_repeat, args.src, args.compare,
                            similarity=not args.spine)
    rows = summarize(results, w)
    cmp = summarize_compare(results["epic-read"]) if "epic-read" in results else None
    print_table(rows, cmp, w, args.spine)
    path = save("scenarios", {"workload": generate.asdict(w), "args": {k: str(v) for k, v in vars(args).items()},
                              "summary": rows, "epic_read": cmp, "samples": results})
    print(f"\nsaved {path}")
    if not args.keep:
        shutil.rmtree(w.out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
