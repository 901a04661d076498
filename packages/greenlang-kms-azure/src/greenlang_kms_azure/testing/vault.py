"""A local Azure Key Vault (or Managed HSM) over HTTPS on 127.0.0.1, for driving the real SDK clients in tests.

It speaks the wire protocol the SDK expects: the unauthenticated probe gets a 401 with the Bearer challenge,
only tokens from the vault's own Entra ID endpoint (or ``static_token``) are accepted, and answers and errors
have the service's JSON shapes. Tests steer it with a Python API (create, rotate, disable or forbid keys, read
private keys as an oracle) and knobs for faults, latency and ECDSA leading zeros; ``requests`` logs every call.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import ssl
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple, Self
from urllib.parse import parse_qs, urlsplit

from greenlang.testing.loopback import CLIENT_GONE, ConnectionTracking, ServerThread, StartStop
from greenlang_kms_azure.testing.aad import Grant, LocalDirectory, oauth_fault
from greenlang_kms_azure.testing.credentials import AsyncRecordingCredential, RecordingCredential
from greenlang_kms_azure.testing.keystore import KeyStore
from greenlang_kms_azure.testing.rest import KeysApi
from greenlang_kms_azure.testing.signing import PrivateKey
from greenlang_kms_azure.testing.tls import ServerCertificate, issue_server_certificate
from greenlang_kms_azure.testing.wire import Reply, VaultError

__all__ = ["DEFAULT_TENANT", "LocalKeyVault", "LoggedRequest"]

DEFAULT_TENANT = "8f2c1d7e-4b5a-4c3e-9a1f-0d6e7b8c9a10"
VAULT_RESOURCE = "https://vault.azure.net"
MANAGED_HSM_RESOURCE = "https://managedhsm.azure.net"
CLOUD_DOMAINS = (
    "vault.azure.net",
    "vault.azure.cn",
    "vault.usgovcloudapi.net",
    "managedhsm.azure.net",
    "managedhsm.azure.cn",
    "managedhsm.usgovcloudapi.net",
)
"""Each cloud's vault domain is its token resource: a vault under one challenges for that domain."""
_STATIC_CLIENT = "local-static-token"
_CREDENTIAL_CLIENT = "local-recording-credential"
_FAULT_ERRORS = {
    429: ("Throttled", "Request was not allowed because the vault's request limit was exceeded. Retry later."),
    500: ("InternalServerError", "The service encountered an internal error. Retry the request."),
    502: ("BadGateway", "The service could not reach a backend. Retry the request."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable. Retry the request."),
    504: ("GatewayTimeout", "The service timed out. Retry the request."),
}


@contextlib.contextmanager
def _as_python_errors() -> Iterator[None]:
    """Service errors met through the Python API become KeyError (missing key) or ValueError."""
    try:
        yield
    except VaultError as error:
        if error.status == 404:
            raise KeyError(error.message) from None
        raise ValueError(error.message) from None


class LoggedRequest(NamedTuple):
    """One request the vault answered: method, path (no query), whether it carried an accepted token, status."""

    method: str
    path: str
    authorized: bool
    status: int


@dataclass
class _Fault:
    remaining: int
    status: int
    retry_after: float | None
    path_contains: str | None


class LocalKeyVault(StartStop):
    """A Key Vault on ``https://127.0.0.1:<free port>``; use as a context manager or with ``start()``/``stop()``.

    ``hostnames`` are extra DNS names for the certificate (real vault and login hosts a `TunnelProxy` routes
    here). ``managed_hsm`` switches the challenge resource to Managed HSM's. Keys, app registrations and issued
    tokens live as long as the object; ``reset()`` clears faults, knobs and logs but keeps keys.
    """

    def __init__(
        self,
        *,
        hostnames: Iterable[str] = (),
        managed_hsm: bool = False,
        tenant_id: str = DEFAULT_TENANT,
        authority_host: str = "https://login.microsoftonline.com",
    ) -> None:
        self.tenant_id = tenant_id
        self.managed_hsm = managed_hsm
        self.resource = MANAGED_HSM_RESOURCE if managed_hsm else VAULT_RESOURCE
        self.authority_host = authority_host.rstrip("/")
        self.hostnames = tuple(hostnames)
        self.keys = KeyStore()
        self.directory = LocalDirectory(tenant_id)
        self.static_token = secrets.token_urlsafe(32)
        self.latency = 0.0
        self.requests: list[LoggedRequest] = []
        self.api_versions: list[str] = []
        self._api = KeysApi(self.keys)
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._generation = 0  # bumped by reset(): requests that arrived before it neither log nor take faults
        self._stopping = threading.Event()
        self._runner: ServerThread[_Server] | None = None
        self._directory_path: Path | None = None
        self._certificate: ServerCertificate | None = None

    def __repr__(self) -> str:
        where = self.url if self._runner is not None else "stopped"
        return f"LocalKeyVault({where}, managed_hsm={self.managed_hsm})"

    # lifecycle

    def start(self) -> Self:
        if self._runner is not None:
            return self
        self._directory_path = Path(tempfile.mkdtemp(prefix="greenlang-local-vault-"))
        self._certificate = issue_server_certificate(self._directory_path, self.hostnames)
        self._stopping = threading.Event()
        context = self._certificate.server_context()
        self._runner = ServerThread(lambda: _Server(self, context), "LocalKeyVault").start()
        return self

    def stop(self) -> None:
        if self._runner is None:
            return
        runner, self._runner = self._runner, None
        self._stopping.set()  # answers requests held for latency
        runner.stop()
        if self._directory_path is not None:
            shutil.rmtree(self._directory_path, ignore_errors=True)
            self._directory_path = None

    # addresses

    def _running(self) -> ServerThread[_Server]:
        if self._runner is None:
            raise RuntimeError("LocalKeyVault is not running; call start() or use it in a with block.")
        return self._runner

    @property
    def port(self) -> int:
        return self._running().port

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    @property
    def ca_path(self) -> str:
        """PEM of the CA that signed the server certificate: pass as ``connection_verify`` or ``REQUESTS_CA_BUNDLE``."""
        self._running()
        assert self._certificate is not None
        return str(self._certificate.ca_path)

    @property
    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value of every 401 to the vault's own address."""
        return self.challenge_for(self.host)

    def challenge_for(self, host: str) -> str:
        """The challenge for a request to ``host``, as Key Vault and Managed HSM send it in that host's cloud."""
        return f'Bearer authorization="{self.authority_host}/{self.tenant_id}", resource="{self.resource_for(host)}"'

    def resource_for(self, host: str) -> str:
        """The token resource for ``host``: its cloud's vault domain, or ``resource`` for other addresses."""
        name = host.lower().rsplit(":", 1)[0] if host.count(":") == 1 else host.lower()
        for domain in CLOUD_DOMAINS:
            if name.endswith(f".{domain}"):
                return f"https://{domain}"
        return self.resource

    # credentials

    def _issue(self, scope: str, tenant_id: str | None) -> tuple[str, float]:
        token, grant = self.directory.issue(
            tenant_id or self.tenant_id, _CREDENTIAL_CLIENT, scope.removesuffix("/.default")
        )
        return token, grant.expires_at

    def credential(self) -> RecordingCredential:
        """A credential whose tokens come from this vault's directory, for the scope and tenant asked."""
        return RecordingCredential(self._issue)

    def async_credential(self) -> AsyncRecordingCredential:
        return AsyncRecordingCredential(self._issue)

    def register_app(self, tenant: str, client_id: str, client_secret: str) -> None:
        """Let ``ClientSecretCredential(tenant, client_id, client_secret)`` get tokens from this vault's AAD."""
        self.directory.register_app(tenant, client_id, client_secret)

    # keys

    def create_key(
        self,
        name: str,
        kty: str = "EC",
        *,
        curve: str | None = None,
        size: int | None = None,
        key_ops: Iterable[str] = ("sign", "verify"),
        enabled: bool = True,
        tags: dict[str, str] | None = None,
        private_key: PrivateKey | None = None,
    ) -> str:
        """Create a key (or a new version of it); returns the version.

        ``curve`` defaults to P-256 and ``size`` to 2048 (RSA-4096 takes about a second to generate);
        ``private_key`` imports that material instead, taking curve or size from it.
        """
        ec_key = kty.startswith("EC")
        with _as_python_errors():
            key = self.keys.create(
                name,
                kty,
                crv=curve if ec_key else None,
                size=None if ec_key else size,
                key_ops=list(key_ops),
                enabled=enabled,
                tags=tags,
                private_key=private_key,
            )
        return key.version

    def rotate(self, name: str) -> str:
        """A new current version with fresh key material of the same type; returns it."""
        with _as_python_errors():
            return self.keys.rotate(name).version

    def set_enabled(self, name: str, version: str | None = None, enabled: bool = False) -> None:
        """Disable (or re-enable) a version, the current one by default."""
        with _as_python_errors():
            self.keys.update(name, version, enabled=enabled)

    def forbid(self, name: str, forbidden: bool = True) -> None:
        """Answer every request for key ``name`` with 403 ``AccessDenied``, as an access-policy denial does."""
        self._api.forbid(name, forbidden)

    def private_key(self, name: str, version: str | None = None) -> PrivateKey:
        """The key the vault signs with (the current version by default): an oracle for tests."""
        with _as_python_errors():
            return self.keys.get(name, version).private_key

    def current_version(self, name: str) -> str:
        """The newest version of ``name``, the one ``GET /keys/<name>`` answers with."""
        with _as_python_errors():
            return self.keys.get(name).version

    def kid(self, name: str, version: str | None = None) -> str:
        """``<url>/keys/<name>/<version>``, the current version by default."""
        with _as_python_errors():
            return self.keys.get(name, version).kid(self.url)

    @property
    def signed(self) -> list[tuple[str, int]]:
        """``(alg, value length)`` of each signature the vault made since the last ``reset()``."""
        return list(self._api.signed)

    @property
    def leading_zero(self) -> str | None:
        """ "r" or "s": ECDSA signatures are redrawn until that half starts with a 0x00 byte; None to sign once."""
        return self._api.leading_zero

    @leading_zero.setter
    def leading_zero(self, half: str | None) -> None:
        if half not in ("r", "s", None):
            raise ValueError(f"leading_zero must be 'r', 's' or None, not {half!r}.")
        self._api.leading_zero = half

    # faults and logs

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 503,
        retry_after: float | None = None,
        path_contains: str | None = None,
    ) -> None:
        """Fail the next ``n`` requests (whose path contains ``path_contains``) with ``status`` and a service body.

        Only requests that got past authentication count, so a challenge round-trip never uses one up.
        """
        if n < 1:
            raise ValueError(f"n must be at least 1, not {n}.")
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), not {status}.")
        with self._lock:
            self._faults.append(_Fault(n, status, retry_after, path_contains))

    def reset(self) -> None:
        """Clear queued faults, latency, the leading-zero knob, forbidden keys and the logs; keys stay.

        Requests still in flight (a stalled one a client gave up on) are then neither logged nor failed.
        """
        with self._lock:
            self._faults.clear()
            self._generation += 1
            self.requests.clear()
            self.api_versions.clear()
        self.latency = 0.0
        self._api.leading_zero = None
        self._api.signed.clear()
        self._api.clear_forbidden()

    def count(self, path_contains: str = "", *, authorized: bool | None = None) -> int:
        """How many logged requests have ``path_contains`` in their path (and the given ``authorized``)."""
        with self._lock:
            return sum(
                1
                for entry in self.requests
                if path_contains in entry.path and (authorized is None or entry.authorized == authorized)
            )

    def _arrive(self) -> int:
        with self._lock:
            return self._generation

    def _take_fault(self, path: str, generation: int) -> _Fault | None:
        with self._lock:
            if generation != self._generation:
                return None
            for fault in self._faults:
                if fault.path_contains is None or fault.path_contains in path:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # request handling

    def _authenticate(self, authorization: str | None, resource: str) -> Grant | str:
        """The caller's grant for ``resource``, or why the request is unauthorized (the 401 message)."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "AKV10000: Request is missing a Bearer or PoP token."
        token = token.strip()
        if secrets.compare_digest(token.encode(), self.static_token.encode()):
            return Grant(self.tenant_id, _STATIC_CLIENT, resource, float("inf"))
        grant = self.directory.grant(token)
        if grant is None:
            return "Token validation failed: the token was not issued by this vault's Entra ID tenant."
        if grant.audience != resource:
            return f"AKV10022: Invalid audience. Expected {resource}, found: {grant.audience}."
        if grant.tenant != self.tenant_id:
            return (
                f"AKV10032: Invalid issuer. Expected one of https://sts.windows.net/{self.tenant_id}/, "
                f"found {grant.issuer}."
            )
        if grant.expires_at <= time.time():
            return "Token validation failed: the token has expired."
        return grant

    def _instances(self, request_host: str) -> dict[str, str]:
        """Authority hosts the local Entra ID answers instance discovery for, with and without the port."""
        local = {"127.0.0.1": self.host, "localhost": f"localhost:{self.port}"}
        named = {name.lower(): name.lower() for name in self.hostnames}
        return {request_host: request_host, **named, **local, **{netloc: netloc for netloc in local.values()}}

    def _fault_reply(self, fault: _Fault, aad: bool) -> Reply:
        headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
        if aad:
            reply = oauth_fault(fault.status)
            return Reply(reply.status, reply.body, {**reply.headers, **headers})
        code, message = _FAULT_ERRORS.get(fault.status, ("InjectedFault", "The request failed."))
        return VaultError(fault.status, code, message).reply(headers)

    def _answer(self, method: str, target: str, headers: Any, body: bytes, generation: int) -> tuple[Reply, bool]:
        """The reply to one request and whether it was authorized; faults and latency applied here."""
        parts = urlsplit(target)
        path = parts.path or "/"
        if self.latency > 0 and self._stopping.wait(self.latency):
            return VaultError(503, "ServiceUnavailable", "The vault is shutting down.").reply(), False
        host = (headers.get("Host") or self.host).lower().removesuffix(":443")
        base_url = f"https://{host}"
        if LocalDirectory.handles(path):
            fault = self._take_fault(path, generation)
            if fault is not None:
                return self._fault_reply(fault, aad=True), False
            return self.directory.respond(method, path, parts.query, body, base_url, self._instances(host)), False
        api_version = parse_qs(parts.query).get("api-version")
        if api_version:
            with self._lock:
                if generation == self._generation:
                    self.api_versions.append(api_version[0])
        caller = self._authenticate(headers.get("Authorization"), self.resource_for(host))
        if isinstance(caller, str):
            reply = VaultError(401, "Unauthorized", caller).reply({"WWW-Authenticate": self.challenge_for(host)})
            return reply, False
        fault = self._take_fault(path, generation)
        if fault is not None:
            return self._fault_reply(fault, aad=False), True
        hostname = host.rsplit(":", 1)[0]
        vault_name = "local" if hostname.replace(".", "").isdigit() else hostname.split(".")[0]
        return self._api.respond(method, path, body, base_url, caller, vault_name), True

    def _log(self, entry: LoggedRequest, generation: int) -> None:
        with self._lock:
            if generation == self._generation:
                self.requests.append(entry)


class _Server(ConnectionTracking, ThreadingHTTPServer):
    """Accepts plain TCP and does each TLS handshake in the connection's own thread."""

    def __init__(self, vault: LocalKeyVault, context: ssl.SSLContext) -> None:
        self.vault = vault
        self.context = context
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10)
        try:
            connection = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # a client that gave up or did not trust us: nothing to answer
        self.opened(connection)
        try:
            _Handler(connection, client_address, self)
        finally:
            self.closed(connection)
            with contextlib.suppress(OSError):
                connection.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Stay quiet; the vault's log is ``LocalKeyVault.requests``."""

    def handle(self) -> None:
        with contextlib.suppress(*CLIENT_GONE):
            super().handle()

    def do_request(self) -> None:
        vault = self.server.vault
        body = self._read_body()
        generation = vault._arrive()
        try:
            reply, authorized = vault._answer(self.command, self.path, self.headers, body, generation)
        except Exception as error:  # a bug in the local vault: answer 500 so the test sees it, and report it
            traceback.print_exc()
            message = f"The local vault failed: {type(error).__name__}."
            reply, authorized = VaultError(500, "InternalServerError", message).reply(), False
        vault._log(LoggedRequest(self.command, urlsplit(self.path).path, authorized, reply.status), generation)
        self._send(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_request

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while size := int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            raise ConnectionResetError("client closed the connection mid-body")
        return body

    def _send(self, reply: Reply) -> None:
        payload = reply.encoded()
        self.send_response(reply.status)
        headers = {
            "Cache-Control": "no-cache",
            "Pragma": "no-cache",
            "Expires": "-1",
            "x-ms-request-id": str(uuid.uuid4()),
            "x-ms-keyvault-region": "local",
            "x-ms-keyvault-service-version": "1.9.0.0",
            "Strict-Transport-Security": "max-age=31536000;includeSubDomains",
            "X-Content-Type-Options": "nosniff",
            **reply.headers,
        }
        client_request_id = self.headers.get("x-ms-client-request-id")
        if client_request_id:
            headers["x-ms-client-request-id"] = client_request_id
        if payload:
            headers["Content-Type"] = "application/json; charset=utf-8"
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
