"""Key versions: an unversioned reference is pinned to the current one; rotation never breaks old signatures."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from conftest import create, pem_of
from greenlang_kms_azure import AzureKeyVaultProvider
from greenlang_kms_azure.testing import LocalKeyVault, TunnelProxy

from greenlang.errors import InputError, KeyUnusableError

PAYLOAD = b"annual disclosure 2026"


def sign_requests(vault: LocalKeyVault) -> list[str]:
    return [path for method, path, _, status in vault.requests if method == "POST" and path.endswith("/sign")]


def test_an_unversioned_reference_resolves_once_and_is_pinned(
    vault: LocalKeyVault, open_key: Callable[..., AzureKeyVaultProvider]
) -> None:
    create(vault, "ecdsa-p256", "pinned")
    version = vault.current_version("pinned")
    signer = open_key("pinned")
    results = [signer.sign(PAYLOAD + bytes([i])) for i in range(3)]
    assert {r.key_ref for r in results} == {f"azurekms://{vault.host}/keys/pinned/{version}"}
    gets = [path for method, path, authorized, _ in vault.requests if method == "GET" and authorized]
    assert len(gets) == 1, gets
    assert all(path.startswith(f"/keys/pinned/{version}/sign") for path in sign_requests(vault))


def test_rotation_old_signatures_verify_against_the_old_version(
    vault: LocalKeyVault,
    open_key: Callable[..., AzureKeyVaultProvider],
    oracle_pem: Callable[..., bytes],
    verifies: Callable[[bytes, str, bytes, bytes], bool],
) -> None:
    create(vault, "rsa-2048", "rotating")
    old_version = vault.current_version("rotating")
    signer = open_key("rotating")
    before = signer.sign(PAYLOAD)
    new_version = vault.rotate("rotating")
    assert new_version != old_version
    assert signer.sign(PAYLOAD).key_ref == before.key_ref  # pinned until the cache period ends
    signer.refresh()
    after = signer.sign(PAYLOAD)
    assert after.key_ref == f"azurekms://{vault.host}/keys/rotating/{new_version}"
    assert after.key_id != before.key_id
    assert verifies(oracle_pem("rotating", old_version), before.algorithm, PAYLOAD, before.signature)
    assert verifies(oracle_pem("rotating", new_version), after.algorithm, PAYLOAD, after.signature)
    assert not verifies(oracle_pem("rotating", new_version), before.algorithm, PAYLOAD, before.signature)
    assert signer.verify(PAYLOAD, before.signature, key_ref=before.key_ref)
    assert not signer.verify(PAYLOAD, before.signature)  # the current version did not make it


def test_a_versioned_reference_stays_on_its_version_after_rotation(
    vault: LocalKeyVault,
    open_key: Callable[..., AzureKeyVaultProvider],
    oracle_pem: Callable[..., bytes],
    verifies: Callable[[bytes, str, bytes, bytes], bool],
) -> None:
    create(vault, "ecdsa-p384", "held")
    version = vault.current_version("held")
    vault.rotate("held")
    signer = open_key(f"held/{version}")
    result = signer.sign(PAYLOAD)
    assert result.key_ref.endswith(f"/keys/held/{version}")
    assert verifies(oracle_pem("held", version), result.algorithm, PAYLOAD, result.signature)


def test_a_disabled_old_version_does_not_stop_the_current_one(
    vault: LocalKeyVault, open_key: Callable[..., AzureKeyVaultProvider]
) -> None:
    create(vault, "ecdsa-p256", "partly-disabled")
    old = vault.current_version("partly-disabled")
    current = vault.rotate("partly-disabled")
    vault.set_enabled("partly-disabled", old, enabled=False)
    assert open_key("partly-disabled").sign(PAYLOAD).key_ref.endswith(current)


def test_verify_refuses_a_key_ref_in_another_vault(
    vault: LocalKeyVault, open_key: Callable[..., AzureKeyVaultProvider], key_name: str
) -> None:
    signer = open_key(key_name)
    result = signer.sign(PAYLOAD)
    with pytest.raises(InputError, match="open a provider for that vault"):
        signer.verify(PAYLOAD, result.signature, key_ref="azurekms://other.vault.azure.net/keys/x/0123abcd")


CLOUD_HOSTS = (
    "greenlang.vault.azure.net",
    "greenlang.vault.azure.cn",
    "greenlang.vault.usgovcloudapi.net",
    "greenlang.managedhsm.azure.net",
)


@pytest.fixture(scope="module")
def cloud_vault() -> Iterator[LocalKeyVault]:
    """A vault that answers for each cloud's host name, reached through a CONNECT proxy."""
    with LocalKeyVault(hostnames=CLOUD_HOSTS) as running:
        running.create_key("signing", "EC", curve="P-384")
        yield running


@pytest.mark.parametrize("host", CLOUD_HOSTS)
def test_sovereign_and_managed_hsm_hosts_are_used_exactly_as_given(
    host: str,
    cloud_vault: LocalKeyVault,
    monkeypatch: pytest.MonkeyPatch,
    verifies: Callable[[bytes, str, bytes, bytes], bool],
) -> None:
    credential = cloud_vault.credential()
    with TunnelProxy(cloud_vault.port) as proxy:
        monkeypatch.delenv("NO_PROXY")
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        # verify_challenge_resource stays on: the challenge must name the host's own cloud domain
        signer = AzureKeyVaultProvider(
            f"azurekms://{host}/keys/signing", credential=credential, connection_verify=cloud_vault.ca_path
        )
        result = signer.sign(PAYLOAD)
        assert set(proxy.hosts) == {f"{host}:443"}
    version = cloud_vault.current_version("signing")
    assert result.key_ref == f"azurekms://{host}/keys/signing/{version}"
    assert {call.scopes for call in credential.calls} == {(f"https://{host.split('.', 1)[1]}/.default",)}
    assert verifies(pem_of(cloud_vault.private_key("signing")), result.algorithm, PAYLOAD, result.signature)


def test_a_challenge_for_another_domain_is_refused_unless_verification_is_off(
    vault: LocalKeyVault, open_key: Callable[..., AzureKeyVaultProvider], key_name: str
) -> None:
    credential = vault.credential()
    with pytest.raises(KeyUnusableError, match="asked for a token for another domain than its own, so none was sent"):
        open_key(key_name, verify_challenge_resource=True, credential=credential).sign(PAYLOAD)
    assert credential.calls == []
    assert open_key(key_name, verify_challenge_resource=False).sign(PAYLOAD).provider == "azure"
