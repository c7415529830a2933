"""Commands a PM uses to steer linking: suggest, review, link/unlink, links export/import.

Every decision made here is stored as a *manual* link (accepted or rejected),
which beats every automatic link on every later run. Figures on Jira change on
the next ``demandsync run``.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from demandsync.cli.options import ConfigOpt
from demandsync.cli.untrusted import esc
from demandsync.csvsafe import neutralise_row, restore
from demandsync.domain import ACCEPTED, LINK_STATES, REJECTED, SUGGESTED, LinkState, link_state
from demandsync.errors import EXIT_FAILED, EXIT_OK
from demandsync.handles import item_handle

if TYPE_CHECKING:  # the config and the store are imported by the commands that use them: `--help` stays fast
    from demandsync.config import Config
    from demandsync.sync.store.store import Store

LINK_COLUMNS = ("source", "item_id", "epic", "method", "score", "state", "text", "handle")
ITEM_HELP = ("The item: its handle as `explain`, `suggest` and `review` show it (SOURCE:CODE, e.g. "
             "exit-survey:k3f9q2ab; a 4+ character prefix of the code will do), or SOURCE:ITEM_ID.")

links_app = typer.Typer(help="Export and import link decisions (bulk review in a spreadsheet).",
                        no_args_is_help=True)


def decide(config: Config, ref_text: str, key: str, state: LinkState, console: Console) -> None:
    from demandsync.sync.linking import decisions
    from demandsync.sync.store.store import Store

    with Store.open(config.store_url) as store:
        try:
            decisions.decide(store, ref_text, key, state, note="cli",
                             selection_key=config.settings.tracker.selection_key)
        except decisions.DecisionError as exc:
            raise typer.BadParameter(str(exc)) from None
    verb = "linked to" if state == ACCEPTED else "will never be linked to"
    console.print(f"{esc(ref_text)} {verb} {esc(key)} (manual decision; figures change on the next run)",
                  highlight=False)


def suggest_rows(config: Config, key: str, limit: int) -> list[dict[str, Any]]:
    """The best candidate items for one epic, ranked, with their current link state."""
    from demandsync.sync.linking.link import build_model, learned_from
    from demandsync.sync.store.store import Store

    with Store.open(config.store_url) as store:
        epics = store.epics()
        if key not in {e.key for e in epics}:
            raise typer.BadParameter(f"{key} is not an epic demandsync has seen; run `demandsync run` after creating it")
        items = store.item_texts()
        model = build_model(epics, learned_from(store, refresh=False))
        states = store.links_of_epic(key)
    ranked = model.rank_items(key, [t for _, _, _, t in items], limit)
    rows = []
    for index, score in ranked:
        item_id, source, external_id, text = items[index]
        method, state, _ = states.get(item_id, ("", "unlinked", 0.0))
        rows.append({"handle": item_handle(source, external_id), "source": source, "item_id": external_id,
                     "score": round(float(score), 3), "state": state, "method": method, "text": text,
                     "why": [str(ev) for ev in model.evidence(text, key)]})
    return rows


def similarity_evidence(config: Config, key: str, texts: list[str]) -> list[list[str]]:
    """For ``explain``: the words that carried each text's similarity score for ``key``
    (recomputed with the model the last run used: same epics, decisions and word weights)."""
    from demandsync.sync.linking.link import build_model, learned_from
    from demandsync.sync.store.store import Store

    with Store.open(config.store_url) as store:
        model = build_model(store.epics(), learned_from(store, refresh=False))
    return [[str(ev) for ev in model.evidence(t, key)] for t in texts]


def review_queue(store: Store, limit: int | None = None) -> list[dict[str, Any]]:
    """Suggestions to review, most valuable first: highest score, then epics with most demand."""
    rows = store.link_rows((SUGGESTED,))
    return rows[:limit] if limit else rows


def export_links(store: Store, state: str, fmt: str) -> str:
    """Links in one state (or all) as CSV/JSON. ``unlinked``: the items no epic claims, with an
    empty ``epic`` to fill in (set ``state`` to accepted and import)."""
    if state == "unlinked":
        rows = [{"source": r["source"], "item_id": r["item_id"], "epic": "", "method": "", "score": "",
                 "state": "unlinked", "text": r["text"], "handle": item_handle(r["source"], r["item_id"])}
                for r in store.unlinked_items()]
    else:
        states = LINK_STATES if state == "all" else (state,)
        rows = [{**{k: r[k] for k in LINK_COLUMNS if k != "handle"}, "handle": item_handle(r["source"], r["item_id"])}
                for r in store.link_rows(states)]
    if fmt == "json":
        return json.dumps(rows, indent=2, default=str) + "\n"
    buf = io.StringIO()
    # CRLF (RFC 4180): the writer quotes a field holding any character of the line terminator,
    # so with "\n" alone a carriage return inside feedback text broke the file for every reader.
    writer = csv.DictWriter(buf, fieldnames=LINK_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(neutralise_row(r) for r in rows)  # feedback text never runs as a formula
    return buf.getvalue()


def read_spreadsheet_csv(path: Path) -> list[dict[str, Any]]:
    """An export as a spreadsheet saves it back: UTF-8 (with or without BOM) or cp1252,
    and ``;`` instead of ``,`` where Excel's locale uses a decimal comma (most of Europe)."""
    from demandsync.connectors.files import sniff_delimiter, sniff_encoding

    data = path.read_bytes()
    text = data.decode(sniff_encoding(data[:65536]), errors="replace").lstrip("\ufeff")
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(text)))


def import_links(store: Store, path: Path) -> tuple[int, int, list[str]]:
    """Apply an edited export. Rows whose state did not change are left alone, so
    importing an untouched export changes nothing. Returns (decided, unchanged, problems).

    Every row is accounted for: decided, unchanged, or a problem naming its row. A row
    that cannot be read or stored is a problem of its own; the others go on."""
    import sqlalchemy as sa

    from demandsync.sync.store.store import describe_db_error

    rows, problems = _read_rows(path)
    decided, unchanged = 0, 0
    epics = {e.key for e in store.epics(present_only=False)}
    for n, row in rows:
        where = f"{path.name} row {n}"
        try:
            outcome = _import_row(store, row, epics, path.name)
        except (sa.exc.SQLAlchemyError, ValueError) as exc:  # e.g. a NUL byte PostgreSQL cannot compare
            outcome = f"the store could not take it ({describe_db_error(exc)})"
        if outcome == "decided":
            decided += 1
        elif outcome == "unchanged":
            unchanged += 1
        else:
            problems.append(f"{where}: {outcome}")
    return decided, unchanged, problems


def _read_rows(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """``(row number, row)`` of an export file, and the problems of rows that are not rows at all."""
    if path.suffix.lower() == ".json":
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        try:
            doc = json.loads(text)
        except ValueError as exc:
            return [], [f"{path.name}: not valid JSON ({exc})"]
        if not isinstance(doc, list):
            return [], [f"{path.name}: expected a list of rows, as `links export --format json` writes"]
        rows = [(n, r) for n, r in enumerate(doc, start=1) if isinstance(r, dict)]
        return rows, [f"{path.name} row {n}: not an object with source, item_id, epic, state"
                      for n, r in enumerate(doc, start=1) if not isinstance(r, dict)]
    out: list[tuple[int, dict[str, Any]]] = []
    try:
        for n, r in enumerate(read_spreadsheet_csv(path), start=2):
            # undo the export's formula guard, so ids and keys compare as stored
            out.append((n, {k: restore(v) if isinstance(v, str) else v for k, v in r.items()}))
    except csv.Error as exc:
        return out, [f"{path.name} row {len(out) + 2}: {exc}; the rest of the file was not read"]
    return out, []


def _import_row(store: Store, row: dict[str, Any], epics: set[str], file_name: str) -> str:
    """``"decided"``, ``"unchanged"``, or what is wrong with the row."""
    values: dict[str, str] = {}
    for c in ("source", "item_id", "epic", "state", "handle"):
        raw = row.get(c)
        values[c] = raw if isinstance(raw, str) else str(raw or "")
    if not values["item_id"].strip() and ":" in values["handle"]:
        values["source"], _, values["item_id"] = values["handle"].strip().partition(":")  # a handle alone will do
    if values["state"].strip().lower() == "unlinked" and not values["epic"].strip():
        return "unchanged"  # an `export --state unlinked` row nobody filled in
    missing = [c for c in ("source", "item_id", "epic", "state") if not values[c].strip()]
    if missing:
        return f"missing {', '.join(missing)}"
    state, epic = link_state(values["state"]), values["epic"].strip()
    if state is None:
        return f"state {values['state'][:40]!r} must be accepted or rejected"
    if epic not in epics:
        return f"{epic[:40]!r} is not an epic demandsync has seen"
    from demandsync.sync.linking.decisions import find_item

    item, why = find_item(store, values["source"].strip(), values["item_id"].strip())
    if item is None:
        return str(why)[:300]
    current = store.link_of(item, epic)
    if (current is not None and current["state"] == state) or state == SUGGESTED:  # suggestions: the linker's
        return "unchanged"
    store.decide_link(item, epic, state, note=f"import {file_name}")
    return "decided"


def register(app: typer.Typer, load: Any, console: Console, err: Console) -> None:
    """Add the commands to the main app. ``load(path)`` returns a Config or exits 2."""

    @app.command()
    def link(item: Annotated[str, typer.Argument(help=ITEM_HELP)],
             key: Annotated[str, typer.Argument(help="Epic key")], config: ConfigOpt = None) -> None:
        """Link an item to an epic by hand (beats every automatic link)."""
        decide(load(config), item, key, ACCEPTED, console)

    @app.command()
    def unlink(item: Annotated[str, typer.Argument(help=ITEM_HELP)],
               key: Annotated[str, typer.Argument(help="Epic key")], config: ConfigOpt = None) -> None:
        """Reject a link for good: no run will link this item to this epic again."""
        decide(load(config), item, key, REJECTED, console)

    @app.command()
    def suggest(key: Annotated[str, typer.Argument(help="Epic key")], config: ConfigOpt = None,
                limit: Annotated[int, typer.Option("--limit", "-n", help="How many candidates.")] = 20,
                as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list on stdout.")] = False,
                ) -> None:
        """The best candidate items for an epic, ranked (run it right after creating an epic)."""
        rows = suggest_rows(load(config), key, limit)
        if as_json:
            sys.stdout.write(json.dumps(rows, indent=2) + "\n")
            return
        console.print(f"{len(rows)} candidate(s) for {esc(key)}; link with `demandsync link HANDLE {esc(key)}`",
                      highlight=False)
        for r in rows:
            why = f"  matched: {esc(', '.join(r['why']))}" if r["why"] else ""
            console.print(f"{r['score']:.2f}  {r['state']:<9} {esc(r['handle'])}{why}", highlight=False)
            console.print(f"      {esc(r['text'][:160])}", highlight=False, soft_wrap=True)

    @app.command()
    def review(config: ConfigOpt = None,
               limit: Annotated[int | None, typer.Option("--limit", "-n", help="Stop after N.")] = None) -> None:
        """Go through the review queue: [a]ccept, [r]eject, [o]ther epic, [s]kip, [q]uit."""
        cfg = load(config)
        done = 0
        from demandsync.sync.store.store import Store

        with Store.open(cfg.store_url) as store:
            queue = review_queue(store, limit)
            if not queue:
                console.print("nothing to review")
                return
            for n, row in enumerate(queue, start=1):
                epic = store.epic_row(row["epic"]) or {"summary": "?"}
                console.print(f"\n\\[{n}/{len(queue)}] {esc(row['epic'])} {esc(epic['summary'])}  "
                              f"(score {row['score']:.2f})", highlight=False)
                console.print(f"  {esc(item_handle(row['source'], row['item_id']))} "
                              f"{esc(row['requester'] or '(anonymous)')}", highlight=False)
                console.print(f"  {esc(row['text'][:500])}", highlight=False, soft_wrap=True)
                answer = typer.prompt("accept/reject/other/skip/quit [a/r/o/s/q]", default="s").strip().lower()[:1]
                if answer == "q":
                    break
                if answer == "a":
                    store.decide_link(row["row_id"], row["epic"], ACCEPTED, note="review")
                elif answer == "r":
                    store.decide_link(row["row_id"], row["epic"], REJECTED, note="review")
                elif answer == "o":
                    other = typer.prompt("epic key").strip()
                    if store.epic_row(other) is None:
                        err.print(f"{esc(other)} is not a known epic; skipped", highlight=False)
                        continue
                    from demandsync.sync.linking import decisions

                    ref = decisions.item_ref(row["source"], row["item_id"])
                    decisions.move(store, ref, row["epic"], other, note="review")
                else:
                    continue
                done += 1
        console.print(f"{done} decision(s) saved; figures change on the next run")

    @links_app.command("export")
    def links_export(config: ConfigOpt = None,
                     state: Annotated[str, typer.Option(help="suggested | accepted | rejected | all | unlinked")] = "suggested",
                     fmt: Annotated[str, typer.Option("--format", help="csv | json")] = "csv",
                     output: Annotated[Path | None, typer.Option(
                         "--output", "-o", help="Write to this file instead of stdout.")] = None) -> None:
        """Write links as CSV/JSON (columns: source, item_id, epic, method, score, state, text)."""
        if state not in (*LINK_STATES, "all", "unlinked") or fmt not in ("csv", "json"):
            raise typer.BadParameter("--state is suggested|accepted|rejected|all|unlinked and --format csv|json")
        from demandsync.sync.store.store import Store

        with Store.open(load(config).store_url) as store:
            text = export_links(store, state, fmt)
        if output:
            output.write_text(text, encoding="utf-8", newline="")
        else:
            sys.stdout.write(text)

    @links_app.command("import")
    def links_import(file: Annotated[Path, typer.Argument(help="An edited `links export` file (.csv or .json)")],
                     config: ConfigOpt = None) -> None:
        """Apply the states edited in an export as manual decisions; unchanged rows are left alone."""
        from demandsync.sync.store.store import Store

        with Store.open(load(config).store_url) as store:
            decided, unchanged, problems = import_links(store, file)
        for p in problems:
            err.print(f"skipped: {esc(p)}", highlight=False)
        console.print(f"{decided} decision(s) saved, {unchanged} unchanged, {len(problems)} skipped")
        raise typer.Exit(EXIT_FAILED if problems else EXIT_OK)

    app.add_typer(links_app, name="links")
