"""AWS KMS key specs that can sign, and the key type each must yield."""

from __future__ import annotations

__all__ = ["SIGNING_KEY_SPECS"]

SIGNING_KEY_SPECS: dict[str, str] = {
    "RSA_2048": "rsa-2048",
    "RSA_3072": "rsa-3072",
    "RSA_4096": "rsa-4096",
    "ECC_NIST_P256": "ecdsa-p256",
    "ECC_NIST_P384": "ecdsa-p384",
    "ECC_NIST_P521": "ecdsa-p521",
    "ECC_SECG_P256K1": "ecdsa-secp256k1",
}
"""Every SIGN_VERIFY spec this provider signs with, each with ``MessageType=DIGEST``.

``ECC_NIST_EDWARDS25519`` is absent on purpose: pure Ed25519 signs the message
itself, and AWS caps a RAW message at 4096 bytes, so reports could not be signed
whatever their size. ``SM2`` exists only in AWS's China regions and uses SM3.
"""
