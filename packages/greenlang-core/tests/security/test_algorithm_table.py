"""The algorithm table: defaults per key, lookups, provider ids, and refusals (cases S4, S5)."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from greenlang.errors import InputError
from greenlang.security import algorithms
from greenlang.security.algorithms import ALGORITHMS, by_name, by_provider_id, choose, default_algorithm, resolve
from greenlang.security.keys import public_key_of

PrivateKeyFactory = Callable[[str], object]


def test_table_covers_every_required_combination() -> None:
    expected = {
        f"rsa-{pad}-{bits}-{h}"
        for pad in ("pss", "pkcs1v15")
        for bits in (2048, 3072, 4096)
        for h in ("sha256", "sha384", "sha512")
    }
    expected |= {"ecdsa-p256-sha256", "ecdsa-p384-sha384", "ecdsa-p521-sha512", "ecdsa-secp256k1-sha256", "ed25519"}
    assert set(ALGORITHMS) == expected


@pytest.mark.parametrize(
    ("name", "hash_name", "digest_size"),
    [
        ("rsa-pss-2048-sha256", "sha256", 32),
        ("rsa-pkcs1v15-3072-sha384", "sha384", 48),
        ("rsa-pss-4096-sha512", "sha512", 64),
        ("ecdsa-p384-sha384", "sha384", 48),
        ("ecdsa-p521-sha512", "sha512", 64),
        ("ecdsa-secp256k1-sha256", "sha256", 32),
        ("ed25519", None, None),
    ],
)
def test_hash_and_digest_length(name: str, hash_name: str | None, digest_size: int | None) -> None:
    row = by_name(name)
    assert (row.hash_name, row.digest_size) == (hash_name, digest_size)
    if digest_size is not None:
        assert len(row.digest(b"x")) == digest_size
        assert row.hash_algorithm().digest_size == digest_size


@pytest.mark.parametrize(
    ("name", "aws", "azure", "gcp"),
    [
        ("ecdsa-p256-sha256", "ECDSA_SHA_256", "ES256", "EC_SIGN_P256_SHA256"),
        ("ecdsa-p384-sha384", "ECDSA_SHA_384", "ES384", "EC_SIGN_P384_SHA384"),
        ("ecdsa-p521-sha512", "ECDSA_SHA_512", "ES512", None),
        ("ecdsa-secp256k1-sha256", "ECDSA_SHA_256", "ES256K", "EC_SIGN_SECP256K1_SHA256"),
        ("rsa-pss-2048-sha256", "RSASSA_PSS_SHA_256", "PS256", "RSA_SIGN_PSS_2048_SHA256"),
        ("rsa-pss-3072-sha384", "RSASSA_PSS_SHA_384", "PS384", None),
        ("rsa-pss-4096-sha512", "RSASSA_PSS_SHA_512", "PS512", "RSA_SIGN_PSS_4096_SHA512"),
        ("rsa-pkcs1v15-3072-sha256", "RSASSA_PKCS1_V1_5_SHA_256", "RS256", "RSA_SIGN_PKCS1_3072_SHA256"),
        ("rsa-pkcs1v15-4096-sha512", "RSASSA_PKCS1_V1_5_SHA_512", "RS512", "RSA_SIGN_PKCS1_4096_SHA512"),
        ("ed25519", "ED25519_SHA_512", None, "EC_SIGN_ED25519"),
    ],
)
def test_provider_ids(name: str, aws: str | None, azure: str | None, gcp: str | None) -> None:
    ids = by_name(name).provider_ids
    assert (ids.get("aws"), ids.get("azure"), ids.get("gcp")) == (aws, azure, gcp)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("ed25519", "ed25519"),
        ("ecdsa-p256", "ecdsa-p256-sha256"),
        ("ecdsa-p384", "ecdsa-p384-sha384"),
        ("ecdsa-p521", "ecdsa-p521-sha512"),
        ("ecdsa-secp256k1", "ecdsa-secp256k1-sha256"),
        ("rsa-pss-2048", "rsa-pss-2048-sha256"),
        ("rsa-pss-3072", "rsa-pss-3072-sha256"),
        ("rsa-pss-4096", "rsa-pss-4096-sha512"),
    ],
)
def test_default_algorithm_per_key(private_key: PrivateKeyFactory, kind: str, expected: str) -> None:
    key = private_key(kind)
    assert default_algorithm(key).name == expected
    assert default_algorithm(public_key_of(key)).name == expected  # type: ignore[arg-type]


def test_case_S5_curve_hashes(private_key: PrivateKeyFactory) -> None:
    assert default_algorithm(private_key("ecdsa-p384")).hash_name == "sha384"
    assert default_algorithm(private_key("ecdsa-p521")).hash_name == "sha512"


@pytest.mark.parametrize("requested", ["ECDSA_SHA_256", "ecdsa-p256-sha256", "ES256", "EC_SIGN_P256_SHA256"])
def test_case_S5_sha256_on_p521_is_refused(private_key: PrivateKeyFactory, requested: str) -> None:
    with pytest.raises(InputError, match=r"does not fit a ecdsa-p521 key; use ecdsa-p521-sha512"):
        resolve(private_key("ecdsa-p521"), requested)


def test_case_S5_refusal_names_the_fitting_id_of_the_same_provider(private_key: PrivateKeyFactory) -> None:
    with pytest.raises(InputError) as info:
        resolve(private_key("ecdsa-p521"), "ECDSA_SHA_256")
    assert str(info.value).endswith("use ecdsa-p521-sha512 or ECDSA_SHA_512.")
    with pytest.raises(InputError) as info:
        resolve(private_key("ecdsa-p521"), "ES256")
    assert str(info.value).endswith("use ecdsa-p521-sha512 or ES512.")  # never another provider's id


@pytest.mark.parametrize(
    ("kind", "requested", "expected"),
    [
        ("ecdsa-p256", "ecdsa", "ecdsa-p256-sha256"),
        ("ecdsa-p521", "ECDSA_SHA_512", "ecdsa-p521-sha512"),
        ("ecdsa-secp256k1", "ECDSA_SHA_256", "ecdsa-secp256k1-sha256"),
        ("ecdsa-secp256k1", "ES256K", "ecdsa-secp256k1-sha256"),
        ("rsa-pss-3072", "rsa", "rsa-pss-3072-sha256"),
        ("rsa-pss-3072", "rsa-pkcs1v15", "rsa-pkcs1v15-3072-sha256"),
        ("rsa-pss-4096", "rsa-pkcs1v15", "rsa-pkcs1v15-4096-sha512"),
        ("rsa-pss-2048", "RS384", "rsa-pkcs1v15-2048-sha384"),
        ("rsa-pss-2048", "RSASSA_PSS_SHA_512", "rsa-pss-2048-sha512"),
        ("ed25519", None, "ed25519"),
        ("ed25519", "ed25519", "ed25519"),
    ],
)
def test_resolve_names_families_and_provider_ids(
    private_key: PrivateKeyFactory, kind: str, requested: str | None, expected: str
) -> None:
    assert resolve(private_key(kind), requested).name == expected


@pytest.mark.parametrize(
    ("kind", "requested"),
    [
        ("rsa-pss-2048", "ecdsa"),
        ("ecdsa-p256", "rsa-pss"),
        ("ed25519", "ES256"),
        ("rsa-pss-2048", "rsa-pss-3072-sha256"),
    ],
)
def test_resolve_refuses_what_does_not_fit(private_key: PrivateKeyFactory, kind: str, requested: str) -> None:
    with pytest.raises(InputError, match="does not fit"):
        resolve(private_key(kind), requested)


def test_unknown_algorithm_lists_known_names() -> None:
    with pytest.raises(InputError, match=r"algorithm .md5-rsa. is unknown; use a stable name such as"):
        by_name("md5-rsa")


def test_unsupported_keys_are_refused() -> None:
    small = rsa.generate_private_key(65537, 1024)  # noqa: S505 - a key that must be refused
    with pytest.raises(InputError, match="RSA key size 1024 is not supported"):
        default_algorithm(small)
    with pytest.raises(InputError, match="curve secp224r1 is not supported"):
        default_algorithm(ec.generate_private_key(ec.SECP224R1()))
    with pytest.raises(InputError, match="key type str is not supported"):
        algorithms.key_type("not a key")


def test_by_provider_id_disambiguates_by_key(private_key: PrivateKeyFactory) -> None:
    assert by_provider_id("aws", "ECDSA_SHA_256", private_key("ecdsa-secp256k1")).name == "ecdsa-secp256k1-sha256"
    assert by_provider_id("aws", "ECDSA_SHA_256", private_key("ecdsa-p256")).name == "ecdsa-p256-sha256"
    with pytest.raises(InputError, match="does not fit a ecdsa-p384 key"):
        by_provider_id("aws", "ECDSA_SHA_256", private_key("ecdsa-p384"))


AWS_RSA_OFFER = [
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
]


@settings(max_examples=50, deadline=None)
@given(st.permutations(AWS_RSA_OFFER))
def test_case_S4_choice_ignores_listing_order(offer: list[str]) -> None:
    key = _rsa3072()
    assert choose("aws", offer, key).name == "rsa-pss-3072-sha256"


@settings(max_examples=50, deadline=None)
@given(st.permutations(["RSASSA_PKCS1_V1_5_SHA_512", "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384"]))
def test_case_S4_without_the_default_the_choice_is_still_stable(offer: list[str]) -> None:
    assert choose("aws", offer, _rsa3072()).name == "rsa-pkcs1v15-3072-sha256"


def test_choose_refuses_an_offer_with_nothing_fitting(private_key: PrivateKeyFactory) -> None:
    offer = ["ECDSA_SHA_256", "ECDSA_SHA_384"]
    random.Random(1).shuffle(offer)
    with pytest.raises(InputError, match="offers no algorithm that fits a ecdsa-p521 key"):
        choose("aws", offer, private_key("ecdsa-p521"))


_RSA3072: list[rsa.RSAPrivateKey] = []


def _rsa3072() -> rsa.RSAPrivateKey:
    if not _RSA3072:
        _RSA3072.append(rsa.generate_private_key(65537, 3072))
    return _RSA3072[0]
