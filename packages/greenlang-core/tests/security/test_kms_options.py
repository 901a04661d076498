"""Every KMSProvider option of the wrong type, and any unknown option, is refused by name before anything runs."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from inprocess_kms import InProcessProvider

from greenlang.errors import InputError
from greenlang.security.kms import RetryPolicy
from greenlang.security.kms.uris import AzureKeyUri, kms_key_uri


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_retries": "3"}, "max_retries must be a whole number"),
        ({"max_retries": 2.5}, "max_retries must be a whole number"),
        ({"max_retries": True}, "max_retries must be a whole number"),
        ({"retry": "x"}, "retry must be a RetryPolicy, not str"),
        ({"breaker": 3}, "breaker must be a CircuitBreaker, not int"),
        ({"check_signatures": "no"}, "check_signatures must be True or False"),
        ({"clock": "now"}, "clock must be a function returning the time"),
        ({"timer": None}, "timer must be a function returning the time"),
        ({"logging_enable": True}, "InProcessProvider has no option 'logging_enable'"),
    ],
)
def test_bad_options_are_refused_by_name(
    options: dict[str, object], message: str, key: ec.EllipticCurvePrivateKey
) -> None:
    with pytest.raises(InputError, match=message):
        InProcessProvider(key, **options)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_attempts": "4"}, "max_attempts must be a whole number"),
        ({"max_attempts": 2.0}, "max_attempts must be a whole number"),
        ({"deadline_seconds": "30"}, "deadline_seconds must be a number of seconds"),
        ({"read_timeout": True}, "read_timeout must be a number of seconds"),
    ],
)
def test_a_retry_policy_of_the_wrong_types_is_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        RetryPolicy(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("host", "accepted"),
    [
        ("v.vault.azure.net:443", True),
        ("v.vault.azure.net:65535", True),
        ("v.vault.azure.net:0", False),
        ("v.vault.azure.net:65536", False),
        ("v.vault.azure.net:x", False),
        ("a." * 130 + "net", False),
    ],
)
def test_vault_ports_and_host_lengths_are_checked(host: str, accepted: bool) -> None:
    if accepted:
        assert AzureKeyUri(host, "k").vault_host == host
    else:
        with pytest.raises(InputError, match="port in 1-65535"):
            AzureKeyUri(host, "k")


def test_a_key_url_with_port_443_matches_the_same_vault_url() -> None:
    uri = kms_key_uri("azure", "https://v.vault.azure.net:443/keys/k", vault_url="https://v.vault.azure.net")
    assert uri == "azurekms://v.vault.azure.net:443/keys/k"


def test_an_unclosed_ipv6_bracket_is_an_input_error() -> None:
    with pytest.raises(InputError, match="is not a valid URL"):
        AzureKeyUri.parse("azurekms://[::1/keys/k")
