"""A second, independent verifier: the ``openssl`` command, for tests that must not trust one library alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

__all__ = ["openssl_verifies", "require_openssl"]


def require_openssl() -> None:
    """Skip, naming the package to install, when ``openssl`` is missing; under ``CI=true``, fail instead."""
    if shutil.which("openssl") is not None:
        return
    reason = "the openssl command is needed to cross-check signatures; install it (apt install openssl)"
    if os.environ.get("CI", "").strip().lower() in {"true", "1"}:
        pytest.fail(f"{reason} (CI=true: these checks may not be skipped)", pytrace=False)
    pytest.skip(reason)


def openssl_verifies(public_key_pem: bytes, algorithm: str, payload: bytes, signature: bytes) -> bool:
    """``openssl`` verification of a DER ECDSA, RSA or Ed25519 signature, the scheme read from the algorithm's name.

    ECDSA and RSA go through ``openssl dgst -verify``; Ed25519 through
    ``openssl pkeyutl -verify -rawin``, since it signs the message itself.
    """
    if algorithm == "ed25519":
        command = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-sigfile", "sig.bin"]
        command += ["-in", "data"]
    else:
        md = algorithm.rsplit("-", 1)[1]
        command = ["openssl", "dgst", f"-{md}", "-verify", "pub.pem", "-signature", "sig.bin"]
        if algorithm.startswith("rsa-pss-"):
            for option in ("rsa_padding_mode:pss", "rsa_pss_saltlen:digest", f"rsa_mgf1_md:{md}"):
                command += ["-sigopt", option]
        command.append("data")
    with tempfile.TemporaryDirectory(prefix="greenlang-openssl-") as scratch:
        work = Path(scratch)
        (work / "pub.pem").write_bytes(public_key_pem)
        (work / "sig.bin").write_bytes(signature)
        (work / "data").write_bytes(payload)
        result = subprocess.run(command, cwd=work, capture_output=True, text=True, check=False)
    return result.returncode == 0 and "Verified" in result.stdout and "Failure" not in result.stdout
