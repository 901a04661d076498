"""The plugin host, through real installed distributions.

The nox session installs ``tests/plugins/greenlang-sample-plugin`` and
``tests/plugins/greenlang-broken-plugin`` into the test venv, so discovery runs
through genuine ``importlib.metadata`` entry points.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from greenlang.auth.backends import open_backend
from greenlang.cli import main
from greenlang.config import Settings
from greenlang.errors import MissingPluginError
from greenlang.hookspecs import register_auth_backends, register_commands, register_kms_providers
from greenlang.plugins import registry, reset_registry

PLUGINS = "packages/greenlang-core/tests/plugins"
INSTALL = f"pip install {PLUGINS}/greenlang-sample-plugin {PLUGINS}/greenlang-broken-plugin"


@pytest.fixture
def fixture_plugins(require: Callable[[bool, str, str], None]) -> None:
    names = {ep.name for ep in metadata.entry_points(group="greenlang")}
    require(
        {"sample", "broken-import", "broken-register", "broken-command"} <= names,
        "the test plugin distributions",
        INSTALL,
    )


def test_builtins_register_through_the_same_hooks() -> None:
    reg = registry()
    assert reg.backend("sqlite").plugin == "greenlang.builtins.sqlite"
    assert reg.kms_provider("file").plugin == "greenlang.builtins.localkeys"
    builtin = {info.name: info for info in reg.plugins() if info.builtin}
    assert builtin["greenlang.builtins.sqlite"].hooks == ("register_auth_backends",)
    assert builtin["greenlang.builtins.localkeys"].hooks == ("register_kms_providers",)


def test_hook_register_auth_backends(fixture_plugins: None) -> None:
    assert register_auth_backends.__doc__
    reg = registry()
    assert reg.backend("sample-memory").plugin == "sample"
    backend = open_backend("sample-memory")
    try:
        assert backend.get_statistics()["permissions_count"] == 0
    finally:
        backend.close()


def test_hook_register_kms_providers(fixture_plugins: None) -> None:
    assert register_kms_providers.__doc__
    registration = registry().kms_provider("sample")
    assert registration.plugin == "sample"
    assert callable(registration.value.open)


def test_hook_register_commands(fixture_plugins: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert register_commands.__doc__
    assert main(["sample-hello"]) == 0
    assert capsys.readouterr().out.strip() == "hello from greenlang-sample-plugin"


def test_broken_plugins_are_reported_with_distribution_and_version(fixture_plugins: None) -> None:
    broken = {item.name: item for item in registry().broken}
    assert broken["broken-import"].distribution == "greenlang-broken-plugin"
    assert broken["broken-import"].version == "0.0.7"
    assert "a_dependency_that_is_not_installed" in broken["broken-import"].error
    assert broken["broken-register"].error == "RuntimeError: backend configuration is incomplete"


def test_a_plugin_that_fails_mid_registration_leaves_nothing_behind(fixture_plugins: None) -> None:
    reg = registry()
    assert "half-registered" not in reg.backends
    assert "broken-register" not in {info.name for info in reg.plugins()}
    assert reg.backend("sqlite")  # the host keeps working


def test_a_plugin_that_fails_to_add_commands_is_reported_and_the_cli_still_works(
    fixture_plugins: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert "broken-command" in {item["name"] for item in listing["broken"]}
    assert "broken-command" not in {item["name"] for item in listing["plugins"]}


def test_plugins_json_lists_name_version_and_hooks(fixture_plugins: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    sample = next(item for item in listing["plugins"] if item["name"] == "sample")
    assert sample == {
        "name": "sample",
        "distribution": "greenlang-sample-plugin",
        "version": "0.3.1",
        "hooks": ["register_auth_backends", "register_commands", "register_kms_providers"],
        "builtin": False,
    }


def test_plugins_text_listing(fixture_plugins: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plugins"]) == 0
    captured = capsys.readouterr()
    assert "sample  (greenlang-sample-plugin 0.3.1)  hooks: register_auth_backends" in captured.out
    assert "broken-import  (greenlang-broken-plugin 0.0.7)  BROKEN: ImportError" in captured.err


def test_allowlist_loads_only_named_plugins(fixture_plugins: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENLANG_PLUGINS", "sample")
    reg = reset_registry()
    assert reg.backend("sample-memory")
    assert reg.broken == []
    assert {info.name for info in reg.plugins() if not info.builtin} == {"sample"}


def test_empty_allowlist_loads_no_plugins_but_keeps_builtins(fixture_plugins: None) -> None:
    reg = reset_registry(Settings(plugins=""))
    assert [info.name for info in reg.plugins() if not info.builtin] == []
    assert reg.broken == []
    assert reg.backend("sqlite")
    with pytest.raises(MissingPluginError):
        reg.backend("sample-memory")


@pytest.mark.parametrize(("scheme", "extra"), [("awskms", "aws"), ("azurekms", "azure"), ("gcpkms", "gcp")])
def test_missing_key_scheme_names_the_extra_to_install(scheme: str, extra: str, only_builtin_plugins: None) -> None:
    with pytest.raises(MissingPluginError) as caught:
        registry().kms_provider(scheme)
    assert f"pip install 'greenlang-core[{extra}]'" in str(caught.value)


def test_missing_backend_names_the_extra_to_install(only_builtin_plugins: None) -> None:
    with pytest.raises(MissingPluginError) as caught:
        open_backend("postgresql")
    assert "pip install 'greenlang-core[pg]'" in str(caught.value)


def test_unknown_backend_without_a_known_extra_lists_what_is_installed() -> None:
    with pytest.raises(MissingPluginError) as caught:
        registry().backend("cassandra")
    message = str(caught.value)
    assert "'cassandra'" in message
    assert "sqlite" in message
    assert "pip install 'greenlang-core[" not in message


def test_cli_reports_a_missing_backend_in_one_line(
    only_builtin_plugins: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--backend", "postgresql", "init"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "pip install 'greenlang-core[pg]'" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("plugin", "table", "name"), [("hijack-store", "backends", "sqlite"), ("hijack-keys", "kms_providers", "file")]
)
def test_a_plugin_cannot_take_over_a_builtin_name(fixture_plugins: None, plugin: str, table: str, name: str) -> None:
    reg = registry()
    assert getattr(reg, table)[name].plugin.startswith("greenlang.builtins.")
    broken = {item.name: item.error for item in reg.broken}
    assert broken[plugin] == f"ValueError: {name!r} is already registered by " + getattr(reg, table)[name].plugin


def test_a_plugin_cannot_replace_a_builtin_command(fixture_plugins: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "mallory", "read", "audit:acme"]) == 1
    assert capsys.readouterr().out.startswith("DENY")
    broken = {item.name: item.error for item in registry().broken}
    assert broken["hijack-command"] == "ValueError: tried to replace the command 'check'; choose another name"


def test_a_misspelled_hook_is_reported_not_silently_accepted(fixture_plugins: None) -> None:
    reg = registry()
    broken = {item.name: item.error for item in reg.broken}
    assert broken["misspelled"] == "ValueError: implements unknown hook 'register_auth_backendz'; check the name"
    assert "misspelled" not in {info.name for info in reg.plugins()}


def test_a_plugin_key_provider_never_receives_the_local_key_passphrase(
    fixture_plugins: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GREENLANG_KEY_PASSPHRASE", "do-not-share")
    seen: list[dict[str, object]] = []
    provider = registry().kms_provider("sample").value
    real_open = provider.open

    def recording_open(uri: str, **options: object) -> object:
        seen.append(options)
        return real_open(uri, **options)

    monkeypatch.setattr(provider, "open", recording_open)
    key = tmp_path / "k.pem"
    assert main(["keys", "create", "--out", str(key)]) == 0
    artifact = tmp_path / "a.txt"
    artifact.write_text("x")
    assert main(["sign", str(artifact), "--key", f"sample://{key}"]) == 0
    assert seen == [{}]
