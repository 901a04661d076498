"""The README's main job, run as a user would: every step must agree with its expected result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "examples" / "emissions-platform" / "run_main_job.py"


def test_main_job_runs_end_to_end(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--workdir", str(tmp_path / "job")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("main job OK")
    assert "240 checks" in result.stdout
    assert "240/240 match expectations" in result.stdout
    assert "re-apply: no changes" in result.stdout
    assert "audit chain intact" in result.stdout
    assert "a tampered copy is rejected" in result.stdout
    signed = list((tmp_path / "job" / "dist").glob("greenlang_core-*.whl.dsse.json"))
    assert len(signed) == 1


def test_expected_decisions_are_reproducible_from_the_generator(tmp_path: Path) -> None:
    """requests.jsonl must be exactly what the independent oracle produces."""
    folder = REPO / "examples" / "emissions-platform"
    copy = tmp_path / "generate_requests.py"
    copy.write_text((folder / "generate_requests.py").read_text())
    subprocess.run([sys.executable, str(copy)], check=True, capture_output=True, cwd=tmp_path)
    assert (tmp_path / "requests.jsonl").read_text() == (folder / "requests.jsonl").read_text()
