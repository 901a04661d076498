"""The local server's crypto keys and their versions, named and numbered as Cloud KMS names them.

A crypto key lives under ``projects/<p>/locations/<l>/keyRings/<r>``; key rings need no creating. Versions
are numbered 1, 2, 3, ... per key in creation order and are never renumbered. Each version keeps its private
key, even once destroyed, so tests can use it as an oracle; it never appears in a repr.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from greenlang_kms_gcp.testing.algorithms import ALGORITHMS, Algorithm, PrivateKey, generate_key
from greenlang_kms_gcp.testing.status import ServiceError

__all__ = [
    "DESTROY_SCHEDULED_DURATION",
    "PROTECTION_LEVELS",
    "STATES",
    "CryptoKey",
    "KeyStore",
    "KeyVersion",
    "key_ring_name",
]

STATES = ("PENDING_GENERATION", "ENABLED", "DISABLED", "DESTROYED", "DESTROY_SCHEDULED")
PROTECTION_LEVELS = ("SOFTWARE", "HSM", "EXTERNAL", "EXTERNAL_VPC")
DESTROY_SCHEDULED_DURATION = timedelta(days=30)
"""Google's default wait between DestroyCryptoKeyVersion and the material's destruction."""

_ID = re.compile(r"[a-zA-Z0-9_-]{1,63}")
_SEGMENT = r"([^/:]+)"
_KEY_RING = rf"projects/{_SEGMENT}/locations/{_SEGMENT}/keyRings/{_SEGMENT}"
KEY_RING_NAME = re.compile(_KEY_RING)
KEY_NAME = re.compile(rf"({_KEY_RING})/cryptoKeys/{_SEGMENT}")
VERSION_NAME = re.compile(rf"({_KEY_RING}/cryptoKeys/{_SEGMENT})/cryptoKeyVersions/{_SEGMENT}")


def key_ring_name(project: str, location: str, key_ring: str) -> str:
    """The resource name of a key ring; raises ValueError for an id Cloud KMS would refuse."""
    for label, value in (("project", project), ("location", location)):
        if not value or "/" in value or ":" in value:
            raise ValueError(f"{label} must be a non-empty id without '/' or ':', not {value!r}.")
    if not _ID.fullmatch(key_ring):
        raise ValueError(f"key_ring must be 1-63 letters, digits, '_' or '-', not {key_ring!r}.")
    return f"projects/{project}/locations/{location}/keyRings/{key_ring}"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class KeyVersion:
    """One crypto key version; ``number`` is the last segment of ``name``."""

    name: str
    number: int
    algorithm: Algorithm
    protection_level: str
    state: str
    created: datetime
    private_key: PrivateKey | None = field(repr=False)
    destroy_time: datetime | None = None

    @property
    def key_name(self) -> str:
        return self.name.rsplit("/cryptoKeyVersions/", 1)[0]


@dataclass
class CryptoKey:
    """A crypto key and its versions, in creation order."""

    name: str
    purpose: str
    algorithm: Algorithm
    protection_level: str
    created: datetime
    versions: dict[int, KeyVersion] = field(default_factory=dict)
    next_number: int = 1

    @property
    def primary(self) -> KeyVersion | None:
        """The version Encrypt uses: the first symmetric version; asymmetric keys have none, as in Cloud KMS."""
        if self.purpose != "ENCRYPT_DECRYPT":
            return None
        return next(iter(self.versions.values()), None)


class KeyStore:
    """Thread-safe crypto keys by resource name; lookups raise ServiceError as Cloud KMS answers them."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._keys: dict[str, CryptoKey] = {}

    def create_key(
        self,
        key_ring: str,
        key_id: str,
        algorithm: str,
        *,
        purpose: str,
        protection_level: str = "SOFTWARE",
        versions: int = 1,
        fresh: bool = False,
    ) -> CryptoKey:
        """Create ``key_ring``/cryptoKeys/``key_id`` with ``versions`` enabled versions."""
        spec = _algorithm(algorithm)
        if not KEY_RING_NAME.fullmatch(key_ring):
            raise ServiceError(
                "INVALID_ARGUMENT", f"{key_ring!r} is not a key ring name (projects/*/locations/*/keyRings/*)."
            )
        if not _ID.fullmatch(key_id):
            raise ServiceError(
                "INVALID_ARGUMENT", f"crypto key id must be 1-63 letters, digits, '_' or '-', not {key_id!r}."
            )
        if purpose != spec.purpose:
            raise ServiceError(
                "INVALID_ARGUMENT",
                f"Algorithm {algorithm} is not valid for purpose {purpose}; it needs {spec.purpose}.",
            )
        if protection_level not in PROTECTION_LEVELS:
            raise ServiceError(
                "INVALID_ARGUMENT",
                f"protection level must be one of {', '.join(PROTECTION_LEVELS)}, not {protection_level!r}.",
            )
        if versions < 0:
            raise ServiceError("INVALID_ARGUMENT", f"versions must be zero or more, not {versions}.")
        name = f"{key_ring}/cryptoKeys/{key_id}"
        with self.lock:
            if name in self._keys:
                raise ServiceError("ALREADY_EXISTS", f"CryptoKey {name} already exists.")
            key = CryptoKey(name, purpose, spec, protection_level, _now())
            self._keys[name] = key
            for _ in range(versions):
                self._add_version(key, fresh=fresh)
            return key

    def add_version(self, key_name: str, *, fresh: bool = False) -> KeyVersion:
        """A new enabled version of the key, numbered one past the highest so far."""
        with self.lock:
            return self._add_version(self.key(key_name), fresh=fresh)

    def key(self, name: str) -> CryptoKey:
        if not KEY_NAME.fullmatch(name):
            raise ServiceError("INVALID_ARGUMENT", f"Resource name [{name}] is not a CryptoKey name.")
        with self.lock:
            key = self._keys.get(name)
        if key is None:
            raise ServiceError("NOT_FOUND", f"{name} not found.")
        return key

    def version(self, name: str) -> KeyVersion:
        match = VERSION_NAME.fullmatch(name)
        if match is None:
            raise ServiceError("INVALID_ARGUMENT", f"Resource name [{name}] is not a CryptoKeyVersion name.")
        with self.lock:
            key = self._keys.get(match.group(1))
            number = match.group(6)
            found = key.versions.get(int(number)) if key is not None and number.isdecimal() else None
        if found is None or found.name != name:  # "01" is not version 1
            raise ServiceError("NOT_FOUND", f"{name} not found.")
        return found

    def set_state(self, name: str, state: str) -> KeyVersion:
        """Move a version to ``state`` without the API's transition rules; destroying sets the destroy time."""
        if state not in STATES:
            raise ServiceError("INVALID_ARGUMENT", f"state must be one of {', '.join(STATES)}, not {state!r}.")
        with self.lock:
            version = self.version(name)
            version.state = state
            if state == "DESTROY_SCHEDULED":
                version.destroy_time = _now() + DESTROY_SCHEDULED_DURATION
            elif state == "DESTROYED":
                version.destroy_time = version.destroy_time or _now()
            else:
                version.destroy_time = None
            return version

    def _add_version(self, key: CryptoKey, *, fresh: bool) -> KeyVersion:
        number = key.next_number
        key.next_number += 1
        version = KeyVersion(
            name=f"{key.name}/cryptoKeyVersions/{number}",
            number=number,
            algorithm=key.algorithm,
            protection_level=key.protection_level,
            state="ENABLED",
            created=_now(),
            private_key=generate_key(key.algorithm, fresh=fresh),
        )
        key.versions[number] = version
        return version


def _algorithm(name: str) -> Algorithm:
    spec = ALGORITHMS.get(name)
    if spec is None:
        raise ServiceError(
            "INVALID_ARGUMENT", f"Algorithm {name!r} is not supported here; use one of {', '.join(ALGORITHMS)}."
        )
    return spec
