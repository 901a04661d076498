"""``greenlang sign`` and ``greenlang verify``: DSSE signatures over files."""

from __future__ import annotations

from pathlib import Path

import click

from greenlang.cli.app import cli
from greenlang.errors import InputError
from greenlang.security.artifacts import Bundle, bundle_path_for, sign_artifact
from greenlang.security.keyref import open_signer
from greenlang.security.keys import load_public_keys
from greenlang.security.verify import verify_artifact


@cli.command("sign")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--key", "key_uri", required=True, help="Key URI, e.g. file:///path/key.pem or awskms:///alias/name.")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write FILE.dsse.json and FILE.bundle.json [default: beside FILE].",
)
def sign(file: Path, key_uri: str, out_dir: Path | None) -> None:
    """Sign FILE: writes a DSSE envelope and a bundle beside it."""
    # No passphrase is passed: the file provider reads GREENLANG_KEY_PASSPHRASE itself, so no other provider sees it.
    signer = open_signer(key_uri)
    if not file.is_file():
        raise InputError(f"{file} is not a file; pass the artifact to sign")
    envelope, bundle = sign_artifact(file, signer, out_dir=out_dir)
    click.echo(f"signed {file.name} with {signer.algorithm.name} key {signer.key_id}")
    click.echo(f"envelope: {envelope}")
    click.echo(f"bundle:   {bundle}")


def _algorithm_hint(path: Path) -> str | None:
    """The bundle's algorithm, or ``None`` if unreadable: an unsigned hint is never a reason to fail."""
    try:
        return Bundle.from_file(path).algorithm
    except (InputError, OSError, ValueError) as exc:
        click.echo(f"warning: ignoring bundle {path} ({exc}); verifying with the key's own algorithm", err=True)
        return None


@cli.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--signature",
    "envelope",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The DSSE envelope (FILE.dsse.json).",
)
@click.option(
    "--key",
    "public_key",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="PEM file with the public key(s) you trust.",
)
@click.option(
    "--bundle",
    "bundle_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The bundle (default: FILE.bundle.json when present); only chooses the RSA padding.",
)
def verify(file: Path, envelope: Path, public_key: Path, bundle_file: Path | None) -> None:
    """Verify FILE offline against the trusted public key(s); exit 1 if it does not verify."""
    if not file.is_file():
        raise InputError(f"{file} is not a file; pass the artifact that was signed")
    trusted = load_public_keys(public_key)
    bundle_path = bundle_file or bundle_path_for(file)
    algorithm = _algorithm_hint(bundle_path) if bundle_path.is_file() else None
    verified = verify_artifact(file, envelope, trusted, algorithm=algorithm)
    click.echo(f"verified: {file.name} sha256:{verified.sha256} signed by key {verified.envelope.key_id}")
