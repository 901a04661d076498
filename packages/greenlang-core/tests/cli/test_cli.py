"""The CLI end to end: exit codes, one-line errors, and each command's output."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from greenlang.cli import main

EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "emissions-platform"


class Run:
    def __init__(self, capsys: pytest.CaptureFixture[str], db: Path) -> None:
        self.capsys = capsys
        self.db = db

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(["--db", str(self.db), *args])
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Run:
    return Run(capsys, tmp_path / "cli.db")


@pytest.fixture
def applied(run: Run) -> Run:
    code, _, _ = run("policy", "apply", str(EXAMPLE / "policy.yaml"))
    assert code == 0
    return run


def test_init_creates_an_empty_store(run: Run) -> None:
    code, out, _ = run("init")
    assert code == 0
    assert "0 permissions, 0 roles, 0 policies, 0 audit events" in out
    assert run.db.exists()


def test_policy_apply_then_reapply_prints_no_changes(run: Run) -> None:
    code, out, _ = run("policy", "apply", str(EXAMPLE / "policy.yaml"))
    assert code == 0
    assert "+ role viewer (2 permissions)" in out
    code, out, _ = run("policy", "apply", str(EXAMPLE / "policy.yaml"))
    assert (code, out) == (0, "no changes\n")


def test_check_allowed_exits_0_and_names_the_rule(applied: Run) -> None:
    code, out, _ = applied(
        "check",
        "alice",
        "write",
        "emissions:acme:plant-7:scope1-2026-q3",
        "--ctx",
        "org=acme",
        "--now",
        "2026-12-03T12:00:00Z",
    )
    assert code == 0
    assert out.startswith("ALLOW: ")
    assert "deciding rules: perm_" in out


def test_check_denied_exits_1(applied: Run) -> None:
    code, out, _ = applied("check", "alice", "write", "emissions:globex:plant-7:scope1-2026-q3", "--ctx", "org=globex")
    assert code == 1
    assert out.startswith("DENY: ")


def test_check_freeze_window_denies_writes(applied: Run) -> None:
    code, out, _ = applied(
        "check", "alice", "write", "emissions:acme:plant-7:x", "--ctx", "org=acme", "--now", "2026-12-25T09:00:00Z"
    )
    assert code == 1
    assert "year-end" in out or "pol_" in out


def test_check_explain_lists_rules_considered(applied: Run) -> None:
    code, out, _ = applied(
        "check",
        "bob",
        "export",
        "reports:acme:2026:csrd-e1",
        "--ctx",
        "org=acme",
        "--ctx",
        "report.status=published",
        "--explain",
    )
    assert code == 1
    assert len(out.splitlines()) > 2


def test_check_json_output(applied: Run) -> None:
    code, out, _ = applied("check", "frank", "read", "audit:acme", "--json", "--no-audit")
    assert code == 0
    body = json.loads(out)
    assert body["allowed"] is True
    assert body["subject"] == "frank"


def test_check_records_decisions_in_the_audit_trail(applied: Run) -> None:
    _, _, _ = applied("check", "frank", "read", "audit:acme")
    code, out, _ = applied("audit", "tail", "-n", "1", "--json")
    event = json.loads(out)
    assert event["event_type"] == "authz.decision"
    assert event["user_id"] == "frank"
    assert event["result"] == "success"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("check", "alice", "read", "emissions::x"), "empty segment"),
        (("check", "alice", "read", "emissions:x", "--ctx", "novalue"), "key=value"),
        (("check", "alice", "read"), "SUBJECT ACTION RESOURCE"),
        (("check", "alice", "read", "x", "--now", "yesterday"), "--now"),
        (("policy", "apply", "/nonexistent/policy.yaml"), "cannot read policy file"),
        (("sign", "/nonexistent/file", "--key", "awskms:///alias/release"), ""),
        (("nosuchcommand",), "No such command"),
    ],
)
def test_input_errors_exit_2_with_one_line_and_no_traceback(run: Run, args: tuple[str, ...], fragment: str) -> None:
    code, _, err = run(*args)
    assert code == 2
    assert fragment in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: ")


def test_debug_shows_the_traceback(run: Run) -> None:
    code, _, err = run("--debug", "check", "alice", "read", "emissions::x")
    assert code == 2
    assert "Traceback" in err


def test_unknown_key_scheme_names_the_extra(run: Run, tmp_path: Path, only_builtin_plugins: None) -> None:
    artifact = tmp_path / "report.txt"
    artifact.write_text("scope 1: 1200 tCO2e\n")
    code, _, err = run("sign", str(artifact), "--key", "awskms:///alias/release")
    assert code == 2
    assert "pip install 'greenlang-core[aws]'" in err


def batch_file(tmp_path: Path, lines: list[dict[str, object]]) -> Path:
    path = tmp_path / "batch.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_batch_matches_expectations_and_logs_every_decision(applied: Run, tmp_path: Path) -> None:
    path = batch_file(
        tmp_path,
        [
            {"subject": "frank", "action": "read", "resource": "audit:acme", "expect": "allow"},
            {"subject": "mallory", "action": "read", "resource": "audit:acme", "expect": "deny"},
        ],
    )
    head_before = json.loads(applied("audit", "tail", "-n", "1", "--json")[1])["sequence"]
    code, out, err = applied("check", "--batch", str(path))
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [row["allowed"] for row in rows] == [True, False]
    assert all(row["match"] for row in rows)
    assert "2 checks: 1 allowed, 1 denied; 2/2 match expectations" in err
    head_after = json.loads(applied("audit", "tail", "-n", "1", "--json")[1])["sequence"]
    assert head_after == head_before + 2


def test_batch_mismatch_exits_1_and_names_the_line(applied: Run, tmp_path: Path) -> None:
    path = batch_file(tmp_path, [{"subject": "mallory", "action": "read", "resource": "audit:acme", "expect": "allow"}])
    code, _, err = applied("check", "--batch", str(path))
    assert code == 1
    assert "mismatch at line 1: expected allow, got deny" in err


def test_batch_with_a_bad_line_decides_and_logs_nothing(applied: Run, tmp_path: Path) -> None:
    path = tmp_path / "batch.jsonl"
    path.write_text(json.dumps({"subject": "frank", "action": "read", "resource": "audit:acme"}) + "\n" + "{not json\n")
    head_before = applied("audit", "tail", "-n", "1", "--json")[1]
    code, out, err = applied("check", "--batch", str(path))
    assert code == 2
    assert "line 2 is not JSON" in err
    assert out == ""
    assert applied("audit", "tail", "-n", "1", "--json")[1] == head_before


def test_the_example_batch_matches_its_expected_decisions(applied: Run) -> None:
    code, out, err = applied("check", "--batch", str(EXAMPLE / "requests.jsonl"))
    mismatches = [line for line in err.splitlines() if line.startswith("mismatch")]
    assert mismatches == []
    assert code == 0
    assert len(out.splitlines()) == 240


def test_audit_verify_passes_then_catches_a_changed_row(applied: Run) -> None:
    code, out, _ = applied("audit", "verify")
    assert code == 0
    assert out.startswith("audit chain intact")
    with sqlite3.connect(applied.db) as connection:
        connection.execute("UPDATE audit_logs SET user_id = 'someone-else' WHERE sequence = 3")
    code, _, err = applied("audit", "verify")
    assert code == 1
    assert "broken at sequence 3" in err


def test_audit_export_verifies_offline_and_catches_a_cut_tail(applied: Run, tmp_path: Path) -> None:
    export = tmp_path / "audit.jsonl"
    code, _, err = applied("audit", "export", "-o", str(export))
    assert code == 0
    head = err.strip().rsplit("chain head ", 1)[1]
    assert applied("audit", "verify", "--export", str(export))[0] == 0
    lines = export.read_text().splitlines()
    export.write_text("\n".join(lines[:-1]) + "\n")
    code, _, err = applied("audit", "verify", "--export", str(export), "--head", head)
    assert code == 1
    assert f"sequence {len(lines)}" in err


def test_keys_sign_verify_round_trip_and_failures(run: Run, tmp_path: Path) -> None:
    key = tmp_path / "release.pem"
    code, _, _ = run("keys", "create", "--type", "ed25519", "--out", str(key))
    assert code == 0
    public = tmp_path / "release.pub.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    code, out, _ = run("keys", "pubkey", str(key))
    assert code == 0
    assert out == public.read_text()

    artifact = tmp_path / "report.csv"
    artifact.write_text("site,scope,tco2e\nlyon,1,1200\n")
    code, _, _ = run("sign", str(artifact), "--key", key.as_uri())
    assert code == 0
    envelope = tmp_path / "report.csv.dsse.json"
    bundle = json.loads((tmp_path / "report.csv.bundle.json").read_text())
    assert bundle["provider"] == "local"
    assert bundle["key_ref"] == key.as_uri()
    assert run("verify", str(artifact), "--signature", str(envelope), "--key", str(public))[0] == 0

    artifact.write_text("site,scope,tco2e\nlyon,1,12\n")
    code, _, err = run("verify", str(artifact), "--signature", str(envelope), "--key", str(public))
    assert code == 1
    assert "Traceback" not in err

    other = tmp_path / "other.pem"
    run("keys", "create", "--type", "ecdsa-p256", "--out", str(other))
    artifact.write_text("site,scope,tco2e\nlyon,1,1200\n")
    code, _, _ = run("verify", str(artifact), "--signature", str(envelope), "--key", str(tmp_path / "other.pub.pem"))
    assert code == 1


def test_keys_create_refuses_to_overwrite(run: Run, tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    assert run("keys", "create", "--type", "ed25519", "--out", str(key))[0] == 0
    code, _, err = run("keys", "create", "--type", "ed25519", "--out", str(key))
    assert code == 2
    assert "exists" in err


def test_keys_create_rejects_an_unknown_type(run: Run, tmp_path: Path) -> None:
    code, _, err = run("keys", "create", "--type", "dsa-1024", "--out", str(tmp_path / "k.pem"))
    assert code == 2
    assert "dsa-1024" in err


def test_batch_rows_carry_the_evaluation_time_and_revision(applied: Run, tmp_path: Path) -> None:
    path = batch_file(
        tmp_path, [{"subject": "frank", "action": "read", "resource": "audit:acme", "now": "2026-12-03T12:00:00Z"}]
    )
    code, out, _ = applied("check", "--batch", str(path), "--no-audit")
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert row["evaluated_at"] == "2026-12-03T12:00:00.000000Z"
    assert row["revision"] > 0
    assert row["elapsed_ms"] >= 0


def test_progress_bar_goes_to_stderr_so_redirected_decisions_stay_clean(
    applied: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    path = batch_file(tmp_path, [{"subject": "frank", "action": "read", "resource": "audit:acme"}] * 5)
    code, out, _ = applied("check", "--batch", str(path), "--no-audit")
    assert code == 0
    assert [json.loads(line)["allowed"] for line in out.splitlines()] == [True] * 5


def test_over_long_actor_is_an_input_error_naming_the_option(run: Run) -> None:
    code, _, err = run("policy", "apply", str(EXAMPLE / "policy.yaml"), "--actor", "a" * 1000)
    assert code == 2
    assert err == "error: actor must be 1 to 255 characters, e.g. --actor platform-team\n"
    assert "0 permissions" in run("init")[1]


def test_unexpected_errors_print_no_message_that_could_hold_a_secret(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    from greenlang.auth.backends.sqlite import SQLiteBackend

    def leak(self: object) -> None:
        raise RuntimeError("password=hunter2")

    monkeypatch.setattr(SQLiteBackend, "get_statistics", leak)
    code, _, err = run("init")
    assert code == 2
    assert err == "error: unexpected RuntimeError; rerun with --debug for details\n"


def test_encrypt_without_a_passphrase_and_no_terminal_is_one_line(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GREENLANG_KEY_PASSPHRASE", "")
    code, _, err = run("keys", "create", "--out", str(tmp_path / "k.pem"), "--encrypt")
    assert code == 2
    assert err.count("\n") == 1
    assert "GREENLANG_KEY_PASSPHRASE" in err
    assert not (tmp_path / "k.pem").exists()


def test_encrypted_key_signs_with_the_passphrase_from_the_environment(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GREENLANG_KEY_PASSPHRASE", "correct horse battery staple")
    key = tmp_path / "k.pem"
    assert run("keys", "create", "--type", "ecdsa-p384", "--out", str(key), "--encrypt")[0] == 0
    assert b"ENCRYPTED" in key.read_bytes()
    artifact = tmp_path / "a.txt"
    artifact.write_text("x")
    assert run("sign", str(artifact), "--key", key.as_uri())[0] == 0
    monkeypatch.setenv("GREENLANG_KEY_PASSPHRASE", "tr0ub4dor-and-3")
    code, out, err = run("sign", str(artifact), "--key", key.as_uri())
    assert code == 2
    assert err.count("\n") == 1
    assert "tr0ub4dor" not in err + out
    assert "correct horse" not in err + out


def test_audit_verify_catches_a_direct_edit_of_the_policy_tables(applied: Run) -> None:
    code, out, _ = applied("audit", "verify")
    assert code == 0
    assert "policy state matches the audit trail: 29 records" in out
    with sqlite3.connect(applied.db) as connection:
        connection.execute("UPDATE permissions SET effect = 'allow' WHERE effect = 'deny'")
    code, _, err = applied("audit", "verify")
    assert code == 1
    assert err.startswith("error: policy state differs from the audit trail: stored permission 'perm_")
    assert "edited outside greenlang" in err
    assert err.count("\n") == 1


def test_audit_verify_compares_the_store_head_with_a_trusted_head(applied: Run, tmp_path: Path) -> None:
    _, _, err = applied("audit", "export", "-o", str(tmp_path / "x.jsonl"))
    head = err.strip().rsplit("chain head ", 1)[1]
    assert applied("audit", "verify", "--head", head)[0] == 0
    with sqlite3.connect(applied.db) as connection:
        connection.execute("DELETE FROM audit_logs")
        connection.execute("DELETE FROM audit_chain_head")
    code, _, err = applied("audit", "verify", "--head", head)
    assert code == 1
    assert "not the trusted --head" in err


def test_audit_head_must_be_hex(run: Run) -> None:
    code, _, err = run("audit", "verify", "--head", "1:" + "z" * 64)
    assert code == 2
    assert "--head must look like SEQUENCE:SHA256HEX" in err


@pytest.mark.parametrize(
    ("ctx", "fragment"), [(("org=acme", "org=globex"), "given twice"), (("risk=NaN",), "finite number")]
)
def test_bad_context_values_are_input_errors(applied: Run, ctx: tuple[str, ...], fragment: str) -> None:
    args = [arg for pair in ctx for arg in ("--ctx", pair)]
    code, out, err = applied("check", "frank", "read", "audit:acme", *args)
    assert code == 2
    assert fragment in err
    assert out == ""


@pytest.mark.parametrize(
    ("pair", "fragment"),
    [
        ('x={"a":1,"a":2}', "--ctx x: "),
        ("big=9007199254740993", "too large for exact JSON"),
    ],
)
def test_context_json_is_strict(applied: Run, pair: str, fragment: str) -> None:
    code, out, err = applied("check", "frank", "read", "audit:acme", "--ctx", pair, "--no-audit")
    assert code == 2
    assert fragment in err
    assert out == ""


@pytest.mark.parametrize(
    "line",
    [
        '{"subject":"bob","subject":"frank","action":"delete","resource":"audit:acme"}',
        '{"subject":"frank","action":"read","resource":"audit:acme","context":{"org":"acme","org":"globex"}}',
        '{"subject":"frank","action":"read","resource":"audit:acme","context":{"risk":NaN}}',
    ],
)
def test_batch_lines_are_strict_json(applied: Run, tmp_path: Path, line: str) -> None:
    path = tmp_path / "batch.jsonl"
    path.write_text(line + "\n")
    code, out, err = applied("check", "--batch", str(path))
    assert code == 2
    assert err.startswith(f"error: {path} line 1: ")
    assert out == ""


@pytest.mark.parametrize("hint", ['"algorithm": 123', '"algorithm": ["x"]', None])
def test_a_broken_bundle_hint_never_blocks_a_genuine_signature(run: Run, tmp_path: Path, hint: str | None) -> None:
    key = tmp_path / "k.pem"
    run("keys", "create", "--type", "rsa-pss-2048", "--out", str(key))
    artifact = tmp_path / "a.txt"
    artifact.write_text("scope 2: 40 tCO2e\n")
    run("sign", str(artifact), "--key", key.as_uri())
    bundle = tmp_path / "a.txt.bundle.json"
    data = json.loads(bundle.read_text())
    del data["algorithm"]
    text = json.dumps(data)
    if hint is not None:
        text = text[:-1] + ", " + hint + "}"
    bundle.write_text(text)
    envelope = str(tmp_path / "a.txt.dsse.json")
    code, out, err = run("verify", str(artifact), "--signature", envelope, "--key", str(tmp_path / "k.pub.pem"))
    assert code == 0
    assert out.startswith("verified: a.txt")
    assert err.startswith("warning: ignoring bundle")
    run("keys", "create", "--type", "rsa-pss-2048", "--out", str(tmp_path / "other.pem"))
    code, _, _ = run("verify", str(artifact), "--signature", envelope, "--key", str(tmp_path / "other.pub.pem"))
    assert code == 1
