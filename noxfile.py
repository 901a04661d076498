"""Development sessions. Plain ``nox`` runs every session except ``bench``."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = False
nox.options.error_on_missing_interpreters = True

ROOT = Path(__file__).parent
CORE = "packages/greenlang-core"
PG = "packages/greenlang-pg"
KMS_AWS = "packages/greenlang-kms-aws"
KMS_AZURE = "packages/greenlang-kms-azure"
KMS_GCP = "packages/greenlang-kms-gcp"
TEST_PLUGINS = [f"{CORE}/tests/plugins/greenlang-sample-plugin", f"{CORE}/tests/plugins/greenlang-broken-plugin"]
TEST_REQUIREMENTS = ["pytest>=8", "hypothesis>=6.100"]
PYTHON = "3.11"


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on greenlang-core."""
    session.install(
        "-e",
        CORE,
        "-e",
        f"{PG}[test]",
        "-e",
        f"{KMS_AWS}[test]",
        "-e",
        f"{KMS_AZURE}[test]",
        "-e",
        f"{KMS_GCP}[test]",
        "mypy>=1.11",
        "types-PyYAML",
        "types-cachetools",
        "types-requests",
    )
    session.run("mypy", "--strict", f"{CORE}/src")
    session.run("mypy", "--config-file", f"{PG}/pyproject.toml", f"{PG}/src")
    session.run("mypy", "--config-file", f"{KMS_AWS}/pyproject.toml", f"{KMS_AWS}/src")
    session.run("mypy", "--config-file", f"{KMS_AZURE}/pyproject.toml", f"{KMS_AZURE}/src")
    session.run("mypy", "--config-file", f"{KMS_GCP}/pyproject.toml", f"{KMS_GCP}/src")


@nox.session(name="tests-core", python=PYTHON)
def tests_core(session: nox.Session) -> None:
    """greenlang-core's tests and the repository's cross-package tests."""
    session.install("-e", CORE, *TEST_REQUIREMENTS)
    session.install("--no-deps", *TEST_PLUGINS)
    session.run("pytest", f"{CORE}/tests", "tests", *session.posargs)


@nox.session(name="tests-pg", python=PYTHON)
def tests_pg(session: nox.Session) -> None:
    """greenlang-pg against a real PostgreSQL that the tests start (pgserver), or GREENLANG_TEST_PG_DSN."""
    session.install("-e", CORE, "-e", f"{PG}[test]", *TEST_REQUIREMENTS)
    session.run("pytest", f"{PG}/tests", *session.posargs, env={"PYTHONFAULTHANDLER": "1"})


@nox.session(name="tests-kms-aws", python=PYTHON)
def tests_kms_aws(session: nox.Session) -> None:
    """greenlang-kms-aws against moto's AWS KMS server, corrected in the fixture to behave as AWS documents."""
    session.install("-e", CORE, "-e", f"{KMS_AWS}[test]", *TEST_REQUIREMENTS)
    session.run("pytest", f"{KMS_AWS}/tests", *session.posargs)


@nox.session(name="tests-kms-azure", python=PYTHON)
def tests_kms_azure(session: nox.Session) -> None:
    """greenlang-kms-azure through the real SDK clients against a local HTTPS Key Vault that the tests start."""
    session.install("-e", CORE, "-e", f"{KMS_AZURE}[test]", *TEST_REQUIREMENTS)
    session.run("pytest", f"{KMS_AZURE}/tests", *session.posargs)


@nox.session(name="tests-kms-gcp", python=PYTHON)
def tests_kms_gcp(session: nox.Session) -> None:
    """greenlang-kms-gcp through the real client, over gRPC and REST, against a local Cloud KMS in the test process."""
    session.install("-e", CORE, "-e", f"{KMS_GCP}[test]", *TEST_REQUIREMENTS)
    session.run("pytest", f"{KMS_GCP}/tests", *session.posargs)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site with warnings as errors."""
    tools = ["mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26"]
    session.install(
        "-e", CORE, "-e", PG, "-e", f"{KMS_AWS}[test]", "-e", f"{KMS_AZURE}[test]", "-e", f"{KMS_GCP}[test]", *tools
    )
    session.run("mkdocs", "build", "--strict", "--site-dir", str(ROOT / "site"))


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks with ratios against baselines measured in the same run (not in the default run)."""
    session.install(
        "-e", CORE, "-e", f"{PG}[test]", "-e", f"{KMS_AWS}[test]", "-e", f"{KMS_AZURE}[test]", "-e", f"{KMS_GCP}[test]"
    )
    session.run("python", "bench/core.py", *session.posargs)
    session.run("python", "bench/canonical_json.py", *session.posargs)
    session.run("python", "bench/pg.py", *session.posargs)
    session.run("python", "bench/kms_batch.py", *session.posargs)
    session.run("python", "bench/kms_azure_batch.py", *session.posargs)
    session.run("python", "bench/kms_gcp_batch.py", *session.posargs)
    session.install("pycasbin", "cedarpy")
    session.run("python", "bench/authz.py", *session.posargs)
    session.run("python", "bench/authz_load.py", *session.posargs)
