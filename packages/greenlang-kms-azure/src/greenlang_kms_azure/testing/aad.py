"""A local Microsoft Entra ID (Azure AD) token service: just what MSAL needs for the client-credentials flow.

azure-identity's ``ClientSecretCredential`` (and ``EnvironmentCredential`` / ``DefaultAzureCredential`` built on
it) asks MSAL for a token. MSAL first discovers the authority (``/common/discovery/instance`` for hosts it does not
know, then ``/{tenant}/v2.0/.well-known/openid-configuration``) and then posts the client secret to the token
endpoint that document names. This module answers those three requests in Entra ID's shapes, including its
AADSTS error bodies, and remembers every token it issued so the vault can tell its own tokens from strangers'.
Endpoints in discovery answers use the host the request named, so the same service works as
``https://127.0.0.1:PORT`` and, behind a CONNECT proxy, as ``https://login.microsoftonline.com``.
"""

from __future__ import annotations

import datetime
import hmac
import re
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from greenlang_kms_azure.testing.wire import Reply

__all__ = ["Grant", "LocalDirectory"]

TOKEN_LIFETIME = 3599
_OPENID = re.compile(r"/([^/]+)/v2\.0/\.well-known/openid-configuration")
_TOKEN = re.compile(r"/([^/]+)/oauth2/v2\.0/token")
_DISCOVERY = "/common/discovery/instance"
_AUTHORIZE = re.compile(r"/([^/]+)/oauth2/v2\.0/authorize")
_RESERVED_SCOPES = {"openid", "profile", "offline_access"}


@dataclass(frozen=True)
class Grant:
    """Who a token was issued to and for what: tenant, client (app) id, audience (resource) and expiry."""

    tenant: str
    client_id: str
    audience: str
    expires_at: float

    @property
    def issuer(self) -> str:
        return f"https://sts.windows.net/{self.tenant}/"


def _oauth_error(status: int, error: str, code: int, description: str) -> Reply:
    """An Entra ID error body: ``error``, ``error_description`` with trace lines, ``error_codes`` and ids."""
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    body = {
        "error": error,
        "error_description": (
            f"AADSTS{code}: {description}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\n"
            f"Timestamp: {stamp}"
        ),
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    return Reply(status, body, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})


def oauth_fault(status: int) -> Reply:
    """An injected Entra ID failure for ``status`` (throttling or an outage)."""
    if status == 429:
        return _oauth_error(status, "temporarily_unavailable", 50196, "The server is busy; retry later.")
    if status >= 500:
        return _oauth_error(status, "temporarily_unavailable", 90033, "A transient error has occurred.")
    return _oauth_error(status, "invalid_request", 90000, "The request was refused.")


class LocalDirectory:
    """App registrations (tenant, client id, secret) and the tokens issued to them; thread-safe."""

    def __init__(self, tenant: str) -> None:
        self._lock = threading.Lock()
        self._tenants = {tenant}
        self._apps: dict[tuple[str, str], str] = {}
        self._grants: dict[str, Grant] = {}

    def __repr__(self) -> str:
        return f"LocalDirectory(tenants={sorted(self._tenants)!r}, apps={len(self._apps)})"

    def register_app(self, tenant: str, client_id: str, client_secret: str) -> None:
        if not (tenant and client_id and client_secret):
            raise ValueError("tenant, client_id and client_secret must all be non-empty to register an app.")
        with self._lock:
            self._tenants.add(tenant)
            self._apps[(tenant, client_id)] = client_secret

    def issue(self, tenant: str, client_id: str, audience: str, lifetime: int = TOKEN_LIFETIME) -> tuple[str, Grant]:
        """A new opaque access token for ``audience``; only this directory can tell what it grants."""
        token = secrets.token_urlsafe(48)
        grant = Grant(tenant, client_id, audience.rstrip("/"), time.time() + lifetime)
        with self._lock:
            self._grants[token] = grant
        return token, grant

    def grant(self, token: str) -> Grant | None:
        with self._lock:
            return self._grants.get(token)

    @staticmethod
    def handles(path: str) -> bool:
        return path == _DISCOVERY or bool(_OPENID.fullmatch(path) or _TOKEN.fullmatch(path))

    def respond(
        self, method: str, path: str, query: str, body: bytes, base_url: str, instances: Mapping[str, str]
    ) -> Reply:
        """Answer one Entra ID request.

        ``instances`` maps each authority host this service stands in for, as MSAL names it in instance
        discovery (it drops the port), to the ``host:port`` that reaches it.
        """
        if path == _DISCOVERY and method == "GET":
            return self._instance_discovery(parse_qs(query), instances)
        if (match := _OPENID.fullmatch(path)) and method == "GET":
            return self._openid_configuration(match.group(1), base_url)
        if (match := _TOKEN.fullmatch(path)) and method == "POST":
            return self._token(match.group(1), parse_qs(body.decode("utf-8", "replace")))
        return _oauth_error(405, "invalid_request", 900561, f"This endpoint does not accept {method} requests.")

    def _known(self, tenant: str) -> bool:
        with self._lock:
            return tenant in self._tenants

    def _instance_discovery(self, query: dict[str, list[str]], instances: Mapping[str, str]) -> Reply:
        endpoint = urlsplit(query.get("authorization_endpoint", [""])[0])
        match = _AUTHORIZE.fullmatch(endpoint.path)
        host = instances.get(endpoint.netloc.lower())
        if endpoint.scheme != "https" or host is None or not match:
            return _oauth_error(400, "invalid_instance", 50049, "Unknown or invalid instance.")
        body = {
            "tenant_discovery_endpoint": f"https://{host}/{match.group(1)}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }
        return Reply(200, body)

    def _openid_configuration(self, tenant: str, base_url: str) -> Reply:
        if not self._known(tenant):
            return _oauth_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        root = f"{base_url}/{tenant}"
        body: dict[str, Any] = {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base_url}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{root}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "tenant_region_scope": None,
        }
        return Reply(200, body)

    def _token(self, tenant: str, form: dict[str, list[str]]) -> Reply:
        def field(name: str) -> str:
            return form.get(name, [""])[0]

        if not self._known(tenant):
            return _oauth_error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if field("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        client_id, secret = field("client_id"), field("client_secret")
        with self._lock:
            expected = self._apps.get((tenant, client_id))
        if expected is None:
            return _oauth_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
            )
        if not secret:
            return _oauth_error(
                401,
                "invalid_client",
                7000216,
                "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
            )
        if not hmac.compare_digest(secret.encode(), expected.encode()):
            return _oauth_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                f"value, not the client secret ID, for a secret added to app '{client_id}'.",
            )
        scopes = [scope for scope in field("scope").split() if scope not in _RESERVED_SCOPES]
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            return _oauth_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {field('scope')} is not valid. Client credential flows must have a "
                "scope value with /.default suffixed to the resource identifier (application ID URI).",
            )
        token, _ = self.issue(tenant, client_id, scopes[0].removesuffix("/.default"))
        body = {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "ext_expires_in": TOKEN_LIFETIME,
            "access_token": token,
        }
        return Reply(200, body, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})
