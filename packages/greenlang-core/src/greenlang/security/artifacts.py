"""Signing a file: an envelope over an in-toto statement, and a small bundle beside it.

``report.pdf`` gets ``report.pdf.dsse.json`` (what verifiers check) and
``report.pdf.bundle.json`` (how it was signed: algorithm, key URI, key id,
time, provider). The bundle is a record, not a trust anchor: verification
takes the public key from the verifier, never from these files.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from pydantic import Field, ValidationError

from greenlang.errors import InputError
from greenlang.model import Record
from greenlang.security.dsse import sign_envelope_with_result
from greenlang.security.signing import Signer
from greenlang.security.statement import PAYLOAD_TYPE, make_statement, subject_for
from greenlang.timeutil import Clock, UTCDateTime, utcnow
from greenlang.validation import describe

__all__ = [
    "Bundle",
    "ArtifactDigest",
    "sign_artifact",
    "envelope_path_for",
    "bundle_path_for",
    "ENVELOPE_SUFFIX",
    "BUNDLE_SUFFIX",
]

ENVELOPE_SUFFIX = ".dsse.json"
BUNDLE_SUFFIX = ".bundle.json"
BUNDLE_VERSION = 1


class ArtifactDigest(Record):
    name: str
    sha256: str


class Bundle(Record):
    """How an artifact was signed. Written beside the envelope; never used as a source of keys."""

    version: int = BUNDLE_VERSION
    algorithm: str
    key_ref: str
    key_id: str
    timestamp: UTCDateTime
    provider: str
    fallback_for: str | None = None
    payload_type: str = Field(alias="payloadType")
    artifact: ArtifactDigest
    envelope: str

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", by_alias=True, exclude_none=True), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Bundle:
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            raise InputError(describe(exc, "bundle")) from None

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Bundle:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read bundle {os.fspath(path)}: {exc.strerror}.") from None
        return cls.from_json(data)


def envelope_path_for(path: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None) -> Path:
    source = Path(path)
    return (Path(out_dir) if out_dir is not None else source.parent) / (source.name + ENVELOPE_SUFFIX)


def bundle_path_for(path: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None) -> Path:
    source = Path(path)
    return (Path(out_dir) if out_dir is not None else source.parent) / (source.name + BUNDLE_SUFFIX)


def _write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a crash never leaves half an envelope."""
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def sign_artifact(
    path: str | os.PathLike[str],
    signer: Signer,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    clock: Clock = utcnow,
) -> tuple[Path, Path]:
    """Sign the file at ``path``; returns ``(envelope_path, bundle_path)``.

    The file is hashed in chunks, so its size does not matter. Existing
    envelope and bundle files for the same artifact are replaced.
    """
    subject = subject_for(path)
    if out_dir is not None and not Path(out_dir).is_dir():
        raise InputError(f"output directory {os.fspath(out_dir)} does not exist; create it first.")
    statement = make_statement(subject, clock())
    envelope, result = sign_envelope_with_result(signer, statement, PAYLOAD_TYPE)
    envelope_path = envelope_path_for(path, out_dir)
    bundle_path = bundle_path_for(path, out_dir)
    bundle = Bundle(
        algorithm=result.algorithm,
        key_ref=result.key_ref,
        key_id=result.key_id,
        timestamp=result.timestamp,
        provider=result.provider,
        fallback_for=result.fallback_for,
        payloadType=PAYLOAD_TYPE,
        artifact=ArtifactDigest(name=subject.name, sha256=subject.sha256),
        envelope=envelope_path.name,
    )
    try:
        _write_atomic(envelope_path, envelope.to_json())
        _write_atomic(bundle_path, bundle.to_json())
    except OSError as exc:
        raise InputError(f"cannot write the signature files beside {os.fspath(path)}: {exc.strerror}.") from None
    return envelope_path, bundle_path
