"""``greenlang db upgrade|downgrade|current|history`` through the real CLI, against a real server.

The commands reach the CLI through the plugin's ``register_commands`` hook,
so these tests run core's ``main`` exactly as the ``greenlang`` script does
(and once the script itself, in a subprocess).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from greenlang.cli import main
from greenlang.plugins import reset_registry
from greenlang_pg.config import DatabaseConfig
from greenlang_pg.testing import TestServer

# Characters that break careless URL handling, as in the test server's own app password.
FAKE_PASSWORD = "s3cret-PW@:/%x"


class Run:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(args))
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    """core's ``main`` with every installed plugin loaded, and no database from the environment."""
    monkeypatch.delenv("GREENLANG_PLUGINS", raising=False)
    for name in list(os.environ):
        if name.startswith("GL_DB_"):
            monkeypatch.delenv(name)
    reset_registry()
    yield Run(capsys)
    reset_registry()


def _url(server: TestServer, config: DatabaseConfig) -> str:
    assert config.database is not None
    return server.dsn(config.database)


def _secrets(server: TestServer) -> list[str]:
    password = server.app_password
    return [password, quote(password, safe="")] if password else []


def _assert_no_secret(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    return lines[0]


def test_db_commands_are_added_to_the_core_cli(run: Run) -> None:
    code, out, _ = run("--help")
    assert code == 0
    assert "db" in out.split()
    code, out, _ = run("db", "--help")
    assert code == 0
    for command in ("upgrade", "downgrade", "current", "history"):
        assert command in out


def test_history_lists_every_revision_without_a_database(run: Run) -> None:
    code, out, err = run("db", "history")
    assert (code, err) == (0, "")
    lines = out.strip().splitlines()
    assert lines[0].startswith("002 -> 003 (head), ")
    assert lines[1].startswith("001 -> 002, ")
    assert lines[2].startswith("<base> -> 001, ")
    assert len(lines) == 3


def test_upgrade_current_and_downgrade_walk_the_revisions(
    run: Run, pg_server: TestServer, empty_pg_config: DatabaseConfig
) -> None:
    url = _url(pg_server, empty_pg_config)
    secrets = _secrets(pg_server)
    steps = [
        (("current",), "base (no greenlang schema)"),
        (("upgrade", "001"), "is at 001"),
        (("current",), "001"),
        (("upgrade",), "is at 003 (head)"),
        (("current",), "003 (head)"),
        (("downgrade", "001"), "is at 001"),
        (("downgrade", "base"), "is at base"),
        (("current",), "base (no greenlang schema)"),
        (("upgrade", "head"), "is at 003 (head)"),
    ]
    for args, expected in steps:
        code, out, err = run("db", *args, "--url", url)
        assert (code, err) == (0, ""), (args, err)
        last = out.strip().splitlines()[-1]
        assert last.endswith(expected), (args, out)
        _assert_no_secret(out, secrets)
    code, out, _ = run("db", "upgrade", "--url", url)
    assert "postgresql://" in out
    assert "***" in out


def test_commands_read_the_gl_db_environment(run: Run, pg_env: DatabaseConfig) -> None:
    code, out, err = run("db", "current")
    assert (code, err) == (0, "")
    assert out == "003 (head)\n"


def test_url_comes_from_gl_db_url(
    run: Run, pg_server: TestServer, empty_pg_config: DatabaseConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GL_DB_URL", _url(pg_server, empty_pg_config))
    code, out, err = run("db", "upgrade", "001")
    assert (code, err) == (0, "")
    assert out.strip().endswith("is at 001")
    _assert_no_secret(out, _secrets(pg_server))


def test_downgrade_without_a_revision_exits_2(run: Run, pg_server: TestServer, pg_config: DatabaseConfig) -> None:
    code, out, err = run("db", "downgrade", "--url", _url(pg_server, pg_config))
    assert (code, out) == (2, "")
    assert "Missing argument 'REVISION'" in _one_error_line(err)
    code, out, _ = run("db", "current", "--url", _url(pg_server, pg_config))
    assert out == "003 (head)\n"


@pytest.mark.parametrize("command", ["upgrade", "downgrade"])
def test_an_unknown_revision_exits_2_and_changes_nothing(
    run: Run, pg_server: TestServer, pg_config: DatabaseConfig, command: str
) -> None:
    url = _url(pg_server, pg_config)
    code, out, err = run("db", command, "no-such-rev", "--url", url)
    assert (code, out) == (2, "")
    line = _one_error_line(err)
    assert "'no-such-rev'" in line
    assert "greenlang db history" in line
    _assert_no_secret(err, _secrets(pg_server))
    assert run("db", "current", "--url", url)[1] == "003 (head)\n"


@pytest.mark.parametrize("args", [("upgrade",), ("downgrade", "001"), ("current",)])
def test_an_unreachable_server_fails_in_one_line_without_the_password(run: Run, args: tuple[str, ...]) -> None:
    url = f"postgresql://greenlang:{quote(FAKE_PASSWORD, safe='')}@127.0.0.1:{_closed_port()}/greenlang"
    code, out, err = run("db", *args, "--url", url)
    assert code != 0
    assert out == ""
    line = _one_error_line(err)
    assert "127.0.0.1" in line
    assert "***" in line
    _assert_no_secret(out + err, [FAKE_PASSWORD, quote(FAKE_PASSWORD, safe="")])


def test_a_wrong_password_fails_in_one_line_without_the_password(
    run: Run, pg_server: TestServer, pg_config: DatabaseConfig
) -> None:
    wrong = "wrong-" + FAKE_PASSWORD
    where = f"{pg_server.host}:{pg_server.port}/{pg_config.database}"
    url = f"postgresql://{pg_server.app_user}:{quote(wrong, safe='')}@{where}"
    code, out, err = run("db", "upgrade", "--url", url)
    assert code != 0
    assert out == ""
    _one_error_line(err)
    _assert_no_secret(err, [wrong, quote(wrong, safe="")])


def test_the_greenlang_script_reports_an_unreachable_server_without_a_traceback(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("greenlang")
    assert script.is_file(), f"the greenlang script is not installed next to {sys.executable}"
    url = f"postgresql://greenlang:{quote(FAKE_PASSWORD, safe='')}@127.0.0.1:{_closed_port()}/greenlang"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GL_DB_", "PG", "GREENLANG_"))}
    result = subprocess.run(
        [str(script), "db", "current", "--url", url],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    line = _one_error_line(result.stderr)
    assert "127.0.0.1" in line
    _assert_no_secret(result.stdout + result.stderr, [FAKE_PASSWORD, quote(FAKE_PASSWORD, safe="")])
