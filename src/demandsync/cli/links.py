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
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from rich.console import Console

from demandsync.cli.untrusted import esc
from demandsync.config import Config
from demandsync.csvsafe import neutralise_row, restore
from demandsync.sync.store.store import Store, describe_db_error

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Config file.")]
LINK_COLUMNS = ("source", "item_id", "epic", "method", "score", "state", "text")
_STATES = ("accepted", "suggested", "rejected")

links_app = typer.Typer(help="Export and import link decisions (bulk review in a spreadsheet).",
                        no_args_is_help=True)


class ItemRef:
    """``SOURCE:ITEM_ID`` as typed on the command line (the id may contain ':')."""

    def __init__(self, text: str) -> None:
        source, sep, item = text.partition(":")
        if not sep or not source or not item:
            raise typer.BadParameter(f"{text!r}: write it as SOURCE:ITEM_ID, e.g. exit-survey:1234")
        self.source, self.item_id = source, item


def resolve_item(store: Store, ref: ItemRef) -> int:
    found = store.find_item(ref.source, ref.item_id)
    if found is None:
        raise typer.BadParameter(f"no item {ref.item_id!r} in source {ref.source!r} "
                                 "(see `demandsync explain KEY` or `links export` for ids)")
    return found


def decide(config: Config, ref_text: str, key: str, state: str, console: Console) -> None:
    store = Store.open(config.store_url)
    try:
        item = resolve_item(store, ItemRef(ref_text))
        if store.epic_row(key) is None:
            raise typer.BadParameter(f"{key} is not an epic demandsync has seen (jira.epics selects the epics)")
        store.decide_link(item, key, state, note="cli")
    finally:
        store.close()
    verb = "linked to" if state == "accepted" else "will never be linked to"
    console.print(f"{esc(ref_text)} {verb} {esc(key)} (manual decision; figures change on the next run)",
                  highlight=False)


def suggest_rows(config: Config, key: str, limit: int) -> list[dict[str, Any]]:
    """The best candidate items for one epic, ranked, with their current link state."""
    from demandsync.sync.linking.link import build_model

    store = Store.open(config.store_url)
    try:
        epics = store.epics()
        if key not in {e.key for e in epics}:
            raise typer.BadParameter(f"{key} is not an epic demandsync has seen; run `demandsync run` after creating it")
        items = store.item_texts()
        model = build_model(epics, store.accepted_texts())
        states = store.links_of_epic(key)
    finally:
        store.close()
    ranked = model.rank_items(key, [t for _, _, _, t in items], limit)
    rows = []
    for index, score in ranked:
        item_id, source, external_id, text = items[index]
        method, state, _ = states.get(item_id, ("", "unlinked", 0.0))
        rows.append({"source": source, "item_id": external_id, "score": round(float(score), 3),
                     "state": state, "method": method, "text": text})
    return rows


def review_queue(store: Store, limit: int | None = None) -> list[dict[str, Any]]:
    """Suggestions to review, most valuable first: highest score, then epics with most demand."""
    rows = store.link_rows(("suggested",))
    return rows[:limit] if limit else rows


def export_links(store: Store, state: str, fmt: str) -> str:
    states = _STATES if state == "all" else (state,)
    rows = [{k: r[k] for k in LINK_COLUMNS} for r in store.link_rows(states)]
    if fmt == "json":
        return json.dumps(rows, indent=2, default=str) + "\n"
    buf = io.StringIO()
    # CRLF (RFC 4180): the writer quotes a field holding any character of the line terminator,
    # so with "\n" alone a carriage return inside feedback text broke the file for every reader.
    writer = csv.DictWriter(buf, fieldnames=LINK_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(neutralise_row(r) for r in rows)  # feedback text never runs as a formula
    return buf.getvalue()


def import_links(store: Store, path: Path) -> tuple[int, int, list[str]]:
    """Apply an edited export. Rows whose state did not change are left alone, so
    importing an untouched export changes nothing. Returns (decided, unchanged, problems).

    Every row is accounted for: decided, unchanged, or a problem naming its row. A row
    that cannot be read or stored is a problem of its own; the others go on."""
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
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as f:  # newlines in quoted cells stay
        text = f.read()
    if path.suffix.lower() == ".json":
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
    reader = csv.DictReader(io.StringIO(text))
    try:
        for r in reader:  # undo the export's formula guard, so ids and keys compare as stored
            out.append((reader.line_num, {k: restore(v) if isinstance(v, str) else v for k, v in r.items()}))
    except csv.Error as exc:
        return out, [f"{path.name} line {reader.line_num}: {exc}; the rest of the file was not read"]
    return out, []


def _import_row(store: Store, row: dict[str, Any], epics: set[str], file_name: str) -> str:
    """``"decided"``, ``"unchanged"``, or what is wrong with the row."""
    values: dict[str, str] = {}
    for c in ("source", "item_id", "epic", "state"):
        raw = row.get(c)
        values[c] = raw if isinstance(raw, str) else str(raw or "")
    missing = [c for c, v in values.items() if not v.strip()]
    if missing:
        return f"missing {', '.join(missing)}"
    state, epic = values["state"].strip().lower(), values["epic"].strip()
    if state not in ("accepted", "rejected", "suggested"):
        return f"state {values['state'][:40]!r} must be accepted or rejected"
    if epic not in epics:
        return f"{epic[:40]!r} is not an epic demandsync has seen"
    item = store.find_item(values["source"], values["item_id"])
    if item is None:
        return f"no item {values['item_id'][:80]!r} in source {values['source'][:80]!r}"
    current = store.link_of(item, epic)
    if (current is not None and current["state"] == state) or state == "suggested":  # suggestions: the linker's
        return "unchanged"
    store.decide_link(item, epic, state, note=f"import {file_name}")
    return "decided"


def register(app: typer.Typer, load: Any, console: Console, err: Console) -> None:
    """Add the commands to the main app. ``load(path)`` returns a Config or exits 2."""

    @app.command()
    def link(item: Annotated[str, typer.Argument(help="SOURCE:ITEM_ID")],
             key: Annotated[str, typer.Argument(help="Epic key")], config: ConfigOpt = None) -> None:
        """Link an item to an epic by hand (beats every automatic link)."""
        decide(load(config), item, key, "accepted", console)

    @app.command()
    def unlink(item: Annotated[str, typer.Argument(help="SOURCE:ITEM_ID")],
               key: Annotated[str, typer.Argument(help="Epic key")], config: ConfigOpt = None) -> None:
        """Reject a link for good: no run will link this item to this epic again."""
        decide(load(config), item, key, "rejected", console)

    @app.command()
    def suggest(key: Annotated[str, typer.Argument(help="Epic key")], config: ConfigOpt = None,
                limit: Annotated[int, typer.Option("--limit", "-n")] = 20,
                as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
        """The best candidate items for an epic, ranked (run it right after creating an epic)."""
        rows = suggest_rows(load(config), key, limit)
        if as_json:
            sys.stdout.write(json.dumps(rows, indent=2) + "\n")
            return
        console.print(f"{len(rows)} candidate(s) for {esc(key)}; link with `demandsync link SOURCE:ITEM_ID "
                      f"{esc(key)}`", highlight=False)
        for r in rows:
            console.print(f"{r['score']:.2f}  {r['state']:<9} {esc(r['source'])}:{esc(r['item_id'])}", highlight=False)
            console.print(f"      {esc(r['text'][:160])}", highlight=False, soft_wrap=True)

    @app.command()
    def review(config: ConfigOpt = None,
               limit: Annotated[int | None, typer.Option("--limit", "-n", help="Stop after N.")] = None) -> None:
        """Go through the review queue: [a]ccept, [r]eject, [o]ther epic, [s]kip, [q]uit."""
        cfg = load(config)
        store = Store.open(cfg.store_url)
        done = 0
        try:
            queue = review_queue(store, limit)
            if not queue:
                console.print("nothing to review")
                return
            for n, row in enumerate(queue, start=1):
                epic = store.epic_row(row["epic"]) or {"summary": "?"}
                console.print(f"\n\\[{n}/{len(queue)}] {esc(row['epic'])} {esc(epic['summary'])}  "
                              f"(score {row['score']:.2f})", highlight=False)
                console.print(f"  {esc(row['source'])}:{esc(row['item_id'])} {esc(row['requester'] or '(anonymous)')}",
                              highlight=False)
                console.print(f"  {esc(row['text'][:500])}", highlight=False, soft_wrap=True)
                answer = typer.prompt("accept/reject/other/skip/quit [a/r/o/s/q]", default="s").strip().lower()[:1]
                if answer == "q":
                    break
                if answer == "a":
                    store.decide_link(row["row_id"], row["epic"], "accepted", note="review")
                elif answer == "r":
                    store.decide_link(row["row_id"], row["epic"], "rejected", note="review")
                elif answer == "o":
                    other = typer.prompt("epic key").strip()
                    if store.epic_row(other) is None:
                        err.print(f"{esc(other)} is not a known epic; skipped", highlight=False)
                        continue
                    store.decide_link(row["row_id"], row["epic"], "rejected", note="review: other epic")
                    store.decide_link(row["row_id"], other, "accepted", note="review")
                else:
                    continue
                done += 1
        finally:
            store.close()
        console.print(f"{done} decision(s) saved; figures change on the next run")

    @links_app.command("export")
    def links_export(config: ConfigOpt = None,
                     state: Annotated[str, typer.Option(help="suggested | accepted | rejected | all")] = "suggested",
                     fmt: Annotated[str, typer.Option("--format", help="csv | json")] = "csv",
                     output: Annotated[Path | None, typer.Option("--output", "-o")] = None) -> None:
        """Write links as CSV/JSON (columns: source, item_id, epic, method, score, state, text)."""
        if state not in (*_STATES, "all") or fmt not in ("csv", "json"):
            raise typer.BadParameter("--state is suggested|accepted|rejected|all and --format csv|json")
        store = Store.open(load(config).store_url)
        try:
            text = export_links(store, state, fmt)
        finally:
            store.close()
        if output:
            output.write_text(text, encoding="utf-8", newline="")
        else:
            sys.stdout.write(text)

    @links_app.command("import")
    def links_import(file: Annotated[Path, typer.Argument(help="An edited `links export` file (.csv or .json)")],
                     config: ConfigOpt = None) -> None:
        """Apply the states edited in an export as manual decisions; unchanged rows are left alone."""
        store = Store.open(load(config).store_url)
        try:
            decided, unchanged, problems = import_links(store, file)
        finally:
            store.close()
        for p in problems:
            err.print(f"skipped: {esc(p)}", highlight=False)
        console.print(f"{decided} decision(s) saved, {unchanged} unchanged, {len(problems)} skipped")
        raise typer.Exit(1 if problems else 0)

    app.add_typer(links_app, name="links")
