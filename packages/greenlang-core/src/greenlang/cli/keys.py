"""``greenlang keys``: create local keys and export public keys."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from greenlang.cli.app import cli
from greenlang.errors import InputError
from greenlang.security.keyref import file_uri, open_signer, parse_key_uri
from greenlang.security.keys import (
    KEY_TYPES,
    generate_private_key,
    key_id,
    load_private_key,
    public_key_pem,
    save_private_key,
    save_public_key,
)
from greenlang.security.local import PASSPHRASE_ENV


def public_path_for(private: Path) -> Path:
    """``release.pem`` -> ``release.pub.pem``."""
    stem = private.name.removesuffix(".pem")
    return private.with_name(f"{stem}.pub.pem")


@cli.group("keys")
def keys() -> None:
    """Local signing keys."""


@keys.command("create")
@click.option("--type", "kind", default="ed25519", show_default=True, help=f"One of: {', '.join(KEY_TYPES)}.")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Private key path; the public key goes beside it as NAME.pub.pem.",
)
@click.option(
    "--encrypt", is_flag=True, help=f"Encrypt the private key with a passphrase [env {PASSPHRASE_ENV}, else a prompt]."
)
def create(kind: str, out: Path, encrypt: bool) -> None:
    """Create a key pair: the private key with mode 0600, the public key beside it."""
    public = public_path_for(out)
    for path in (out, public):
        if path.exists():
            raise InputError(f"{path} already exists; choose another --out or remove the file first")
    passphrase = None
    if encrypt:
        passphrase = os.environ.get(PASSPHRASE_ENV) or None
        if passphrase is None:
            if not sys.stdin.isatty():
                raise InputError(f"--encrypt needs a passphrase: set {PASSPHRASE_ENV} or run in a terminal to be asked")
            passphrase = click.prompt("Passphrase", hide_input=True, confirmation_prompt=True)
    key = generate_private_key(kind)
    save_private_key(key, out, passphrase=passphrase)
    save_public_key(key, public)
    click.echo(f"private key: {out} ({kind}, key id {key_id(key)})")
    click.echo(f"public key:  {public}")
    click.echo(f"key URI:     {file_uri(out)}")


@keys.command("pubkey")
@click.argument("key")
def pubkey(key: str) -> None:
    """Print the public key (PEM) of KEY: a private key file, a file:// URI or a KMS key URI (awskms:///...).

    For a KMS key this is what verifiers need for `greenlang verify --key`.
    """
    ref = parse_key_uri(key)
    if ref.scheme != "file":
        click.echo(public_key_pem(open_signer(ref.uri).public_key()).decode("ascii"), nl=False)
        return
    passphrase = os.environ.get(PASSPHRASE_ENV)
    click.echo(public_key_pem(load_private_key(ref.local_path(), passphrase)).decode("ascii"), nl=False)
