"""Key references: URIs in the style of cosign and securesystemslib, resolved through plugins.

``file:///abs/key.pem`` (or a bare path) is a local PEM key; every other
scheme (``awskms``, ``azurekms``, ``gcpkms``...) belongs to whichever plugin
registered it. Nothing here knows about a cloud: a missing scheme becomes
an error naming the package to install.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from greenlang.errors import InputError
from greenlang.security.signing import Signer, SigningConfig

__all__ = ["KeyRef", "parse_key_uri", "file_uri", "open_signer", "signer_from_config"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")


@dataclass(frozen=True)
class KeyRef:
    """A parsed key reference. ``uri`` is the normalized form handed to the provider."""

    scheme: str
    uri: str
    path: str
    host: str
    query: tuple[tuple[str, str], ...]

    def local_path(self) -> Path:
        """The filesystem path of a ``file`` key."""
        if self.scheme != "file":
            raise InputError(f"key {self.uri} is not a local file key.")
        return Path(self.path)


def file_uri(path: str | os.PathLike[str]) -> str:
    """``file:///abs/path`` for a local key, percent-encoded where needed."""
    return Path(path).expanduser().absolute().as_uri()


def parse_key_uri(uri: str) -> KeyRef:
    """Split a key URI; a string without a scheme is a path to a local PEM key."""
    text = uri.strip() if isinstance(uri, str) else ""
    if not text:
        raise InputError("key reference is empty; pass a key URI such as file:///path/key.pem or awskms:///alias/name.")
    match = _SCHEME.match(text)
    if match is None:
        normalized = file_uri(text)
        return KeyRef("file", normalized, str(Path(text).expanduser().absolute()), "", ())
    scheme = match.group(1).lower()
    parts = urlsplit(text)
    query = tuple(parse_qsl(parts.query, keep_blank_values=True))
    if scheme == "file":
        return _file_ref(text, parts.netloc, parts.path, query)
    return KeyRef(scheme, text, unquote(parts.path), parts.netloc, query)


def _file_ref(text: str, host: str, raw_path: str, query: tuple[tuple[str, str], ...]) -> KeyRef:
    if host not in ("", "localhost"):
        raise InputError(f"key URI {text} names host {host!r}; a file key must be local: file:///path/key.pem.")
    if query:
        raise InputError(f"key URI {text} has a query string; file keys take no options in the URI.")
    path = unquote(raw_path)
    if not path:
        raise InputError(f"key URI {text} has no path; use file:///path/key.pem.")
    absolute = Path(path).expanduser().absolute()
    return KeyRef("file", absolute.as_uri(), str(absolute), "", ())


def open_signer(uri: str, **options: Any) -> Signer:
    """Open a signer for ``uri`` through the plugin registered for its scheme.

    ``options`` go to the provider (``algorithm``, ``passphrase`` for file
    keys, region or credentials for clouds).
    """
    from greenlang.plugins import registry

    ref = parse_key_uri(uri)
    registration = registry().kms_provider(ref.scheme)
    signer = registration.value.open(ref.uri, **options)
    if not isinstance(signer, Signer):
        raise TypeError(
            f"plugin {registration.plugin} returned {type(signer).__name__} for scheme {ref.scheme!r}; "
            "provider.open must return a greenlang.security.signing.Signer."
        )
    return signer


def signer_from_config(config: SigningConfig) -> Signer:
    """Open the signer a ``SigningConfig`` describes."""
    options: dict[str, Any] = {
        "algorithm": config.algorithm,
        "cache_ttl_seconds": config.cache_ttl_seconds,
        "max_retries": config.max_retries,
    }
    if config.passphrase is not None:
        options["passphrase"] = config.passphrase
    return open_signer(_seed_key_id_as_uri(config.key_uri()), **options)


def _seed_key_id_as_uri(key: str) -> str:
    """The seed passes KMS key ids (``arn:aws:kms:...``, ``https://vault/keys/k``, ``projects/...``), not URIs."""
    if key.startswith(("arn:", "https://", "projects/")):
        from greenlang.security.kms.uris import kms_key_uri, provider_for_key_id

        return kms_key_uri(provider_for_key_id(key), key)
    return key
