"""The REST front end: Cloud KMS's v1 JSON API over plain HTTP on 127.0.0.1.

Routes follow the API's HTTP rules (``POST /v1/{name=.../cryptoKeyVersions/*}:asymmetricSign``, body ``*``
or one field, the rest of the request in the query string), written out here rather than read from the
client, so a client that transcodes wrongly fails. Bodies use the protobuf JSON mapping (camelCase, bytes
base64, int64 as strings); ``$alt=json;enum-encoding=int`` asks for enums as numbers, as Google honours it.
Errors carry Google's JSON error body with the status code's HTTP equivalent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from greenlang.testing.loopback import LoopbackHTTPServer, ServerThread, TrackedHandler
from greenlang_kms_gcp.testing.dispatch import Dispatcher
from greenlang_kms_gcp.testing.service import RPCS
from greenlang_kms_gcp.testing.status import ServiceError

__all__ = ["ROUTES", "RestFrontEnd", "Route"]

_RING = r"projects/[^/:]+/locations/[^/:]+/keyRings/[^/:]+"
_KEY = rf"{_RING}/cryptoKeys/[^/:]+"
_VERSION = rf"{_KEY}/cryptoKeyVersions/[^/:]+"
_SYSTEM_PARAMETERS = frozenset({"$alt", "alt", "$fields", "fields", "prettyPrint", "key", "quotaUser", "$.xgafv"})


@dataclass(frozen=True)
class Route:
    """One HTTP rule: ``verb`` and ``path`` (a regex with group ``r``, the resource) to an RPC.

    ``field`` is the request field the resource binds to, ``body`` the one the body fills (``"*"``: the whole
    request; None: no body); both by JSON name, dotted for nesting.
    """

    verb: str
    path: re.Pattern[str]
    method: str
    field: str
    body: str | None


def _route(verb: str, path: str, method: str, field: str, body: str | None = None) -> Route:
    return Route(verb, re.compile(path), method, field, body)


ROUTES = (
    _route("GET", rf"/v1/(?P<r>{_KEY})", "GetCryptoKey", "name"),
    _route("GET", rf"/v1/(?P<r>{_VERSION})", "GetCryptoKeyVersion", "name"),
    _route("GET", rf"/v1/(?P<r>{_KEY})/cryptoKeyVersions", "ListCryptoKeyVersions", "parent"),
    _route("GET", rf"/v1/(?P<r>{_VERSION})/publicKey", "GetPublicKey", "name"),
    _route("POST", rf"/v1/(?P<r>{_VERSION}):asymmetricSign", "AsymmetricSign", "name", "*"),
    _route("POST", rf"/v1/(?P<r>{_RING})/cryptoKeys", "CreateCryptoKey", "parent", "cryptoKey"),
    _route("POST", rf"/v1/(?P<r>{_KEY})/cryptoKeyVersions", "CreateCryptoKeyVersion", "parent", "cryptoKeyVersion"),
    _route("PATCH", rf"/v1/(?P<r>{_VERSION})", "UpdateCryptoKeyVersion", "cryptoKeyVersion.name", "cryptoKeyVersion"),
    _route("POST", rf"/v1/(?P<r>{_VERSION}):destroy", "DestroyCryptoKeyVersion", "name", "*"),
    _route("POST", rf"/v1/(?P<r>{_VERSION}):restore", "RestoreCryptoKeyVersion", "name", "*"),
)


def _unrouted_method(path: str) -> str:
    """A name for a call no route takes: its custom verb (``:encrypt`` -> ``Encrypt``), else ``Unknown``."""
    verb = path.rpartition("/")[2].partition(":")[2]
    return verb[:1].upper() + verb[1:] if verb else "Unknown"


def _query_value(descriptor: Any, dotted: str, value: str) -> tuple[list[str], Any]:
    """The JSON path and value a query parameter (camelCase, dots for nesting) binds to in the request."""
    path: list[str] = []
    field: Any = None
    for part in dotted.split("."):
        fields = descriptor.fields_by_camelcase_name if descriptor is not None else {}
        field = fields.get(part) or (descriptor.fields_by_name.get(part) if descriptor is not None else None)
        if field is None:
            raise ServiceError(
                "INVALID_ARGUMENT",
                f'Invalid JSON payload received. Unknown name "{dotted}": Cannot bind query parameter.',
            )
        path.append(field.json_name)
        descriptor = field.message_type
    if field.type == field.TYPE_BOOL:  # the JSON mapping wants a bare true/false, the query string has text
        if value not in ("true", "false"):
            raise ServiceError("INVALID_ARGUMENT", f'Invalid value at "{dotted}" (TYPE_BOOL), "{value}".')
        return path, value == "true"
    return path, value


def _place(payload: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        payload = payload.setdefault(part, {})
        if not isinstance(payload, dict):
            raise ServiceError("INVALID_ARGUMENT", f'Invalid JSON payload received. "{part}" must be an object.')
    payload[path[-1]] = value


def build_request(route: Route, resource: str, query: dict[str, list[str]], body: bytes) -> Any:
    """The proto-plus request a REST call stands for; raises INVALID_ARGUMENT for JSON Google would refuse."""
    request_type = RPCS[route.method].request
    descriptor = request_type.pb().DESCRIPTOR
    payload: dict[str, Any] = {}
    if body.strip():
        if route.body is None:
            raise ServiceError("INVALID_ARGUMENT", f"{route.method} takes no request body.")
        try:
            parsed = json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise ServiceError("INVALID_ARGUMENT", f"Invalid JSON payload received. {error}") from error
        if not isinstance(parsed, dict):
            raise ServiceError("INVALID_ARGUMENT", "Invalid JSON payload received. The body must be a JSON object.")
        if route.body == "*":
            payload = parsed
        else:
            payload[route.body] = parsed
    for name, values in query.items():
        if name not in _SYSTEM_PARAMETERS:
            _place(payload, *_query_value(descriptor, name, values[-1]))
    _place(payload, route.field.split("."), resource)
    try:
        return request_type.from_json(json.dumps(payload))
    except Exception as error:  # protobuf's ParseError; its module ships no type hints
        raise ServiceError("INVALID_ARGUMENT", f"Invalid JSON payload received. {error}") from error


def answer(dispatcher: Dispatcher, verb: str, target: str, body: bytes) -> tuple[int, bytes]:
    """The HTTP status and JSON body for one REST request; every request is logged."""
    parts = urlsplit(target)
    path = unquote(parts.path)
    query = parse_qs(parts.query, keep_blank_values=True)
    numeric_enums = "enum-encoding=int" in ";".join(query.get("$alt", []))
    found = next(
        ((route, match) for route in ROUTES if route.verb == verb and (match := route.path.fullmatch(path))), None
    )
    try:
        if found is None:
            method = _unrouted_method(path)
            if path.startswith("/v1/projects/") and method not in RPCS:
                error = ServiceError("UNIMPLEMENTED", f"{verb} {path} is not implemented here.")
            else:
                error = ServiceError("NOT_FOUND", f"The requested URL {path} was not found on this server.")
            dispatcher.reject(method, path, error, "rest")
            raise error
        route, match = found
        try:
            request = build_request(route, match.group("r"), query, body)
        except ServiceError as error:
            dispatcher.reject(route.method, match.group("r"), error, "rest")
            raise
        response = dispatcher.invoke(route.method, request, "rest")
    except ServiceError as error:
        return error.http_status, _error_body(error)
    rendered = RPCS[route.method].response.to_json(
        response, use_integers_for_enums=numeric_enums, always_print_fields_with_no_presence=False
    )
    return 200, rendered.encode()


def _error_body(error: ServiceError) -> bytes:
    payload = {"error": {"code": error.http_status, "message": error.message, "status": error.code}}
    return json.dumps(payload).encode()


class _Server(LoopbackHTTPServer):
    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        super().__init__(_Handler)


class _Handler(TrackedHandler):
    server: _Server

    def do_request(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, payload = answer(self.server.dispatcher, self.command, self.path, body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_request


class RestFrontEnd:
    """A threading HTTP server bound to an ephemeral port on 127.0.0.1."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._runner: ServerThread[_Server] = ServerThread(lambda: _Server(dispatcher), "LocalCloudKms-rest")
        self.port = 0

    def start(self) -> int:
        self.port = self._runner.start().port
        return self.port

    def stop(self) -> None:
        self._runner.stop()
