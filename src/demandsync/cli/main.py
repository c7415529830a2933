"""The ``demandsync`` command (Typer + Rich).

Exit codes (also in the README):
  0  all done
  1  finished, but something failed (a source, a write) — see the report
  2  config or usage error; nothing was touched
  75 another run holds the lock (EX_TEMPFAIL: cron may simply try again later)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console

from demandsync.cli.links import register as register_link_commands
from demandsync.cli.untrusted import LiteralTable as Table
from demandsync.cli.untrusted import esc
from demandsync.config import Config, ConfigError, load_config
from demandsync.connectors.http import APIError
from demandsync.connectors.http.redaction import scrub
from demandsync.errors import DemandsyncError, exit_code
from demandsync.logs import setup_logging
from demandsync.sync.run import EXIT_CONFIG, EXIT_LOCKED, RunReport, build_tracker, run_sync
from demandsync.sync.store.lock import LockHeld

app = typer.Typer(
    name="demandsync",
    help="Puts customer demand from surveys, feature-request tools and Jira onto Jira epics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
out = Console()
err = Console(stderr=True)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Config file (default: $DEMANDSYNC_CONFIG, else ./demandsync.toml)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
LogJsonOpt = Annotated[bool, typer.Option("--log-json", help="Log JSON lines to stderr (for log shippers).")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")]


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        from demandsync import __version__

        out.print(f"demandsync {__version__}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        out.print(ctx.get_help())
        raise typer.Exit(EXIT_CONFIG)


def main() -> None:
    try:
        app()
    except (APIError, httpx.HTTPError, OSError, DemandsyncError) as exc:
        # Anything a command did not handle itself: one readable line, never a traceback.
        # Our HTTP errors carry redacted URLs; a server echoing a credential is scrubbed here.
        err.print(f"[bold red]error:[/] {esc(scrub(str(exc)))}", highlight=False)
        sys.exit(exit_code(exc))


# ---- helpers ------------------------------------------------------------------------------


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {esc(scrub(message))}", highlight=False)
    raise typer.Exit(code)


def _config(path: Path | None, *, log_json: bool = False, verbose: bool = False, tracker: bool = True) -> Config:
    """The config, or exit 2. ``tracker=False`` for commands that only read the store
    (explain, links, requesters, forget, status, quarantine): they need no Jira credentials."""
    try:
        config = load_config(path, need_tracker=tracker)
    except ConfigError as exc:
        _fail(str(exc), EXIT_CONFIG)
    setup_logging(json_lines=log_json, verbose=verbose, secrets=config.scrubber)
    return config


def _local_config(path: Path | None) -> Config:
    return _config(path, tracker=False)


def _print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


def _plan_table(report: RunReport) -> Table:
    table = Table(title="Plan" + (" (dry run: nothing written)" if report.dry_run else ""))
    for col in ("epic", "field", "old", "new"):
        table.add_column(col)
    for w in report.plan:
        table.add_row(w["epic"], f"{w['field_name']} ({w['field']})", _show(w["old"]), _show(w["new"]))
    return table


def _show(value: Any) -> str:
    return "—" if value is None else str(value)


def print_report(report: RunReport) -> None:
    sources = Table(title=f"Run {report.run_id}")
    for col in ("source", "pulled", "new", "changed", "quarantined", "error"):
        sources.add_column(col)
    for name, s in report.sources.items():
        sources.add_row(name, str(s.pulled), str(s.new), str(s.changed), str(s.quarantined), s.error or "")
    out.print(sources)
    links = ", ".join(f"{k} {v}" for k, v in sorted(report.links.items())) or "none"
    out.print(f"epics: {report.epics}   links: {links}")
    if report.plan:
        out.print(_plan_table(report))
    w = report.writes
    out.print(f"writes: {w['planned']} planned, {w['applied']} applied, {w['failed']} failed")
    for e in report.errors:
        err.print(f"[red]failed:[/] {esc(e.get('epic', e.get('stage', '')))} {esc(e.get('field_name', ''))} "
                  f"{esc(scrub(e['error']))}", highlight=False)


# ---- commands -----------------------------------------------------------------------------


@app.command()
def run(
    config: ConfigOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; write nothing to Jira.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Re-read every source from scratch and reconcile.")] = False,
    source: Annotated[list[str] | None, typer.Option("--source", help="Only pull these sources.")] = None,
    as_json: JsonOpt = False,
    log_json: LogJsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Pull, link, count and write the demand figures once."""
    cfg = _config(config, log_json=log_json, verbose=verbose)
    try:
        report = run_sync(cfg, dry_run=dry_run, full=full, only=source)
    except ConfigError as exc:
        _fail(str(exc), EXIT_CONFIG)
    except LockHeld as exc:
        _fail(str(exc), EXIT_LOCKED)
    if as_json:
        doc = report.as_dict()
        doc.pop("demand")
        _print_json(doc)
    else:
        print_report(report)
    raise typer.Exit(report.exit_code)


@app.command()
def explain(
    key: Annotated[str, typer.Argument(help="Epic key, e.g. PROD-7")],
    config: ConfigOpt = None,
    states: Annotated[str, typer.Option("--state", help="accepted | suggested | rejected | all")] = "accepted",
    as_json: JsonOpt = False,
) -> None:
    """Why is this epic's number what it is: the items counted for it."""
    from demandsync.sync.store.store import Store

    cfg = _local_config(config)
    store = Store.open(cfg.store_url)
    wanted = ("accepted", "suggested", "rejected") if states == "all" else (states,)
    items = store.linked_items([key], states=wanted)
    epic = store.epic_row(key)
    store.close()
    if epic is None:
        _fail(f"{key} is not an epic demandsync has seen; is it selected by jira.epics ({cfg.settings.jira.epics})?",
              EXIT_CONFIG)
    rows = [{"source": i.source, "item_id": i.external_id, "requester": i.requester, "account": i.account,
             "created_at": i.created_at, "method": i.method, "score": i.score, "state": i.state,
             "text": i.text[:80]} for i in items]
    if as_json:
        _print_json({"epic": key, "summary": epic["summary"], "demand": epic["demand"], "items": rows})
        return
    figures = ", ".join(f"{k} {v}" for k, v in epic["demand"].items() if v not in (None, "", 0)) or "no demand yet"
    out.print(f"[bold]{esc(key)}[/] {esc(epic['summary'])}\n{esc(figures)}\n{len(rows)} {esc(states)} item(s):",
              highlight=False)
    for r in rows:
        who = r["requester"] or "(anonymous)"
        if r["account"]:
            who += f" ({r['account']})"
        when = r["created_at"].date().isoformat() if r["created_at"] else "no date"
        out.print(f"- {esc(r['source'])}:{esc(r['item_id'])}  {esc(who)}  {r['method']} {r['score']:.2f}  {when}",
                  highlight=False)
        out.print(f"    {esc(r['text'])}", highlight=False, soft_wrap=True)


@app.command()
def fields(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List the Jira fields (id, name, type) to fill [jira.fields]."""
    cfg = _config(config)
    tracker = build_tracker(cfg)
    try:
        found = tracker.fields()
    finally:
        tracker.close()
    if as_json:
        _print_json([{"id": f.id, "name": f.name, "type": f.type, "custom": f.custom} for f in found])
        return
    table = Table()
    for col in ("id", "name", "type", "custom"):
        table.add_column(col)
    for f in sorted(found, key=lambda f: (not f.custom, f.name.lower())):
        table.add_row(f.id, f.name, f.type, "yes" if f.custom else "")
    out.print(table)


@app.command()
def check(config: ConfigOpt = None) -> None:
    """Validate the config, connect, resolve every target field, check edit screens."""
    from demandsync.sync.writeback import TargetError, resolve_targets

    cfg = _config(config)
    out.print(f"config: ok ({cfg.path})")
    tracker = build_tracker(cfg)
    problems = 0
    try:
        out.print(f"{tracker.display_name.lower()}: connected as {esc(tracker.whoami())}", highlight=False)
        try:
            targets = resolve_targets(cfg.settings.jira.fields, tracker.fields())
        except TargetError as exc:
            _fail(str(ConfigError(exc.problems, cfg.path)), EXIT_CONFIG)
        for t in targets:
            out.print(f"target: {t.figure} -> {esc(t.field.name)} ({esc(t.field.id)}, {esc(t.field.type)})",
                      highlight=False)
        epics = list(tracker.epics(cfg.settings.jira.epics, []))
        out.print(f"epics: {len(epics)} selected by {esc(repr(cfg.settings.jira.epics))}", highlight=False)
        checked: set[str | None] = set()
        for epic in epics:  # edit screens are per project (and issue type): one epic each
            if epic.project in checked:
                continue
            checked.add(epic.project)
            editable = tracker.editable_fields(epic.key)
            for t in targets:
                if t.field.id not in editable:
                    problems += 1
                    out.print(f"[red]missing:[/] {esc(t.field.name)} ({esc(t.field.id)}) is not on the edit screen "
                              f"of {esc(epic.key)} (project {esc(epic.project)}); add it to that project's Epic "
                              "edit screen",
                              highlight=False)
    finally:
        tracker.close()
    raise typer.Exit(1 if problems else 0)


@app.command()
def quarantine(
    config: ConfigOpt = None,
    source: Annotated[str | None, typer.Option("--source", help="Only this source.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rows and records that could not be ingested, with the reason."""
    from demandsync.sync.store.store import Store

    cfg = _local_config(config)
    store = Store.open(cfg.store_url)
    rows = store.quarantined(source)
    store.close()
    if as_json:
        _print_json([{k: r[k] for k in ("source", "locator", "reason", "raw", "last_seen_at")} for r in rows])
        return
    table = Table(title=f"{len(rows)} quarantined")
    for col in ("source", "where", "reason"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["source"], r["locator"], r["reason"])
    out.print(table)


@app.command()
def preview(
    source: Annotated[str, typer.Argument(help="Source name from the config.")],
    config: ConfigOpt = None,
    rows: Annotated[int, typer.Option("--rows", "-n", help="How many rows.")] = 5,
) -> None:
    """Show how a source's first rows map, before the first run."""
    from demandsync.cli.preview import preview_source

    cfg = _local_config(config)
    chosen = next((s for s in cfg.settings.sources if s.name == source), None)
    if chosen is None:
        _fail(f"no source named {source!r}; the config has: {', '.join(s.name for s in cfg.settings.sources)}",
              EXIT_CONFIG)
    for renderable in preview_source(cfg, chosen, rows):
        out.print(renderable)


@app.command()
def sandbox(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8089,
    epics: Annotated[int | None, typer.Option(help="Generate this many epics instead of the demo set.")] = None,
    fail_rate: Annotated[float, typer.Option(help="Share of requests answered 429/503.")] = 0.0,
    latency: Annotated[float, typer.Option(help="Seconds added to every request.")] = 0.0,
) -> None:
    """Start the local Jira sandbox (a test double of Jira Cloud; not a real Jira)."""
    from demandsync.sandbox.jira import main as sandbox_main

    sandbox_main(port=port, epics=epics, fail_rate=fail_rate, latency=latency)


@app.command()
def demo(
    keep: Annotated[Path | None, typer.Option(help="Keep the demo's files in this directory.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a whole sync against the bundled Jira sandbox and example exports."""
    from demandsync.cli.demo import run_demo

    raise typer.Exit(run_demo(out, keep=keep, as_json=as_json))


@app.command()
def serve(
    config: ConfigOpt = None,
    every: Annotated[str | None, typer.Option("--every", help="Interval, e.g. 15m, 1h.")] = None,
    cron: Annotated[str | None, typer.Option("--cron", help="Cron expression in UTC, e.g. '*/15 * * * *'.")] = None,
    log_json: LogJsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Run syncs on a schedule in the foreground; SIGTERM stops it cleanly."""
    from demandsync.sync.schedule import Schedule, Stopper
    from demandsync.sync.schedule import serve as serve_loop

    cfg = _config(config, log_json=log_json, verbose=verbose)  # fail fast on a bad config
    try:
        schedule = Schedule.build(every, cron)
    except ValueError as exc:
        _fail(str(exc), EXIT_CONFIG)
    stopper = Stopper()
    stopper.install()
    raise typer.Exit(serve_loop(cfg.path, schedule, stopper=stopper))


@app.command()
def status(config: ConfigOpt = None, as_json: JsonOpt = False,
           runs: Annotated[int, typer.Option("--runs", help="How many recent runs.")] = 5) -> None:
    """Last runs, each source's cursor and last error, pending writes, quarantined rows."""
    from demandsync.cli.status import collect_status, render_status

    cfg = _local_config(config)
    doc = collect_status(cfg, runs)
    if as_json:
        _print_json(doc)
    else:
        for renderable in render_status(doc):
            out.print(renderable)


@app.command()
def forget(
    who: Annotated[str, typer.Argument(help="The person's e-mail (or user id) as the sources give it.")],
    config: ConfigOpt = None,
) -> None:
    """Erase a person from the store (GDPR): items, quarantine; later runs skip them. Counts drop next run."""
    from demandsync.sync.store.store import Store

    cfg = _local_config(config)
    store = Store.open(cfg.store_url)
    try:
        removed = store.forget_requester(who)
    finally:
        store.close()
    out.print(f"removed {removed} item(s) of that person, and every quarantined row naming them; their counts "
              "drop on the next run. Only a salted hash of the address is kept, so later runs drop their items "
              "(counted as 'forgotten'); remove them at the source too.", highlight=False)


@app.command()
def requesters(
    key: Annotated[str, typer.Argument(help="Epic key, e.g. PROD-7")],
    config: ConfigOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table | csv | json")] = "table",
) -> None:
    """Who asked for an epic (person, contact, account, sources): tell them when it ships."""
    from demandsync.sync.requesters import CSV_COLUMNS, requesters_csv, requesters_for
    from demandsync.sync.store.store import Store

    cfg = _local_config(config)
    store = Store.open(cfg.store_url)
    try:
        if store.epic_row(key) is None:
            _fail(f"{key} is not an epic demandsync has seen", EXIT_CONFIG)
        people = requesters_for(store, key)
    finally:
        store.close()
    if fmt == "csv":
        sys.stdout.write(requesters_csv(people))
    elif fmt == "json":
        _print_json([p.as_row() for p in people])
    else:
        table = Table(title=f"{len(people)} requester(s) of {key}")
        for col in CSV_COLUMNS:
            table.add_column(col, overflow="fold")
        for p in people:
            row = p.as_row()
            table.add_row(*(str(row[c]) for c in CSV_COLUMNS))
        out.print(table)


register_link_commands(app, _local_config, out, err)


if __name__ == "__main__":  # pragma: no cover
    main()
