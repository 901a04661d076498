"""Verification checks the bytes a row stores, not only the values they decode to.

Stored rows are canonical (compact JSON, sorted keys, ``isoformat`` timestamps),
so any other spelling of the same values is an edit made outside greenlang.
Every tamper here goes through a raw ``sqlite3`` connection to the store file.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenlang.auth.backends.sqlite import SQLiteBackend
from greenlang.errors import StoreError
from greenlang.testing import expected_hash
from greenlang.testing.samples import sample_event, sample_permission

WHEN = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "trail.db"


@pytest.fixture
def backend(path: Path) -> Iterator[SQLiteBackend]:
    with SQLiteBackend(path) as store:
        yield store


def sql(path: Path, statement: str, *args: object) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as conn, conn:
        return conn.execute(statement, args).fetchall()


def stored(path: Path, column: str, sequence: int) -> Any:
    return sql(path, f"SELECT {column} FROM audit_logs WHERE sequence = ?", sequence)[0][0]  # noqa: S608


def three_events(backend: SQLiteBackend, **second: Any) -> None:
    backend.append_audit_events([sample_event(), sample_event(**second), sample_event()])


def test_an_untouched_trail_verifies(backend: SQLiteBackend) -> None:
    three_events(backend, details={"before": {"b": 1, "a": 2}, "after": "kept"}, ip_address="2001:db8::1")
    report = backend.verify_audit()
    assert (report.ok, report.events_checked, report.first_bad_sequence) == (True, 3, None)


def test_stored_details_are_compact_json_with_sorted_keys_and_raw_unicode(backend: SQLiteBackend, path: Path) -> None:
    three_events(backend, details={"z": 1, "a": {"d": [1, "é"], "c": None}})
    assert stored(path, "details", 2) == '{"a":{"c":null,"d":[1,"é"]},"z":1}'
    assert stored(path, "timestamp", 2).endswith("Z")


def test_whole_floats_are_stored_as_integers_because_they_hash_alike(backend: SQLiteBackend, path: Path) -> None:
    three_events(backend, details={"one": 1.0, "half": 2.5, "zero": -0.0, "big": 1e16, "list": [3.0, 1e300]})
    assert stored(path, "details", 2) == '{"big":1e+16,"half":2.5,"list":[3,1e+300],"one":1,"zero":0}'
    assert backend.verify_audit().ok
    [_, second, _] = backend.read_audit_events()
    assert second.details == {"one": 1, "half": 2.5, "zero": 0, "big": 1e16, "list": [3, 1e300]}


def test_duplicate_key_forgery_in_details_breaks_the_chain(backend: SQLiteBackend, path: Path) -> None:
    three_events(backend, details={"before": "draft", "after": "approved"})
    original = stored(path, "details", 2)
    forged = '{"after":"FORGED",' + original[1:]
    sql(path, "UPDATE audit_logs SET details = ? WHERE sequence = 2", forged)
    # The premise: SQL reads the first "after", Python's plain json the last, so the hash alone would still match.
    assert sql(path, "SELECT json_extract(details, '$.after') FROM audit_logs WHERE sequence = 2") == [("FORGED",)]
    assert json.loads(forged) == {"before": "draft", "after": "approved"}

    report = backend.verify_audit()
    assert (report.ok, report.first_bad_sequence, report.events_checked) == (False, 2, 1)
    assert report.reason is not None
    assert "'after' appears twice" in report.reason
    with pytest.raises(StoreError, match="'after' appears twice"):
        backend.read_audit_events()


def test_same_instant_in_another_timestamp_text_breaks_the_chain(backend: SQLiteBackend, path: Path) -> None:
    three_events(backend, timestamp=WHEN)
    assert stored(path, "timestamp", 2) == "2026-12-03T16:00:00.000000Z"
    sql(path, "UPDATE audit_logs SET timestamp = ? WHERE sequence = 2", "2026-12-03 16:00:00+00:00")
    # The premise: the edited row decodes to the same event, so its stored hash is still right.
    [first, second, _] = backend.read_audit_events()
    assert second.timestamp == WHEN
    assert first.provenance_hash is not None
    assert second.provenance_hash == expected_hash(second, first.provenance_hash)

    report = backend.verify_audit()
    assert (report.ok, report.first_bad_sequence, report.events_checked) == (False, 2, 1)
    assert report.reason == (
        "stored text of column timestamp differs from the hashed event; the row was edited after it was appended"
    )


@pytest.mark.parametrize(
    "rewrite",
    [
        pytest.param('{"b":2,"a":1}', id="keys-reordered"),
        pytest.param('{"a": 1, "b": 2}', id="spaces-added"),
        pytest.param('{"a":1,"b":2}\n', id="trailing-newline"),
        pytest.param('{"a":1.0,"b":2}', id="number-respelled"),
        pytest.param('{"a":1,"b":2,"a":1}', id="harmless-duplicate"),
    ],
)
def test_other_spellings_of_the_same_details_break_the_chain(backend: SQLiteBackend, path: Path, rewrite: str) -> None:
    three_events(backend, details={"a": 1, "b": 2})
    assert stored(path, "details", 2) == '{"a":1,"b":2}'
    sql(path, "UPDATE audit_logs SET details = ? WHERE sequence = 2", rewrite)
    report = backend.verify_audit()
    assert (report.ok, report.first_bad_sequence, report.events_checked) == (False, 2, 1)
    assert report.reason is not None
    assert "details" in report.reason


def test_a_respelled_ip_address_breaks_the_chain(backend: SQLiteBackend, path: Path) -> None:
    three_events(backend, ip_address="2001:db8::1")
    sql(path, "UPDATE audit_logs SET ip_address = '2001:0DB8:0:0::1' WHERE sequence = 2")
    report = backend.verify_audit()
    assert (report.ok, report.first_bad_sequence) == (False, 2)
    assert report.reason is not None
    assert "column ip_address" in report.reason


def test_details_stored_as_a_blob_with_the_same_bytes_break_the_chain(backend: SQLiteBackend, path: Path) -> None:
    three_events(backend, details={"a": 1})
    sql(path, "UPDATE audit_logs SET details = CAST(details AS BLOB) WHERE sequence = 2")
    assert stored(path, "details", 2) == b'{"a":1}'
    report = backend.verify_audit()
    assert (report.ok, report.first_bad_sequence) == (False, 2)
    assert report.reason is not None
    assert "stored value of column details" in report.reason


def test_nan_in_stored_details_is_damage_naming_the_key(backend: SQLiteBackend, path: Path) -> None:
    three_events(backend)
    sql(path, "UPDATE audit_logs SET details = '{\"score\":NaN}' WHERE sequence = 3")
    report = backend.verify_audit()
    assert (report.ok, report.first_bad_sequence, report.events_checked) == (False, 3, 2)
    assert report.reason is not None
    assert "'score'" in report.reason


def test_duplicate_keys_in_other_stored_json_are_refused_on_read(backend: SQLiteBackend, path: Path) -> None:
    permission = backend.create_permission(sample_permission(metadata={"owner": "team-a"}))
    sql(
        path,
        "UPDATE permissions SET metadata = ? WHERE permission_id = ?",
        '{"owner":"team-b","owner":"team-a"}',
        permission.permission_id,
    )
    with pytest.raises(StoreError, match="'owner' appears twice"):
        backend.get_permission(permission.permission_id)


_no_nul = st.characters(codec="utf-8", exclude_characters="\x00")  # records refuse NUL
_values = st.one_of(st.integers(-1000, 1000), st.text(_no_nul, max_size=5), st.booleans(), st.none())


@settings(max_examples=40, deadline=None)
@given(
    details=st.dictionaries(st.text(_no_nul, min_size=1, max_size=4), _values, min_size=1, max_size=4),
    sort_keys=st.booleans(),
    reverse=st.booleans(),
    spaced=st.booleans(),
    ascii_only=st.booleans(),
)
def test_only_the_canonical_spelling_of_details_verifies(
    details: dict[str, Any], sort_keys: bool, reverse: bool, spaced: bool, ascii_only: bool
) -> None:
    ordered = dict(reversed(list(details.items()))) if reverse else details
    separators = (", ", ": ") if spaced else (",", ":")
    rewrite = json.dumps(ordered, sort_keys=sort_keys, separators=separators, ensure_ascii=ascii_only)
    canonical = json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "trail.db"
        with SQLiteBackend(path) as backend:
            three_events(backend, details=details)
            assert stored(path, "details", 2) == canonical
            sql(path, "UPDATE audit_logs SET details = ? WHERE sequence = 2", rewrite)
            report = backend.verify_audit()
    if rewrite == canonical:
        assert (report.ok, report.events_checked) == (True, 3)
    else:
        assert (report.ok, report.first_bad_sequence, report.events_checked) == (False, 2, 1)
