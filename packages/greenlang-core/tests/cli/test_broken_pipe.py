"""A reader that stops early (`greenlang audit export | head -1`) ends the command quietly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_a_closed_stdout_ends_the_export_without_an_error_line(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    script = (
        "import sys\n"
        "from greenlang.auth.backends.sqlite import SQLiteBackend\n"
        "from greenlang.cli import main\n"
        "with SQLiteBackend(sys.argv[1]) as store:\n"
        "    store.append_audit_events([{'event_type': 'report.read', 'result': 'success'}] * 5000)\n"
        "sys.exit(main(['--db', sys.argv[1], 'audit', 'export']))\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script, str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # the reader goes away, as `head -1` does
    errors = process.stderr.read().decode()
    code = process.wait(60)
    assert first.strip()
    assert errors == ""
    assert code == 1
