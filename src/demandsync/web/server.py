"""Serving the page: uvicorn, on its own (``demandsync web``) or in a thread beside the
schedule (``demandsync serve --web HOST:PORT``), refusing to listen beyond loopback
without a token."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn

from demandsync.config import Config
from demandsync.errors import ConfigError
from demandsync.web.app import create_app
from demandsync.web.security import check_bind


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) -> (host, port); a bare port means 127.0.0.1."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    if not port.isdigit() or not 0 <= int(port) < 65536:  # 0: any free port
        raise ConfigError([("--web", f"{text!r}: write HOST:PORT, e.g. 127.0.0.1:8080")])
    return host.strip("[]") or "127.0.0.1", int(port)


def build_server(config: Config, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for the page; raises ConfigError (exit 2) before listening beyond loopback untokened."""
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
