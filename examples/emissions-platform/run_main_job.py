"""The main job, end to end on the embedded default (SQLite and a local key).

1. create the store;            5. build the greenlang-core wheel;
2. apply the policy (twice);    6. sign it with a freshly created local key;
3. run the request batch;       7. verify the signature (and that a tampered
4. verify the audit chain;         copy fails).

Exits non-zero if any step disagrees with what it should give.
Usage: python examples/emissions-platform/run_main_job.py [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CORE = REPO / "packages" / "greenlang-core"


class StepFailed(Exception):
    pass


def greenlang(*args: str, db: Path, expect: int = 0, stdout: Path | None = None) -> str:
    """Run the real CLI in a subprocess; return what it printed."""
    command = [sys.executable, "-m", "greenlang", "--db", str(db), *args]
    if stdout is None:
        result = subprocess.run(command, capture_output=True, text=True)
    else:
        with stdout.open("w", encoding="utf-8") as sink:
            result = subprocess.run(command, stdout=sink, stderr=subprocess.PIPE, text=True)
    if result.returncode != expect:
        raise StepFailed(
            f"`greenlang {' '.join(args)}` exited {result.returncode}, expected {expect}\n{result.stderr.strip()}"
        )
    return (result.stdout or "") + result.stderr


def step(number: int, title: str) -> None:
    print(f"[{number}/7] {title}", flush=True)


def run(workdir: Path) -> None:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    db = workdir / "greenlang.db"

    step(1, "create the store")
    print("      " + greenlang("init", db=db).strip())

    step(2, "apply the policy")
    first = greenlang("policy", "apply", str(HERE / "policy.yaml"), "--actor", "platform-team", db=db)
    print("\n".join("      " + line for line in first.strip().splitlines()))
    second = greenlang("policy", "apply", str(HERE / "policy.yaml"), db=db).strip()
    if second != "no changes":
        raise StepFailed(f"re-applying the same policy should print 'no changes', got:\n{second}")
    print("      re-apply: no changes")

    step(3, "run the request batch and compare with the expected decisions")
    decisions = workdir / "decisions.jsonl"
    summary = greenlang("check", "--batch", str(HERE / "requests.jsonl"), db=db, stdout=decisions)
    rows = [json.loads(line) for line in decisions.read_text().splitlines()]
    expected = [json.loads(line) for line in (HERE / "requests.jsonl").read_text().splitlines()]
    if len(rows) != len(expected) or not all(row.get("match") for row in rows):
        raise StepFailed(f"decisions differ from requests.jsonl: {summary.strip()}")
    print(f"      {summary.strip()}")

    step(4, "verify the audit chain")
    print("      " + greenlang("audit", "verify", db=db).strip().replace("\n", "\n      "))

    step(5, "build the greenlang-core wheel")
    dist = workdir / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(dist), str(CORE)],
        capture_output=True,
        text=True,
    )
    if build.returncode != 0:
        raise StepFailed(f"building the wheel failed:\n{build.stderr.strip()}")
    wheels = sorted(dist.glob("greenlang_core-*.whl"))
    if len(wheels) != 1:
        raise StepFailed(f"expected one greenlang-core wheel in {dist}, found {len(wheels)}")
    wheel = wheels[0]
    print(f"      {wheel.name} ({wheel.stat().st_size:,} bytes)")

    step(6, "sign the wheel with a fresh local key")
    key = workdir / "release-key.pem"
    print(
        "      "
        + greenlang("keys", "create", "--type", "ecdsa-p256", "--out", str(key), db=db)
        .strip()
        .replace("\n", "\n      ")
    )
    print("      " + greenlang("sign", str(wheel), "--key", key.as_uri(), db=db).strip().replace("\n", "\n      "))

    step(7, "verify the signature offline")
    public = key.with_name("release-key.pub.pem")
    envelope = wheel.with_name(wheel.name + ".dsse.json")
    print("      " + greenlang("verify", str(wheel), "--signature", str(envelope), "--key", str(public), db=db).strip())
    tampered = workdir / "tampered.whl"
    tampered.write_bytes(wheel.read_bytes() + b"\0")
    greenlang("verify", str(tampered), "--signature", str(envelope), "--key", str(public), db=db, expect=1)
    print("      a tampered copy is rejected, as it should be")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=HERE / "out", help="where the store, wheel and key go")
    args = parser.parse_args()
    try:
        run(args.workdir.resolve())
    except StepFailed as exc:
        print(f"MAIN JOB FAILED: {exc}", file=sys.stderr)
        return 1
    print("main job OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
