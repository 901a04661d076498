"""The test-server base: serves on 127.0.0.1, and stop() returns promptly even with an idle keep-alive client."""

from __future__ import annotations

import http.client
import time

import pytest

from greenlang.testing.loopback import LoopbackHTTPServer, ServerThread, TrackedHandler


class _Hello(TrackedHandler):
    def do_GET(self) -> None:
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_server_thread_serves_on_the_loopback_and_stops_with_a_client_still_connected() -> None:
    runner = ServerThread(lambda: LoopbackHTTPServer(_Hello), "hello-server")
    with runner:
        assert runner.running
        client = http.client.HTTPConnection("127.0.0.1", runner.port, timeout=5)
        client.request("GET", "/")
        response = client.getresponse()
        assert (response.status, response.read()) == (200, b"hello")
        assert runner.server.server_address[0] == "127.0.0.1"
        started = time.monotonic()
    assert time.monotonic() - started < 2.0  # the idle keep-alive connection was woken, not waited out
    assert not runner.running
    with pytest.raises(RuntimeError, match="hello-server is not running; call start"):
        _ = runner.port
    client.close()
