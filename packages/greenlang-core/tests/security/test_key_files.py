"""Key files: PKCS#8 with mode 0600, passphrases, public keys and trust sets, key ids."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa
from pydantic import SecretStr
from signing_crosscheck import KEY_KINDS

from greenlang.errors import InputError
from greenlang.security.algorithms import PrivateKey
from greenlang.security.keys import (
    generate_private_key,
    key_id,
    load_private_key,
    load_public_key,
    load_public_keys,
    public_key_pem,
    save_private_key,
    save_public_key,
)

PASSPHRASE = "correct horse battery staple"
WRONG = "Tr0ub4dor&3-wrong-passphrase"


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("kind", KEY_KINDS)
@pytest.mark.parametrize("passphrase", [None, PASSPHRASE])
def test_private_key_round_trip(
    tmp_path: Path, private_key: Callable[[str], PrivateKey], kind: str, passphrase: str | None
) -> None:
    key = private_key(kind)
    path = save_private_key(key, tmp_path / "key.pem", passphrase=passphrase)
    text = path.read_text()
    header = "-----BEGIN ENCRYPTED PRIVATE KEY-----" if passphrase else "-----BEGIN PRIVATE KEY-----"
    assert text.startswith(header)
    if passphrase:
        assert PASSPHRASE not in text
    loaded = load_private_key(path, passphrase)
    assert public_key_pem(loaded) == public_key_pem(key)
    assert key_id(loaded) == key_id(key)


def test_private_key_file_is_0600_even_with_a_permissive_umask(tmp_path: Path, permissive_umask: None) -> None:
    path = save_private_key(generate_private_key("ed25519"), tmp_path / "k.pem")
    assert _mode(path) == 0o600
    public = save_public_key(generate_private_key("ed25519"), tmp_path / "k.pub.pem")
    assert _mode(public) == 0o644


def test_existing_key_file_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    path.write_text("keep me")
    with pytest.raises(InputError, match=r"k\.pem already exists; choose another path or allow overwriting"):
        save_private_key(generate_private_key("ed25519"), path)
    assert path.read_text() == "keep me"


def test_overwrite_replaces_with_a_0600_file(tmp_path: Path, permissive_umask: None) -> None:
    path = tmp_path / "k.pem"
    path.write_text("old")
    path.chmod(0o644)
    key = generate_private_key("ecdsa-p256")
    save_private_key(key, path, overwrite=True)
    assert _mode(path) == 0o600
    assert key_id(load_private_key(path)) == key_id(key)
    assert [p.name for p in tmp_path.iterdir()] == ["k.pem"]  # no temporary file left behind


@pytest.mark.parametrize("given", [WRONG, SecretStr(WRONG), WRONG.encode()])
def test_wrong_passphrase_message_never_shows_it(tmp_path: Path, given: object) -> None:
    path = save_private_key(generate_private_key("ecdsa-p256"), tmp_path / "k.pem", passphrase=PASSPHRASE)
    with pytest.raises(InputError) as info:
        load_private_key(path, given)  # type: ignore[arg-type]
    message = str(info.value)
    assert message == f"could not decrypt private key {path}: the passphrase is wrong."
    assert WRONG not in message
    assert PASSPHRASE not in message
    assert WRONG not in repr(info.value)


def test_missing_passphrase_for_encrypted_key(tmp_path: Path) -> None:
    path = save_private_key(generate_private_key("ed25519"), tmp_path / "k.pem", passphrase=PASSPHRASE)
    with pytest.raises(InputError, match="is encrypted; pass its passphrase"):
        load_private_key(path)


def test_passphrase_for_a_plain_key_is_ignored(tmp_path: Path) -> None:
    key = generate_private_key("ed25519")
    path = save_private_key(key, tmp_path / "k.pem")
    assert key_id(load_private_key(path, "anything")) == key_id(key)


def test_empty_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="the passphrase is empty"):
        save_private_key(generate_private_key("ed25519"), tmp_path / "k.pem", passphrase="")
    assert not (tmp_path / "k.pem").exists()


def test_encrypted_key_opens_with_openssl(tmp_path: Path, openssl: str) -> None:
    key = generate_private_key("ecdsa-p384")
    path = save_private_key(key, tmp_path / "k.pem", passphrase=PASSPHRASE)
    done = subprocess.run(
        [openssl, "pkey", "-in", str(path), "-passin", "env:GL_TEST_PASS", "-pubout"],
        capture_output=True,
        check=True,
        env={**os.environ, "GL_TEST_PASS": PASSPHRASE},
    )
    assert done.stdout == public_key_pem(key)


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa-p256", "rsa-pss-2048"])
def test_key_id_is_sha256_of_der_spki_as_openssl_computes_it(
    tmp_path: Path, openssl: str, private_key: Callable[[str], PrivateKey], kind: str
) -> None:
    key = private_key(kind)
    pub = save_public_key(key, tmp_path / "pub.pem")
    der = subprocess.run(
        [openssl, "pkey", "-pubin", "-in", str(pub), "-outform", "DER"], capture_output=True, check=True
    ).stdout
    assert key_id(key) == hashlib.sha256(der).hexdigest()
    assert key_id(load_public_key(pub)) == key_id(key)
    assert len(key_id(key)) == 64
    assert key_id(key) == key_id(key).lower()


def test_trust_set_holds_several_keys(tmp_path: Path) -> None:
    keys = [generate_private_key(kind) for kind in ("ed25519", "ecdsa-p256", "ecdsa-p384")]
    path = tmp_path / "trusted.pem"
    path.write_bytes(b"# our release keys\n" + b"\n".join(public_key_pem(k) for k in keys))
    loaded = load_public_keys(path)
    assert [key_id(k) for k in loaded] == [key_id(k) for k in keys]
    with pytest.raises(InputError, match="expected one public key but found 3"):
        load_public_key(path)


def test_public_key_file_problems(tmp_path: Path) -> None:
    key = generate_private_key("ed25519")
    private = save_private_key(key, tmp_path / "k.pem")
    with pytest.raises(InputError, match=r"holds a private key \(block 1\); give verifiers the public key only"):
        load_public_keys(private)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    with pytest.raises(InputError, match="holds no PEM public key"):
        load_public_keys(junk)
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    with pytest.raises(InputError, match="block 1 is not a valid PEM public key"):
        load_public_keys(broken)
    with pytest.raises(InputError, match="does not exist; check the path"):
        load_public_keys(tmp_path / "missing.pem")


def test_unsupported_key_types_are_refused(tmp_path: Path) -> None:
    dsa_key = dsa.generate_private_key(2048)
    path = tmp_path / "dsa.pem"
    path.write_bytes(
        dsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(InputError, match="holds a DSAPrivateKey"):
        load_private_key(path)
    with pytest.raises(InputError, match="key type 'dsa' is unknown"):
        generate_private_key("dsa")


def test_not_a_private_key(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    path.write_text("hello")
    with pytest.raises(InputError, match="is not a PEM private key"):
        load_private_key(path)
    with pytest.raises(InputError, match="does not exist"):
        load_private_key(tmp_path / "nope.pem")
