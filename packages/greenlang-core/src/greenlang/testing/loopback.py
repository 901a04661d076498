"""Servers for tests, on 127.0.0.1: each runs in a daemon thread, and stopping it wakes every connection still open.

The plugins' test servers (fault proxies, the local Key Vault, the local Cloud
KMS's REST front end) are built from these pieces, so each writes only its
protocol. Without closing open connections on stop, a handler blocked on an
idle keep-alive connection would hold ``stop()`` until the client hung up.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

__all__ = ["CLIENT_GONE", "StartStop", "ConnectionTracking", "LoopbackHTTPServer", "TrackedHandler", "ServerThread"]

CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, ssl.SSLError, TimeoutError)
"""What a handler meets when its client hangs up, which timeout and stall tests are made of."""


class StartStop:
    """``with server:`` for anything with ``start()`` and ``stop()``."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ConnectionTracking(socketserver.ThreadingMixIn):
    """A threading socketserver that knows its open connections and is quiet when a client hangs up."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def opened(self, connection: socket.socket) -> None:
        with self._open_lock:
            self._open.add(connection)

    def closed(self, connection: socket.socket) -> None:
        with self._open_lock:
            self._open.discard(connection)

    def close_connections(self) -> None:
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], CLIENT_GONE):
            super().handle_error(request, client_address)  # type: ignore[misc]


class LoopbackHTTPServer(ConnectionTracking, ThreadingHTTPServer):
    """A threading HTTP server on an ephemeral port of 127.0.0.1."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)


class TrackedHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; registers its connection with a ``ConnectionTracking`` server."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle + delayed ACK would add ~40 ms

    def setup(self) -> None:
        super().setup()
        _tracking(self.server).opened(self.connection)

    def handle(self) -> None:
        try:
            super().handle()
        except CLIENT_GONE:
            self.close_connection = True

    def finish(self) -> None:
        _tracking(self.server).closed(self.connection)
        with contextlib.suppress(*CLIENT_GONE):
            super().finish()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: test output is for test results."""


def _tracking(server: object) -> ConnectionTracking:
    assert isinstance(server, ConnectionTracking)
    return server


S = TypeVar("S", bound=socketserver.BaseServer)


class ServerThread(StartStop, Generic[S]):
    """Runs the server ``make_server`` builds in a daemon thread, from ``start()`` until ``stop()``."""

    def __init__(self, make_server: Callable[[], S], name: str) -> None:
        self._make_server = make_server
        self._name = name
        self._server: S | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._server = self._make_server()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self._name, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if isinstance(server, ConnectionTracking):
            server.close_connections()
        if thread is not None:
            thread.join()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def server(self) -> S:
        if self._server is None:
            raise RuntimeError(f"{self._name} is not running; call start() or use it in a with block.")
        return self._server

    @property
    def port(self) -> int:
        address = self.server.server_address
        assert isinstance(address, tuple)
        return int(address[1])
