"""What the sandboxes share: serving one on loopback in a daemon thread, and stopping it cleanly.

A sandbox (the Jira one, the Aha! one) answers requests in its ``handle`` method through its own
``BaseHTTPRequestHandler``; this module only starts and stops the threaded server around it.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


class LoopbackServer(ThreadingHTTPServer):
    """Threaded server that remembers open connections so ``stop()`` can close keep-alives."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: Any, handler: type[BaseHTTPRequestHandler]) -> None:
        #: The sandbox whose ``handle`` answers; handlers reach it as ``self.server.sandbox``.
        self.sandbox = sandbox
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            for sock in list(self._open):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class Served:
    """The lifecycle of a sandbox: ``start()`` (a free port by default), ``stop()``, ``with``, and
    ``serve_forever()`` for the CLI. A subclass names its thread and returns its request handler."""

    thread_name: ClassVar[str] = "sandbox"
    url: str = ""
    _server: LoopbackServer | None = None
    _thread: threading.Thread | None = None

    def request_handler(self) -> type[BaseHTTPRequestHandler]:
        """The handler class that reads a request and calls this sandbox's ``handle``."""
        raise NotImplementedError

    def start(self, port: int = 0, host: str = "127.0.0.1") -> str:
        """Bind, serve in a daemon thread, return the base URL (the same one when already serving)."""
        if self._server is not None:
            return self.url
        self._server = LoopbackServer((host, port), self, self.request_handler())
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop accepting, drop open keep-alive connections, release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Block until interrupted (for the CLI)."""
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
