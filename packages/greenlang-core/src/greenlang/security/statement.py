"""The in-toto Statement that a signed artifact's envelope carries.

Signing a file signs a statement about it (name and SHA-256), not the file
itself, so the envelope stays small and any in-toto tool can read it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from greenlang.errors import InputError, VerificationError
from greenlang.jsonvalue import canonical_json
from greenlang.timeutil import isoformat

__all__ = [
    "STATEMENT_TYPE",
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "Subject",
    "file_sha256",
    "make_statement",
    "parse_statement",
    "subject_for",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
PREDICATE_TYPE = "https://greenlang.dev/attestations/signed-artifact/v1"


@dataclass(frozen=True)
class Subject:
    name: str
    sha256: str


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in chunks so large files need little memory."""
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except FileNotFoundError:
        raise InputError(f"file {os.fspath(path)} does not exist; check the path.") from None
    except IsADirectoryError:
        raise InputError(f"{os.fspath(path)} is a directory; sign or verify a file.") from None
    except OSError as exc:
        raise InputError(f"cannot read {os.fspath(path)}: {exc.strerror}.") from None


def make_statement(subject: Subject, signed_at: datetime) -> bytes:
    """The statement as RFC 8785 canonical JSON, so the same inputs always give the same bytes."""
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject.name, "digest": {"sha256": subject.sha256}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {"timestamp": isoformat(signed_at)},
    }
    return canonical_json(statement)


def parse_statement(payload: bytes) -> tuple[dict[str, Any], list[Subject]]:
    """The statement and its SHA-256 subjects; a payload of any other shape is refused."""
    try:
        statement = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise VerificationError("signed payload is not JSON; it is not an in-toto statement.") from None
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise VerificationError(f"signed payload is not an in-toto statement ({STATEMENT_TYPE}).")
    raw_subjects = statement.get("subject")
    if not isinstance(raw_subjects, list) or not raw_subjects:
        raise VerificationError("signed statement has no subject; it names no artifact.")
    subjects = []
    for item in raw_subjects:
        digest = item.get("digest") if isinstance(item, dict) else None
        sha256 = digest.get("sha256") if isinstance(digest, dict) else None
        if isinstance(sha256, str):
            subjects.append(Subject(str(item.get("name", "")), sha256.lower()))
    if not subjects:
        raise VerificationError("signed statement has no sha256 subject digest to compare with the file.")
    return statement, subjects


def subject_for(path: str | os.PathLike[str]) -> Subject:
    """The subject for a file: its base name and SHA-256."""
    return Subject(Path(path).name, file_sha256(path))
