"""``demandsync demo``: the whole product in one command, no Jira account needed.

Starts the local Jira sandbox (``--tracker aha``: the Aha! sandbox) with seeded epics, copies the bundled example
exports and config into a working directory, runs a real sync over HTTP with
an embedded SQLite store, then runs it again to show that an unchanged world
plans zero writes.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from importlib.resources import files
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from demandsync.config import load_config
from demandsync.logs import setup_logging
from demandsync.sandbox.jira import JiraSandbox, demo_state
from demandsync.sync.run import RunReport, run_sync

_EXPORTS = ("hotjar-exit-survey-2026-10.csv", "hotjar-exit-survey-2026-11.csv", "sales-call-notes.csv")


def _copy_exports(workdir: Path) -> None:
    examples = files("demandsync") / "examples"
    (workdir / "exports").mkdir(parents=True, exist_ok=True)
    for name in _EXPORTS:
        (workdir / "exports" / name).write_bytes((examples / name).read_bytes())


def _lay_out(workdir: Path, template: str, placeholder: str, url: str) -> Path:
    """Copy the exports and the example config ``template`` (``placeholder`` -> ``url``) into ``workdir``."""
    _copy_exports(workdir)
    config = workdir / "demandsync.toml"
    text = (files("demandsync") / "examples" / template).read_text(encoding="utf-8")
    config.write_text(text.replace(placeholder, url), encoding="utf-8")
    return config


def prepare(workdir: Path, jira_url: str) -> Path:
    """Lay out the demo's config and exports in ``workdir``; returns the config path."""
    return _lay_out(workdir, "demandsync.toml", "{jira_url}", jira_url)


#: Where ``demandsync sandbox`` serves by default; a kept demo config points there.
SANDBOX_PORT = 8089


def keep_config(config: Path, port: int = SANDBOX_PORT) -> None:
    """Point a kept demo config at the sandbox ``demandsync sandbox --port PORT`` serves.

    The demo's own sandbox lived on a free port and is gone when the demo ends; a config
    pointing there failed every later command. The kept one names a port the admin can
    serve again (the sandbox starts from the same demo site, so the config's fields,
    epics and credentials all work; figures are written again by the next run).
    """
    text = config.read_text(encoding="utf-8")
    start = text.index('url = "', text.index("[jira]")) + len('url = "')
    end = text.index('"', start)
    header = (f"# Kept by `demandsync demo --keep`. Jira here is the local sandbox: start it first with\n"
              f"#   demandsync sandbox --port {port}\n"
              f"# then, from this directory: demandsync check / run / explain PROD-1 / status.\n")
    config.write_text(header + text[:start] + f"http://127.0.0.1:{port}" + text[end:], encoding="utf-8")


def prepare_aha(workdir: Path, aha_url: str) -> Path:
    """The Aha! demo's config and exports in ``workdir``; returns the config path."""
    return _lay_out(workdir, "demandsync-aha.toml", "{aha_url}", aha_url)


def run_demo(console: Console, *, keep: Path | None = None, as_json: bool = False, tracker: str = "jira",
             sandbox_port: int = SANDBOX_PORT) -> int:
    workdir = keep or Path(tempfile.mkdtemp(prefix="demandsync-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    setup_logging(quiet=True)
    if tracker == "aha":
        from demandsync.sandbox.aha import AhaSandbox
        from demandsync.sandbox.aha import demo_state as aha_demo_state

        with AhaSandbox(aha_demo_state()) as aha:
            config = load_config(prepare_aha(workdir, aha.url))
            first = run_sync(config)
            second = run_sync(config)
            epics = {key: {"summary": aha.state.find("features", key)["name"]} for key in sorted(first.demand)}
    else:
        with JiraSandbox(demo_state(), email="demo@example.com", api_token="sandbox-token") as sandbox:
            config = load_config(prepare(workdir, sandbox.start()))
            first = run_sync(config)
            second = run_sync(config)
            epics = {key: issue["fields"] for key in sorted(first.demand) if (issue := sandbox.state.issue(key))}
        if keep is not None:
            keep_config(config.path, sandbox_port)
    if as_json:
        sys.stdout.write(json.dumps({"first": first.as_dict(), "second": second.as_dict()}, default=str) + "\n")
    else:
        _print(console, first, second, epics, workdir, keep is not None, sandbox_port,
               "Aha!" if tracker == "aha" else "Jira")
    if keep is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return max(first.exit_code, second.exit_code)


def _print(console: Console, first: RunReport, second: RunReport, epics: dict[str, dict[str, object]],
           workdir: Path, kept: bool, sandbox_port: int = SANDBOX_PORT, tracker: str = "Jira") -> None:
    pulled = ", ".join(f"{name}: {s.pulled} rows, {s.new} new items, {s.quarantined} quarantined"
                       for name, s in first.sources.items())
    console.print(f"[bold]demandsync demo[/] — {tracker} sandbox + {len(first.sources)} sources ({pulled})")
    # 80 columns must read well: numbers never wrap, the summary wraps on words (never cut to
    # "Single s"), and the per-source breakdown goes under it instead of taking a column.
    table = Table(title=f"{'Features' if tracker == 'Aha!' else 'Epics'} in the {tracker} sandbox after the sync",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("epic", no_wrap=True)
    table.add_column("summary / sources", ratio=1, overflow="fold", min_width=16)
    for col in ("requests", "people", "accounts", "last"):
        table.add_column(col, no_wrap=True, justify="right" if col != "last" else "left")
    for key, f in epics.items():
        d = first.demand[key]
        about = Text(str(f.get("summary", "")))
        if d["sources"]:
            about.append(f"\n{d['sources']}", style="dim")
        table.add_row(key, about, str(d["requests"]), str(d["requesters"]), str(d["accounts"]),
                      str(d["last_requested"] or "—"))
    console.print(table)
    links = ", ".join(f"{k} {v}" for k, v in sorted(first.links.items()))
    console.print(f"links: {links}")
    console.print(f"first run: {first.writes['applied']} field writes applied, {first.writes['failed']} failed")
    console.print(f"second run (nothing new): {second.writes['planned']} writes planned")
    if kept:
        cfg = workdir / "demandsync.toml"
        if tracker == "Aha!":
            first_key = next(iter(epics), "APP-1")
            console.print(f"files kept in {workdir}: try `demandsync explain {first_key} --config {cfg}`",
                          highlight=False, soft_wrap=True)
        else:
            console.print(f"files kept in {workdir}. Start the Jira sandbox in another terminal with "
                          f"`demandsync sandbox --port {sandbox_port}`, then try `demandsync check --config {cfg}`, "
                          f"`demandsync run --config {cfg}` or `demandsync explain PROD-1 --config {cfg}`",
                          highlight=False, soft_wrap=True)
