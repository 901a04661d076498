"""Local key files: create, save and load PEM keys, and the key id everyone agrees on.

Private keys are PKCS#8 PEM, written with mode 0600 from the moment the file
exists, optionally encrypted with a passphrase. Public keys are
SubjectPublicKeyInfo PEM. A passphrase never appears in a message.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from pydantic import SecretStr

from greenlang.errors import InputError
from greenlang.security.algorithms import PrivateKey, PublicKey, key_type

__all__ = [
    "KEY_TYPES",
    "Passphrase",
    "generate_private_key",
    "private_key_pem",
    "public_key_pem",
    "save_private_key",
    "save_public_key",
    "load_private_key",
    "load_private_key_pem",
    "load_public_key",
    "load_public_keys",
    "public_key_of",
    "key_id",
]

Passphrase = str | bytes | SecretStr

_RSA_EXPONENT = 65537
KEY_TYPES: dict[str, Callable[[], PrivateKey]] = {
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "ecdsa-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ecdsa-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "ecdsa-p521": lambda: ec.generate_private_key(ec.SECP521R1()),
    "ecdsa-secp256k1": lambda: ec.generate_private_key(ec.SECP256K1()),
    "rsa-pss-2048": lambda: rsa.generate_private_key(_RSA_EXPONENT, 2048),
    "rsa-pss-3072": lambda: rsa.generate_private_key(_RSA_EXPONENT, 3072),
    "rsa-pss-4096": lambda: rsa.generate_private_key(_RSA_EXPONENT, 4096),
}
"""Key types ``generate_private_key`` accepts. RSA keys are plain RSA keys whose default scheme is PSS."""

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)


def generate_private_key(kind: str) -> PrivateKey:
    """A new private key of ``kind``, one of ``KEY_TYPES``."""
    try:
        factory = KEY_TYPES[kind]
    except KeyError:
        raise InputError(f"key type {kind!r} is unknown; use one of: {', '.join(KEY_TYPES)}.") from None
    return factory()


def _secret(passphrase: Passphrase | None) -> bytes | None:
    if passphrase is None:
        return None
    if isinstance(passphrase, SecretStr):
        passphrase = passphrase.get_secret_value()
    value = passphrase.encode() if isinstance(passphrase, str) else passphrase
    if not value:
        raise InputError("the passphrase is empty; pass a non-empty passphrase or none at all.")
    return value


def private_key_pem(key: PrivateKey, passphrase: Passphrase | None = None) -> bytes:
    """PKCS#8 PEM, encrypted with the best scheme ``cryptography`` offers when a passphrase is given."""
    secret = _secret(passphrase)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(secret) if secret else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def public_key_of(key: PrivateKey | PublicKey) -> PublicKey:
    """The public half of ``key``; a public key is returned as is."""
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        return key.public_key()
    return key


def public_key_pem(key: PrivateKey | PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM of ``key`` (or of its public half)."""
    return public_key_of(key).public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(key: PrivateKey | PublicKey) -> str:
    """Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo: the same for a key wherever it lives."""
    der = public_key_of(key).public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _write_new(path: Path, data: bytes, mode: int, overwrite: bool) -> Path:
    """Write ``data`` to a file that has ``mode`` from its creation; never widen an existing file's mode."""
    if not overwrite:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            raise InputError(f"{path} already exists; choose another path or allow overwriting.") from None
        except OSError as exc:
            raise InputError(f"cannot create {path}: {exc.strerror}.") from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return path
    # Replacing: write a fresh file beside it (mkstemp creates it 0600) and rename over the old one.
    try:
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise InputError(f"cannot write beside {path}: {exc.strerror}.") from None
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def save_private_key(
    key: PrivateKey, path: str | os.PathLike[str], *, passphrase: Passphrase | None = None, overwrite: bool = False
) -> Path:
    """Write ``key`` as PKCS#8 PEM with mode 0600; an existing file is kept unless ``overwrite``."""
    return _write_new(Path(path), private_key_pem(key, passphrase), 0o600, overwrite)


def save_public_key(key: PrivateKey | PublicKey, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Write the public key PEM (mode 0644): this is the file verifiers receive."""
    return _write_new(Path(path), public_key_pem(key), 0o644, overwrite)


def _read(path: str | os.PathLike[str], what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} file {os.fspath(path)} does not exist; check the path.") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} file {os.fspath(path)}: {exc.strerror}.") from None


def _unsupported(key: object, source: str) -> InputError:
    return InputError(f"{source} holds a {type(key).__name__}; use an RSA, ECDSA or Ed25519 key.")


def _as_private(key: object, source: str) -> PrivateKey:
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise _unsupported(key, source)
    key_type(key)  # refuses unsupported sizes and curves with a clear message
    return key


def _as_public(key: object, source: str) -> PublicKey:
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise _unsupported(key, source)
    key_type(key)
    return key


def load_private_key_pem(
    data: bytes, passphrase: Passphrase | None = None, *, source: str = "private key"
) -> PrivateKey:
    """Load a PEM private key (PKCS#8, or the older PKCS#1/SEC1 forms), decrypting it if needed.

    A passphrase given for an unencrypted key is ignored, so a globally set
    ``GREENLANG_KEY_PASSPHRASE`` does not break plain keys.
    """
    secret = _secret(passphrase)
    try:
        key = serialization.load_pem_private_key(data, password=secret)
    except TypeError:
        if secret is None:
            raise InputError(f"{source} is encrypted; pass its passphrase (or set GREENLANG_KEY_PASSPHRASE).") from None
        key = _load_plain(data, source)
    except ValueError:
        if secret is not None and b"ENCRYPTED" in data:
            raise InputError(f"could not decrypt {source}: the passphrase is wrong.") from None
        raise InputError(f"{source} is not a PEM private key; pass a PKCS#8 PEM file.") from None
    except UnsupportedAlgorithm:
        raise InputError(
            f"{source} uses an unsupported key type or encryption; use an RSA, ECDSA or Ed25519 key."
        ) from None
    return _as_private(key, source)


def _load_plain(data: bytes, source: str) -> Any:
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InputError(f"{source} is not a PEM private key; pass a PKCS#8 PEM file.") from None


def load_private_key(path: str | os.PathLike[str], passphrase: Passphrase | None = None) -> PrivateKey:
    """Load the private key at ``path``; errors name the path, never the passphrase."""
    return load_private_key_pem(_read(path, "private key"), passphrase, source=f"private key {os.fspath(path)}")


def load_public_keys(source: str | os.PathLike[str] | bytes) -> list[PublicKey]:
    """Every public key in a PEM file (or PEM bytes): one key, or a trust set of several."""
    data = source if isinstance(source, bytes) else _read(source, "public key")
    name = "the PEM data" if isinstance(source, bytes) else f"public key file {os.fspath(source)}"
    blocks = [m.group(0) for m in _PEM_BLOCK.finditer(data)]
    if not blocks:
        raise InputError(f"{name} holds no PEM public key; pass a file with '-----BEGIN PUBLIC KEY-----' blocks.")
    keys: list[PublicKey] = []
    for index, block in enumerate(blocks, start=1):
        if b"PRIVATE KEY" in block.split(b"\n", 1)[0]:
            raise InputError(f"{name} holds a private key (block {index}); give verifiers the public key only.")
        try:
            key = serialization.load_pem_public_key(block)
        except (ValueError, UnsupportedAlgorithm):
            raise InputError(f"{name} block {index} is not a valid PEM public key.") from None
        keys.append(_as_public(key, f"{name} block {index}"))
    return keys


def load_public_key(source: str | os.PathLike[str] | bytes) -> PublicKey:
    """The single public key in a PEM file; a file with several keys is refused (use ``load_public_keys``)."""
    keys = load_public_keys(source)
    if len(keys) != 1:
        raise InputError(f"expected one public key but found {len(keys)}; use load_public_keys for a trust set.")
    return keys[0]
