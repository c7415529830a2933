"""The ``demandsync`` command (Typer + Rich).

Exit codes (the README's table) are decided by :func:`demandsync.errors.exit_code`
alone: a command raises, :class:`_Commands` prints one line and exits with that code.

Start-up is kept cheap (``--help`` is checked by ``bench/startup.py``): the engine,
the store (SQLAlchemy) and the linker (numpy, scipy) are imported inside the commands
that use them, never at module level.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich import box
from rich.console import Console
from typer.core import TyperGroup
from typer.exceptions import TyperException

from demandsync.cli.links import register as register_link_commands
from demandsync.cli.options import ConfigOpt
from demandsync.cli.untrusted import LiteralTable as Table
from demandsync.cli.untrusted import esc
from demandsync.cli.web import register as register_web_commands
from demandsync.domain import LINK_STATES, link_state
from demandsync.errors import EXIT_CONFIG, EXIT_OK, ConfigError, DemandsyncError, exit_code
from demandsync.logs import json_logging, setup_logging

if TYPE_CHECKING:
    from demandsync.config import Config
    from demandsync.sync.run import RunReport

log = logging.getLogger("demandsync.cli")


class _Commands(TyperGroup):
    """Every failure a command lets escape becomes one readable line and the exit code
    :func:`~demandsync.errors.exit_code` gives it. A failure demandsync expects (config,
    an outside system, the lock) never shows a traceback; anything else is a bug and is
    logged with its traceback (the log formatter scrubs secrets from it)."""

    def invoke(self, ctx: Any) -> Any:  # a click Context (typer vendors click privately)
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):  # typer's own: usage errors, --help, exits
            raise
        except Exception as exc:
            if _expected(exc):
                # Our errors carry redacted URLs and no secrets; httpx's and the OS's name a host or a file.
                _error_line(str(exc), exit_code(exc))
            else:
                log.exception("unexpected failure, please report it: %s: %s", type(exc).__name__, exc)
            raise typer.Exit(exit_code(exc)) from None


def _expected(exc: Exception) -> bool:
    """A failure demandsync knows how to describe in one line."""
    if isinstance(exc, DemandsyncError | OSError):
        return True
    httpx = sys.modules.get("httpx")  # not imported: no httpx error can be in flight (keeps start-up lean)
    return httpx is not None and isinstance(exc, httpx.HTTPError)


app = typer.Typer(
    name="demandsync",
    cls=_Commands,
    help="Puts customer demand from surveys, feature-request tools and Jira onto Jira epics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
out = Console()
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
LogJsonOpt = Annotated[bool, typer.Option(
    "--log-json", help="Log shippers: every line on stdout and stderr is one JSON object with structured fields "
    "(run_id, source, pulled, new, epic, …); the report is one JSON line on stdout instead of tables.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")]


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", "-V", help="Print the version and exit.")] = False,
) -> None:
    if version:
        from demandsync import __version__

        out.print(f"demandsync {__version__}")
        raise typer.Exit(EXIT_OK)
    if ctx.invoked_subcommand is None:
        out.print(ctx.get_help())
        raise typer.Exit(EXIT_CONFIG)


def main() -> None:
    from demandsync.cli import gcfreeze

    gcfreeze.enable()  # this process is ours alone (see gcfreeze)
    app()


# ---- helpers ------------------------------------------------------------------------------


def _error_line(message: str, code: int) -> None:
    """The error that ends a command: a JSON line under --log-json (stderr carries JSON lines
    only), else one readable line whatever the terminal's width (grep, logs, 80 columns).
    A server that echoed a credential into its error is scrubbed here too."""
    message = _scrub(message)
    if json_logging():
        log.error(message, extra={"event": "exit", "exit_code": code})
    else:
        err.print(f"[bold red]error:[/] {esc(message)}", highlight=False, soft_wrap=True)


def _scrub(text: str) -> str:
    """Every configured secret masked (the process's active scrubber, see ``logs.setup_logging``)."""
    from demandsync.connectors.http.redaction import scrub  # only on the way out: start-up stays lean

    return scrub(text)


def _fail(message: str, code: int) -> NoReturn:
    _error_line(message, code)
    raise typer.Exit(code)


def _config(path: Path | None, *, log_json: bool = False, verbose: bool = False, tracker: bool = True) -> Config:
    """The config (a ConfigError exits 2). ``tracker=False`` for commands that only read the store
    (explain, links, requesters, forget, status, quarantine): they need no tracker credentials."""
    from demandsync.config import load_config

    config = load_config(path, need_tracker=tracker)
    setup_logging(json_lines=log_json, verbose=verbose, secrets=config.scrubber)
    return config


def _local_config(path: Path | None) -> Config:
    return _config(path, tracker=False)


def _print_json(doc: Any) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")


#: Writes of the plan the run table lists; ``--json`` has every one. A first run plans one write per
#: epic and figure (10,000 for 2,000 epics), and rich took 3-5 s of CPU to lay out such a table,
#: longer than the writes themselves (bench/run.py scenario 1), for a screen no one reads to the end.
PLAN_ROWS = 200


def _plan_table(report: RunReport) -> Table:
    # 80 columns: the field by name (ids are in --json and `demandsync fields`), keys never wrap.
    table = Table(title="Plan" + (" (dry run: nothing written)" if report.dry_run else ""),
                  box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("epic", no_wrap=True)
    table.add_column("field", ratio=1)
    table.add_column("old", ratio=1, overflow="fold")
    table.add_column("new", ratio=2, overflow="fold")
    for w in report.plan[:PLAN_ROWS]:
        table.add_row(w["epic"], w["field_name"], _show(w["old"]), _show(w["new"]))
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
    for key, count in report.unselected_keys.items():
        err.print(f"[yellow]warning:[/] {count} item(s) name {key}, which the config's epic selection leaves out: "
                  "they count for no epic", highlight=False, soft_wrap=True)
    if report.plan:
        out.print(_plan_table(report))
        if len(report.plan) > PLAN_ROWS:
            out.print(f"… and {len(report.plan) - PLAN_ROWS:,} more writes (--json lists every one)", soft_wrap=True)
    w = report.writes
    out.print(f"writes: {w['planned']} planned, {w['applied']} applied, {w['failed']} failed")
    for e in report.errors:
        where = " ".join(str(p) for p in (e.get("epic", e.get("stage", "")), e.get("field_name")) if p)
        err.print(f"[red]failed:[/] {esc(where)}: {esc(_scrub(e['error']))}", highlight=False, soft_wrap=True)


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
    from demandsync.cli import gcfreeze
    from demandsync.cli.progress import progress_for
    from demandsync.sync.run import run_sync

    cfg = _config(config, log_json=log_json, verbose=verbose)
    gcfreeze.after_imports()
    with progress_for(err, live=not log_json) as progress:
        report = run_sync(cfg, dry_run=dry_run, full=full, only=source, progress=progress)
    if as_json or log_json:
        doc = report.as_dict()
        doc.pop("demand")
        if log_json:  # every line on stdout is one JSON object too: the report is one line
            sys.stdout.write(json.dumps({"event": "report", **doc}, default=str) + "\n")
        else:
            _print_json(doc)
    else:
        print_report(report)
    gcfreeze.before_exit()
    raise typer.Exit(report.exit_code)


@app.command()
def explain(
    key: Annotated[str, typer.Argument(help="Epic key, e.g. PROD-7")],
    config: ConfigOpt = None,
    states: Annotated[str, typer.Option("--state", help="accepted | suggested | rejected | all")] = "accepted",
    as_json: JsonOpt = False,
) -> None:
    """Why is this epic's number what it is: the items counted for it, each with its short
    handle (SOURCE:CODE) for `link`/`unlink`."""
    from demandsync.handles import item_handle
    from demandsync.sync.store.store import Store

    cfg = _local_config(config)
    state = link_state(states)
    if state is None and states != "all":
        raise ConfigError(f"--state {states!r}: use one of {', '.join(LINK_STATES)} or all")
    wanted = (state,) if state is not None else LINK_STATES
    with Store.open(cfg.store_url) as store:
        items = store.linked_items([key], states=wanted)
        epic = store.epic_row(key)
    if epic is None:
        sel = cfg.settings.tracker
        raise ConfigError(f"{key} is not an epic demandsync has seen; is it selected by {sel.selection_key} "
                          f"({sel.selection})?")
    from demandsync.sync.demand import item_votes

    rows: list[dict[str, Any]] = [
        {"handle": item_handle(i.source, i.external_id), "source": i.source, "item_id": i.external_id,
         "requester": i.requester, "account": i.account,
         "voters": None if i.people is None else sum(p.role == "voter" for p in i.people),
         "votes": item_votes(i), "created_at": i.created_at, "method": i.method,
         "score": i.score, "state": i.state, "text": i.text[:80]} for i in items]
    if any(i.method == "similarity" for i in items):  # the words that carried each similarity score
        from demandsync.cli.links import similarity_evidence

        whys = similarity_evidence(cfg, key, [i.text if i.method == "similarity" else "" for i in items])
        for r, why in zip(rows, whys, strict=True):
            if why:
                r["why"] = why
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
        if r["voters"] is not None:
            who += f"  {r['voters']} voter{'' if r['voters'] == 1 else 's'}, {r['votes']} vote{'' if r['votes'] == 1 else 's'}"
        matched = f"  matched: {', '.join(r['why'])}" if r.get("why") else ""
        out.print(f"- {esc(r['handle'])}  {esc(who)}  {r['method']} {r['score']:.2f}  {when}{esc(matched)}",
                  highlight=False)
        out.print(f"    {esc(r['text'])}", highlight=False, soft_wrap=True)


@app.command()
def fields(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List the Jira fields (id, name, type) to fill [jira.fields]."""
    from demandsync.connectors.http import ConnectFailed
    from demandsync.sync.run import build_tracker

    cfg = _config(config)
    tracker = build_tracker(cfg)
    try:
        found = tracker.fields()
    except ConnectFailed as exc:
        raise exc.naming(f"{tracker.section}.url") from None
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
def check(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Try everything a run needs, changing nothing: config, every source (files, columns,
    API access), the store, Jira (credentials, fields, edit screens), rules and keys.
    One line per check, ✓ or ✗ with the fix. Exit 0: usable; 2: the config must change
    (the line names the key); 1: something outside failed."""
    from demandsync.sync.check import overall_exit_code, run_checks
    from demandsync.sync.run import build_tracker

    cfg = _config(config)
    checks = run_checks(cfg, build_tracker)
    code = overall_exit_code(checks)
    if as_json:  # a server that echoed a credential into its error is scrubbed on the way out
        _print_json(cfg.scrubber.doc({"ok": code == 0, "exit_code": code, "checks": [c.as_dict() for c in checks]}))
        raise typer.Exit(code)
    for c in checks:
        mark = "[green]✓[/]" if c.ok else "[bold red]✗[/]"
        fix = f"\n    fix: {c.fix}" if c.fix and not c.ok else ""
        out.print(f"{mark} {c.name}: {esc(_scrub(c.detail))}{esc(fix)}", highlight=False, soft_wrap=True)
    failed = sum(not c.ok for c in checks)
    out.print(f"{len(checks) - failed} ok, {failed} failed", highlight=False)
    raise typer.Exit(code)


@app.command()
def quarantine(
    config: ConfigOpt = None,
    source: Annotated[str | None, typer.Option("--source", help="Only this source.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rows and records that could not be ingested, with the reason."""
    from demandsync.sync.store.store import Store

    cfg = _local_config(config)
    with Store.open(cfg.store_url) as store:
        rows = store.quarantined(source)
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
        raise ConfigError(f"no source named {source!r}; the config has: "
                          f"{', '.join(s.name for s in cfg.settings.sources)}")
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
    keep: Annotated[Path | None, typer.Option(
        help="Keep the demo's config, exports and store in this directory; its config then points at "
             "the sandbox `demandsync sandbox --port PORT` serves (see --sandbox-port).")] = None,
    sandbox_port: Annotated[int, typer.Option(
        help="With --keep: the port the kept config expects `demandsync sandbox` on.")] = 8089,
    as_json: JsonOpt = False,
    tracker: Annotated[str, typer.Option("--tracker", help="jira | aha: which sandbox the figures go to.")] = "jira",
) -> None:
    """Run a whole sync against the bundled Jira (or Aha!) sandbox and example exports."""
    from demandsync.cli.demo import run_demo

    if tracker not in ("jira", "aha"):
        raise ConfigError(f"--tracker must be jira or aha, not {tracker!r}")
    raise typer.Exit(run_demo(out, keep=keep, as_json=as_json, tracker=tracker, sandbox_port=sandbox_port))


@app.command()
def serve(
    config: ConfigOpt = None,
    every: Annotated[str | None, typer.Option("--every", help="Interval, e.g. 15m, 1h.")] = None,
    cron: Annotated[str | None, typer.Option("--cron", help="Cron expression in UTC, e.g. '*/15 * * * *'.")] = None,
    web: Annotated[str | None, typer.Option("--web", help="Also serve the PM's page on HOST:PORT.")] = None,
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
        raise ConfigError(str(exc)) from None
    stop_web = None
    if web:
        from demandsync.web.server import start_beside

        stop_web = start_beside(cfg, web).stop
    stopper = Stopper()
    stopper.install()
    try:
        code = serve_loop(cfg.path, schedule, stopper=stopper)
    finally:
        if stop_web:
            stop_web()
    raise typer.Exit(code)


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
    with Store.open(cfg.store_url) as store:
        removed = store.forget_requester(who)
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
    with Store.open(cfg.store_url) as store:
        if store.epic_row(key) is None:
            raise ConfigError(f"{key} is not an epic demandsync has seen")
        people = requesters_for(store, key)
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
register_web_commands(app, _config, out, err)


if __name__ == "__main__":  # pragma: no cover
    main()
