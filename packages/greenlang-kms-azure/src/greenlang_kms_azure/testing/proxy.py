"""A plain-HTTP CONNECT proxy that sends every ``host:443`` tunnel to the local vault.

It lets unmodified code that names real hosts (``https://myvault.vault.azure.net``,
``https://login.microsoftonline.com``) run against `LocalKeyVault`: set ``HTTPS_PROXY`` to the proxy's URL,
``REQUESTS_CA_BUNDLE`` to the vault's CA and clear ``NO_PROXY``. TLS stays end to end between the client and
the vault, whose certificate names those hosts, so host-name checks and Key Vault's challenge-resource check
run exactly as against Azure. ``hosts`` records each requested ``host:port``.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import socketserver
import threading
from typing import Any, Self

from greenlang.testing.loopback import ConnectionTracking, ServerThread, StartStop

__all__ = ["TunnelProxy"]

_MAX_HEADER = 64 * 1024
_CHUNK = 64 * 1024


class TunnelProxy(StartStop):
    """CONNECT proxy on ``127.0.0.1:<free port>``; tunnels port-443 targets (and the upstream itself) upstream.

    Other targets get ``403``; anything but CONNECT gets ``405``. Use as a context manager.
    """

    def __init__(self, upstream_port: int, *, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.hosts: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._runner: ServerThread[_Server] = ServerThread(lambda: _Server(self), "TunnelProxy")

    def start(self) -> Self:
        if not self._runner.running:
            self._stopping = threading.Event()
            self._runner.start()
        return self

    def stop(self) -> None:
        if self._runner.running:
            self._stopping.set()  # ends the relays
            self._runner.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, the value for ``HTTPS_PROXY``."""
        return f"http://127.0.0.1:{self._runner.port}"

    def environment(self, ca_path: str) -> dict[str, str]:
        """Environment variables that route requests-based clients through this proxy and trust ``ca_path``."""
        return {"HTTPS_PROXY": self.url, "https_proxy": self.url, "REQUESTS_CA_BUNDLE": ca_path}

    def _routes(self, authority: str) -> bool:
        host, _, port = authority.rpartition(":")
        if port == "443" and host:
            return True
        return (host.strip("[]"), port) == (self.upstream[0], str(self.upstream[1]))


class _Server(ConnectionTracking, socketserver.TCPServer):
    allow_reuse_address = True

    def __init__(self, proxy: TunnelProxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _Tunnel)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients and tunnels hang up all the time; stay quiet."""


class _Tunnel(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        proxy = self.server.proxy
        client: socket.socket = self.request
        client.settimeout(10)
        self.server.opened(client)
        try:
            head, rest = self._read_head(client)
            if head is None:
                return
            method, authority = (head.split(b"\r\n", 1)[0].decode("latin-1").split(" ") + ["", ""])[:2]
            if method.upper() != "CONNECT":
                client.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            with proxy._lock:
                proxy.hosts.append(authority)
            if not proxy._routes(authority):
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            try:
                upstream = socket.create_connection(proxy.upstream, timeout=10)
            except OSError:
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            self.server.opened(upstream)
            try:
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                self._relay(client, upstream)
            finally:
                self.server.closed(upstream)
                upstream.close()
        except OSError:
            return
        finally:
            self.server.closed(client)

    @staticmethod
    def _read_head(client: socket.socket) -> tuple[bytes | None, bytes]:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = client.recv(4096)
            if not chunk or len(data) > _MAX_HEADER:
                return None, b""
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        return head, rest

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        for sock in peers:
            sock.settimeout(None)
        open_ends = 2
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                selector.register(sock, selectors.EVENT_READ)
            while open_ends and not self.server.proxy._stopping.is_set():
                for key, _ in selector.select(timeout=0.2):
                    source: socket.socket = key.fileobj  # type: ignore[assignment]
                    data = source.recv(_CHUNK)
                    if data:
                        peers[source].sendall(data)
                        continue
                    selector.unregister(source)
                    open_ends -= 1
                    with contextlib.suppress(OSError):
                        peers[source].shutdown(socket.SHUT_WR)
