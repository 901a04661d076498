"""Project Wycheproof vectors through our verification primitive (and raw->DER for P1363 files).

The vectors are not in the repository: they ship beside it at
``<repo>/../shared/vectors/wycheproof``. Outside CI the test skips when they
are absent; with ``CI=true`` it fails.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from greenlang.errors import InputError
from greenlang.security.algorithms import PublicKey, default_algorithm, resolve
from greenlang.security.verify import verify_raw_ecdsa, verify_signature

REPO_ROOT = Path(__file__).resolve().parents[3].parent  # tests/security -> tests -> greenlang-core -> packages -> repo
VECTORS = REPO_ROOT.parent / "shared" / "vectors" / "wycheproof"
MISSING = "Wycheproof vectors not found at ../shared/vectors; they ship beside the repo"
FILES = sorted(p.name for p in VECTORS.glob("*_test.json")) if VECTORS.is_dir() else []
HASHES = {"SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}
DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}


def test_vectors_folder_is_found() -> None:
    if not FILES:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{MISSING} (looked in {VECTORS})")
        pytest.skip(MISSING)
    assert len(FILES) >= 15


def _group_verifier(group: dict[str, Any]) -> tuple[PublicKey, Any]:
    """The group's key and a function ``check(msg, sig) -> bool`` built only from the group header."""
    loaded = serialization.load_der_public_key(bytes.fromhex(group["publicKeyDer"]))
    assert isinstance(loaded, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
    key: PublicKey = loaded
    kind = group["type"]
    if kind in ("EcdsaVerify", "EcdsaP1363Verify", "EddsaVerify"):
        algorithm = default_algorithm(key)
        if kind != "EddsaVerify" and algorithm.hash_name != HASHES[group["sha"]]:
            raise AssertionError(f"group hash {group['sha']} differs from our table's {algorithm.name}")
        if kind == "EcdsaP1363Verify":
            assert isinstance(key, ec.EllipticCurvePublicKey)
            return key, lambda msg, sig: verify_raw_ecdsa(key, msg, sig, algorithm)
        return key, lambda msg, sig: verify_signature(key, msg, sig, algorithm)
    hash_name = HASHES[group["sha"]]
    assert isinstance(key, rsa.RSAPublicKey)
    bits = key.key_size
    if kind == "RsassaPkcs1Verify":
        algorithm = resolve(key, f"rsa-pkcs1v15-{bits}-{hash_name}")
    elif kind == "RsassaPssVerify":
        if group["mgf"] != "MGF1" or HASHES[group["mgfSha"]] != hash_name or group["sLen"] != DIGEST_SIZES[hash_name]:
            raise AssertionError(f"PSS group parameters {group['mgfSha']}/{group['sLen']} are not ours")
        algorithm = resolve(key, f"rsa-pss-{bits}-{hash_name}")
    else:
        raise AssertionError(f"unknown test group type {kind}")
    return key, lambda msg, sig: verify_signature(key, msg, sig, algorithm)


@pytest.mark.parametrize("name", FILES or [pytest.param("absent", marks=pytest.mark.skip(reason=MISSING))])
def test_wycheproof_file(name: str) -> None:
    data = json.loads((VECTORS / name).read_text())
    failures: list[str] = []
    counted = {"valid": 0, "invalid": 0, "acceptable": 0}
    for group in data["testGroups"]:
        try:
            _, check = _group_verifier(group)
        except (AssertionError, InputError, ValueError) as exc:
            failures.append(f"group with key {group.get('publicKeyDer', '')[:24]}...: {exc}")
            continue
        for case in group["tests"]:
            msg, sig = bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"])
            try:
                accepted = check(msg, sig)
            except Exception as exc:
                failures.append(f"tcId {case['tcId']} raised {type(exc).__name__}: {exc}")
                continue
            counted[case["result"]] += 1
            if case["result"] == "valid" and not accepted:
                failures.append(f"tcId {case['tcId']} valid but rejected ({case['comment']})")
            elif case["result"] == "invalid" and accepted:
                failures.append(f"tcId {case['tcId']} invalid but accepted ({case['comment']})")
            elif case["result"] == "acceptable" and check(msg, sig) != accepted:
                failures.append(f"tcId {case['tcId']} acceptable but answered differently twice")
    assert failures == []
    assert sum(counted.values()) == data["numberOfTests"]
    assert counted["valid"] > 0
    assert counted["invalid"] > 0
