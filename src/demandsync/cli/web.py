"""``demandsync web`` (the PM's page) and ``demandsync inbox`` (its inbox in the terminal).

The page itself, and the server beside the schedule for ``demandsync serve --web``,
live in ``demandsync.web``; it is imported only when a page is served, so the
other commands never pay for it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from demandsync.cli.options import ConfigOpt
from demandsync.cli.untrusted import esc
from demandsync.errors import ConfigError
from demandsync.handles import item_handle

if TYPE_CHECKING:  # imported by the commands that use it: `--help` stays fast
    from demandsync.config import Config



def register(app: typer.Typer, load: Callable[..., Config], console: Console, err: Console) -> None:
    """Add ``web`` and ``inbox`` to the main app. ``load(path)`` returns a Config or exits 2."""

    @app.command()
    def web(config: ConfigOpt = None,
            host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback needs [web] token.")]
            = "127.0.0.1",
            port: Annotated[int, typer.Option(help="Port.")] = 8080) -> None:
        """Serve the PM's page: epics by demand, why each number, and the inbox of unlinked feedback."""
        from demandsync.web.server import build_server

        cfg = load(config)
        try:
            server = build_server(cfg, host, port)
        except ConfigError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(2) from None
        shown = f"[{host}]" if ":" in host else host
        console.print(f"demandsync page on http://{shown}:{port}/ (Ctrl-C stops it)", highlight=False)
        server.run()

    @app.command()
    def inbox(config: ConfigOpt = None,
              limit: Annotated[int, typer.Option("--limit", "-n", help="Themes to show.")] = 20,
              as_json: Annotated[bool, typer.Option("--json", help="The /api/inbox document.")] = False) -> None:
        """Feedback no epic claims, grouped into themes, with the best candidate epics."""
        from demandsync.sync import board
        from demandsync.sync.store.store import Store

        cfg = load(config)
        store = Store.open(cfg.store_url)
        try:
            box = board.inbox(store, theme_items=cfg.settings.web.theme_items)
        finally:
            store.close()
        if as_json:
            sys.stdout.write(json.dumps(box.as_dict(), indent=2, default=str) + "\n")
            return
        themed = {i for t in box.themes for i in t.items}
        console.print(f"{box.total} item(s) no epic claims, {len(box.themes)} theme(s); "
                      f"{box.total - len(themed)} not in a theme", highlight=False)
        by_id = {i.id: i for i in box.items}
        for t in box.themes[:limit]:
            cands = ", ".join(f"{c['epic']} {c['score']:.2f}" for c in t.candidates) or "no epic fits"
            accounts = f"{len(t.accounts)} account(s)"
            console.print(f"\n[bold]{t.label}[/]  {t.size} items · {accounts} · newest "
                          f"{(t.newest or 'no date')[:10]}  candidates: {cands}", highlight=False)
            for ref in t.items[:3]:
                item = by_id[ref]
                handle = item_handle(item.source, ref.split(":", 1)[1])
                console.print(f"  {esc(handle)}  {esc(' '.join(item.text.split())[:110])}", highlight=False)
        console.print("\nlink with `demandsync link HANDLE KEY`, or review them on `demandsync web`",
                      highlight=False)
