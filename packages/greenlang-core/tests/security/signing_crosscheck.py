"""Independent checks of our signatures: ``cryptography`` called directly, and the openssl CLI.

The expected scheme per key type is written here from the specs (DSSE, the
design's §5), not read from our algorithm table, so a wrong table row fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from greenlang.security.algorithms import PublicKey
from greenlang.security.keys import public_key_pem

# key type -> (hash name or None, PSS salt length or None); written from the spec, not read from our table.
EXPECTED_SCHEME: dict[str, tuple[str | None, int | None]] = {
    "ed25519": (None, None),
    "ecdsa-p256": ("sha256", None),
    "ecdsa-p384": ("sha384", None),
    "ecdsa-p521": ("sha512", None),
    "ecdsa-secp256k1": ("sha256", None),
    "rsa-pss-2048": ("sha256", 32),
    "rsa-pss-3072": ("sha256", 32),
    "rsa-pss-4096": ("sha512", 64),
}
KEY_KINDS = tuple(EXPECTED_SCHEME)
_HASH: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def verify_independently(kind: str, public_key: PublicKey, message: bytes, signature: bytes) -> None:
    """Verify with ``cryptography`` directly, spelling out the scheme from the spec (raises if invalid)."""
    hash_name, salt = EXPECTED_SCHEME[kind]
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        public_key.verify(signature, message)
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        assert hash_name is not None
        public_key.verify(signature, message, ec.ECDSA(_HASH[hash_name]()))
    elif isinstance(public_key, rsa.RSAPublicKey):
        assert hash_name is not None
        assert salt is not None
        pss = padding.PSS(mgf=padding.MGF1(_HASH[hash_name]()), salt_length=salt)
        public_key.verify(signature, message, pss, _HASH[hash_name]())
    else:  # pragma: no cover
        raise AssertionError(f"unexpected key {public_key!r}")


def find_openssl() -> str | None:
    found = shutil.which("openssl")
    if found is None and Path("/usr/bin/openssl").exists():
        found = "/usr/bin/openssl"
    return found


def openssl_verify(openssl: str, kind: str, public_key: PublicKey, message: bytes, signature: bytes, tmp: Path) -> bool:
    """Ask the openssl CLI whether ``signature`` verifies; returns its verdict."""
    hash_name, salt = EXPECTED_SCHEME[kind]
    pub, msg, sig = tmp / f"{kind}.pub.pem", tmp / f"{kind}.msg", tmp / f"{kind}.sig"
    pub.write_bytes(public_key_pem(public_key))
    msg.write_bytes(message)
    sig.write_bytes(signature)
    if hash_name is None:
        cmd = [
            openssl,
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            str(pub),
            "-rawin",
            "-in",
            str(msg),
            "-sigfile",
            str(sig),
        ]
    else:
        cmd = [openssl, "dgst", f"-{hash_name}", "-verify", str(pub), "-signature", str(sig)]
        if salt is not None:
            cmd += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", f"rsa_pss_saltlen:{salt}"]
        cmd.append(str(msg))
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env={**os.environ, "LC_ALL": "C"})
    return done.returncode == 0 and "Verified" in done.stdout + done.stderr
