"""What the fakes' real HTTP servers share: a threading server that can cut its kept-alive connections."""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class TrackingHTTPServer(ThreadingHTTPServer):
    """Serves each connection in a daemon thread and remembers open connections, so ``stop`` really stops."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
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
        """Cut kept-alive connections, so a stopped fake really stops answering."""
        with self._open_lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def serve(server: TrackingHTTPServer, name: str) -> threading.Thread:
    """Serve ``server`` in a background daemon thread (started)."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
    thread.start()
    return thread


def shut_down(server: TrackingHTTPServer, thread: threading.Thread | None) -> None:
    """Stop serving, cut open connections, close the socket and wait for the serving thread."""
    server.shutdown()
    server.close_connections()
    server.server_close()
    if thread is not None:
        thread.join(timeout=5)
