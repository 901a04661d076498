"""An HTTP proxy between boto3 and the KMS test server that throttles, fails or stalls chosen calls.

Retries, deadlines and circuit breakers can only be proven against a server that misbehaves on cue. The
proxy answers queued failures itself, in the shape of AWS's JSON protocol, so botocore classifies them as it
would a real KMS answer; everything else goes upstream byte for byte. A stalled call still reaches the server
after its delay, as a request AWS received does even when the caller has given up on it.
"""

from __future__ import annotations

import bisect
import http.client
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Self
from urllib.parse import urlsplit

from greenlang.testing.loopback import LoopbackHTTPServer, ServerThread, StartStop, TrackedHandler

__all__ = ["FaultProxy", "ProxiedCall"]

_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "upgrade"}
)
# Framing is redone by each side of the proxy; Expect was already answered to the client.
_REFRAMED = frozenset({"transfer-encoding", "content-length", "expect"})
_UPSTREAM_TIMEOUT = 60.0


@dataclass(frozen=True)
class ProxiedCall:
    """One request the proxy saw; ``at`` is its arrival (``time.monotonic()``), ``forwarded`` that it went upstream."""

    operation: str
    status: int
    at: float
    forwarded: bool


@dataclass(frozen=True)
class _Failure:
    status: int
    code: str
    message: str


@dataclass(frozen=True)
class _Stall:
    seconds: float


@dataclass(frozen=True)
class _Answer:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class _Queued:
    operation: str
    fault: _Failure | _Stall
    remaining: int


def _check_times(times: int) -> None:
    if times < 1:
        raise ValueError(f"times must be at least 1, not {times}; pass how many matching requests the fault hits.")


class FaultProxy(StartStop):
    """A fault-injecting proxy on 127.0.0.1 (free port) in front of ``upstream``; use as a context manager.

    ``latency`` (seconds) delays every request, failed ones included. ``log`` lists the calls in arrival order;
    a call is logged once its answer is ready, so a stalled call shows up after its stall, while ``count``
    counts it on arrival.
    """

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream must be an http(s) URL such as 'http://127.0.0.1:5000', not {upstream!r}.")
        self._upstream = parts
        self.latency = 0.0
        self.log: list[ProxiedCall] = []
        self._lock = threading.Lock()
        self._faults: list[_Queued] = []
        self._arrivals: dict[str, int] = {}
        self._generation = 0
        self._stopping = threading.Event()
        self._runner: ServerThread[_Server] = ServerThread(lambda: _Server(self), "FaultProxy")

    def start(self) -> Self:
        if not self._runner.running:
            self._stopping = threading.Event()
            self._runner.start()
        return self

    def stop(self) -> None:
        if self._runner.running:
            self._stopping.set()  # wakes handlers holding a request for latency or a stall
            self._runner.stop()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self._runner.port}"

    def fail(
        self,
        operation: str,
        *,
        status: int = 500,
        code: str = "InternalFailure",
        message: str = "injected fault",
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` ``operation`` requests ("*" for any) with an AWS JSON error, unforwarded."""
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), not {status}; AWS errors are 4xx or 5xx.")
        _check_times(times)
        self._enqueue(operation, _Failure(status, code, message), times)

    def stall(self, operation: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next ``times`` ``operation`` requests ("*" for any) for ``seconds``, then forward them."""
        if seconds < 0:
            raise ValueError(f"seconds must be zero or more, not {seconds}; pass how long to hold the request.")
        _check_times(times)
        self._enqueue(operation, _Stall(seconds), times)

    def reset(self) -> None:
        """Forget queued faults, latency, the log and the counts; calls still in flight are not logged."""
        with self._lock:
            self._faults.clear()
            self._arrivals.clear()
            self.log.clear()
            self.latency = 0.0
            self._generation += 1

    def count(self, operation: str) -> int:
        """How many ``operation`` requests ("*" for all) reached the proxy, including ones still in flight."""
        with self._lock:
            return sum(self._arrivals.values()) if operation == "*" else self._arrivals.get(operation, 0)

    def _enqueue(self, operation: str, fault: _Failure | _Stall, times: int) -> None:
        if not operation:
            raise ValueError("operation must name a KMS action such as 'Sign', or be '*' for any; it is empty.")
        with self._lock:
            self._faults.append(_Queued(operation, fault, times))

    def _arrive(self, operation: str) -> tuple[int, _Failure | _Stall | None]:
        with self._lock:
            self._arrivals[operation] = self._arrivals.get(operation, 0) + 1
            for queued in self._faults:
                if queued.operation in (operation, "*"):
                    queued.remaining -= 1
                    if queued.remaining == 0:
                        self._faults.remove(queued)
                    return self._generation, queued.fault
            return self._generation, None

    def _record(self, call: ProxiedCall, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                bisect.insort(self.log, call, key=lambda logged: logged.at)

    def _forward(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes | None) -> _Answer:
        upstream = self._upstream
        connection_class = http.client.HTTPSConnection if upstream.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(upstream.netloc, timeout=_UPSTREAM_TIMEOUT)
        try:
            has_host = any(name.lower() == "host" for name, _ in headers)
            connection.putrequest(
                method, upstream.path.rstrip("/") + path, skip_host=has_host, skip_accept_encoding=True
            )
            for name, value in headers:
                connection.putheader(name, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            return _Answer(response.status, response.reason, response.getheaders(), response.read())
        finally:
            connection.close()


class _Server(LoopbackHTTPServer):
    def __init__(self, proxy: FaultProxy) -> None:
        self.proxy = proxy
        super().__init__(_Handler)


class _Handler(TrackedHandler):
    server: _Server

    def do_request(self) -> None:
        proxy = self.server.proxy
        body = self._read_body()
        target = self.headers.get("X-Amz-Target", "")
        operation = target.rpartition(".")[2]
        at = time.monotonic()
        generation, fault = proxy._arrive(operation)
        delay = proxy.latency + (fault.seconds if isinstance(fault, _Stall) else 0.0)
        if delay > 0 and proxy._stopping.wait(delay):
            self.close_connection = True
            return
        if isinstance(fault, _Failure):
            answer = _error_answer(fault)
            forwarded = False
        else:
            try:
                answer = proxy._forward(self.command, self.path, _end_to_end(self.headers.items()), body)
                forwarded = True
            except (OSError, http.client.HTTPException) as error:
                answer = _error_answer(_Failure(502, "BadGateway", f"upstream unreachable: {type(error).__name__}"))
                forwarded = False
        proxy._record(ProxiedCall(operation, answer.status, at, forwarded), generation)
        self._reply(answer)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_request

    def _read_body(self) -> bytes | None:
        """The request body, de-chunked; None when the request has none."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            raise ConnectionResetError("client closed the connection mid-body")
        return body

    def _reply(self, answer: _Answer) -> None:
        self.send_response_only(answer.status, answer.reason)
        for name, value in _end_to_end(answer.headers):
            self.send_header(name, value)
        if self.command == "HEAD":
            length = next((value for name, value in answer.headers if name.lower() == "content-length"), None)
            if length is not None:
                self.send_header("Content-Length", length)
        elif answer.status >= 200 and answer.status not in (204, 304):
            self.send_header("Content-Length", str(len(answer.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)


def _end_to_end(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Drop hop-by-hop headers, those the Connection header names, and the framing each side redoes."""
    named = {
        token.strip().lower() for name, value in headers if name.lower() == "connection" for token in value.split(",")
    }
    dropped = _HOP_BY_HOP | _REFRAMED | named
    return [(name, value) for name, value in headers if name.lower() not in dropped]


def _error_answer(failure: _Failure) -> _Answer:
    body = json.dumps({"__type": failure.code, "message": failure.message}).encode()
    headers = [
        ("x-amzn-RequestId", str(uuid.uuid4())),
        ("x-amzn-ErrorType", failure.code),
        ("Content-Type", "application/x-amz-json-1.1"),
    ]
    return _Answer(failure.status, http.client.responses.get(failure.status, "Error"), headers, body)
