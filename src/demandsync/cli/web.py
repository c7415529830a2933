"""``demandsync web`` (the PM's page), ``demandsync inbox`` (its inbox in the terminal),
and the page beside the schedule for ``demandsync serve --web HOST:PORT``.

The web framework is imported only when a page is served: the other commands
never pay for it.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from demandsync.config import Config
from demandsync.errors import ConfigError

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="Config file.")]


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) -> (host, port); a bare port means 127.0.0.1."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    if not port.isdigit() or not 0 <= int(port) < 65536:  # 0: any free port
        raise ConfigError([("--web", f"{text!r}: write HOST:PORT, e.g. 127.0.0.1:8080")])
    return host.strip("[]") or "127.0.0.1", int(port)


def build_server(config: Config, host: str, port: int) -> Any:
    """A uvicorn server for the page; raises ConfigError (exit 2) before listening beyond loopback untokened."""
    import uvicorn

    from demandsync.web.app import create_app
    from demandsync.web.security import check_bind

    token = config.settings.web.token
    check_bind(host, token.get_secret_value() if token else None)
    app = create_app(config, host=host)
    # access_log off: request lines carry item ids and, on login, nothing else; keep logs for the sync
    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                                         server_header=False))


@dataclass(slots=True)
class RunningPage:
    """The page served from a thread of this process."""

    port: int
    stop: Callable[[], None]


def start_beside(config: Config, listen: str) -> RunningPage:
    """Serve the page in a thread of this process (``serve --web``).

    The socket is bound and listening before this returns, so a client may
    connect at once (port 0 picks a free port: see ``RunningPage.port``).
    """
    host, port = parse_listen(listen)
    server = build_server(config, host, port)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError([("--web", f"cannot listen on {listen}: {exc.strerror or exc}")]) from None
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="demandsync-web", daemon=True)
    thread.start()

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

    return RunningPage(sock.getsockname()[1], stop)


def register(app: typer.Typer, load: Callable[..., Config], console: Console, err: Console) -> None:
    """Add ``web`` and ``inbox`` to the main app. ``load(path)`` returns a Config or exits 2."""

    @app.command()
    def web(config: ConfigOpt = None,
            host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback needs [web] token.")]
            = "127.0.0.1",
            port: Annotated[int, typer.Option(help="Port.")] = 8080) -> None:
        """Serve the PM's page: epics by demand, why each number, and the inbox of unlinked feedback."""
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
                console.print(f"  {ref}  {' '.join(by_id[ref].text.split())[:110]}", highlight=False,
                              markup=False)
        console.print("\nlink with `demandsync link SOURCE:ITEM_ID KEY`, or review them on `demandsync web`",
                      highlight=False)
