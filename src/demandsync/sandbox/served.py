"""What the sandboxes share: serving one on loopback in a daemon thread, reading each request and
writing its answer, and stopping it cleanly.

A sandbox (the Jira one, the Aha! one) turns one request into status, headers and body bytes in
its :meth:`Served.answer`; this module owns the HTTP plumbing around it (:class:`SandboxHandler`).
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Mapping
from email.message import Message
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


class SandboxHandler(BaseHTTPRequestHandler):
    """Reads one request, asks the server's sandbox for its answer, writes it back."""

    protocol_version = "HTTP/1.1"  # keep-alive: benchmarks reuse connections
    disable_nagle_algorithm = True  # headers and body go out as separate small writes
    server: LoopbackServer

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_GET

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        sandbox: Served = self.server.sandbox
        try:
            status, headers, payload = sandbox.answer(self.command, self.path, self.headers, raw)
        except Exception as exc:  # a sandbox bug must not look like a hung server
            print(f"{sandbox.label}: {self.command} {self.path}: {exc!r}", file=sys.stderr)
            status, headers, payload = sandbox.crashed(exc)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if payload:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Quiet: a benchmark would otherwise print thousands of access lines."""


#: What a sandbox answers: status, every header to send (Content-Type/Length included), body bytes.
Wire = tuple[int, Mapping[str, str], bytes]


class Served:
    """The lifecycle of a sandbox: ``start()`` (a free port by default), ``stop()``, ``with``, and
    ``serve_forever()`` for the CLI. A subclass names its thread and turns a request into a
    :data:`Wire` answer (:meth:`answer`, and :meth:`crashed` when that raised)."""

    thread_name: ClassVar[str] = "sandbox"
    #: Names the sandbox in the line printed when :meth:`answer` raises.
    label: ClassVar[str] = "sandbox"
    url: str = ""
    _server: LoopbackServer | None = None
    _thread: threading.Thread | None = None

    def answer(self, method: str, target: str, headers: Message[str, str], raw: bytes) -> Wire:
        """One request in, the bytes of its answer out."""
        raise NotImplementedError

    def crashed(self, exc: Exception) -> Wire:
        """The 500 sent when :meth:`answer` raised, in the vendor's error shape."""
        raise NotImplementedError

    def request_handler(self) -> type[BaseHTTPRequestHandler]:
        """The handler class that reads a request and calls :meth:`answer`."""
        return SandboxHandler

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
