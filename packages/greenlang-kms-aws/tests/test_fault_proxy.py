"""FaultProxy makes real KMS calls throttle, fail and stall; botocore's standard retry mode reacts as to AWS."""

from __future__ import annotations

import hashlib
import http.client
import json
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from greenlang_kms_aws.testing import AwsKmsTestServer, FaultProxy, ProxiedCall

PAYLOAD = b"greenlang emissions record via the fault proxy"
DIGEST = hashlib.sha256(PAYLOAD).digest()


def client(proxy: FaultProxy, *, attempts: int = 1, read_timeout: float = 10.0) -> Any:
    """A real boto3 KMS client aimed at the proxy, with botocore's standard retry mode and dummy credentials."""
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    config = Config(retries={"total_max_attempts": attempts, "mode": "standard"}, read_timeout=read_timeout)
    return session.client("kms", endpoint_url=proxy.endpoint_url, config=config)


def sign(kms: Any, key_arn: str) -> bytes:
    response = kms.sign(KeyId=key_arn, Message=DIGEST, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
    signature: bytes = response["Signature"]
    return signature


def error_code(info: pytest.ExceptionInfo[ClientError]) -> str:
    code: str = info.value.response["Error"]["Code"]
    return code


def test_unfaulted_sign_is_relayed_intact(server: AwsKmsTestServer, proxy: FaultProxy, key_arn: str) -> None:
    signature = sign(client(proxy), key_arn)

    public_key = server.private_key(key_arn).public_key()
    public_key.verify(signature, DIGEST, ec.ECDSA(Prehashed(hashes.SHA256())))
    public_key.verify(signature, PAYLOAD, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(InvalidSignature):
        public_key.verify(signature, PAYLOAD + b"!", ec.ECDSA(hashes.SHA256()))
    assert [(call.operation, call.status, call.forwarded) for call in proxy.log] == [("Sign", 200, True)]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "ThrottlingException"),
        (500, "InternalFailure"),
        (500, "KMSInternalException"),
        (503, "ServiceUnavailable"),
    ],
)
def test_standard_mode_retries_through_transient_faults(
    server: AwsKmsTestServer, proxy: FaultProxy, key_arn: str, status: int, code: str
) -> None:
    proxy.fail("Sign", status=status, code=code, times=2)

    signature = sign(client(proxy, attempts=3), key_arn)

    server.private_key(key_arn).public_key().verify(signature, PAYLOAD, ec.ECDSA(hashes.SHA256()))
    assert proxy.count("Sign") == 3
    assert [(call.status, call.forwarded) for call in proxy.log] == [(status, False), (status, False), (200, True)]


def test_standard_mode_gives_up_after_total_max_attempts(proxy: FaultProxy, key_arn: str) -> None:
    proxy.fail("Sign", status=400, code="ThrottlingException", message="Rate exceeded", times=3)
    kms = client(proxy, attempts=3)

    with pytest.raises(ClientError) as raised:
        sign(kms, key_arn)

    assert error_code(raised) == "ThrottlingException"
    assert raised.value.response["Error"]["Message"] == "Rate exceeded"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert proxy.count("Sign") == 3
    sign(kms, key_arn)  # all three faults were spent, so the next request is forwarded
    assert proxy.count("Sign") == 4
    assert [call.forwarded for call in proxy.log] == [False, False, False, True]


def test_non_retryable_error_is_tried_once(proxy: FaultProxy, key_arn: str) -> None:
    proxy.fail("Sign", status=400, code="AccessDeniedException", message="not allowed", times=3)

    with pytest.raises(ClientError) as raised:
        sign(client(proxy, attempts=3), key_arn)

    assert error_code(raised) == "AccessDeniedException"
    assert proxy.count("Sign") == 1


def test_faults_match_their_operation_and_queue_in_order(proxy: FaultProxy, key_arn: str) -> None:
    kms = client(proxy)
    proxy.fail("GetPublicKey", status=400, code="AccessDeniedException")
    proxy.fail("Sign", status=400, code="DisabledException")
    proxy.fail("Sign", status=400, code="KMSInvalidStateException")

    codes = []
    for _ in range(2):
        with pytest.raises(ClientError) as raised:
            sign(kms, key_arn)
        codes.append(error_code(raised))
    sign(kms, key_arn)

    assert codes == ["DisabledException", "KMSInvalidStateException"]
    with pytest.raises(ClientError) as raised:
        kms.get_public_key(KeyId=key_arn)
    assert error_code(raised) == "AccessDeniedException"
    assert (proxy.count("Sign"), proxy.count("GetPublicKey"), proxy.count("*")) == (3, 1, 4)


def test_wildcard_fault_hits_any_operation(proxy: FaultProxy, key_arn: str) -> None:
    proxy.fail("*", status=503, code="ServiceUnavailable")

    response = client(proxy, attempts=2).get_public_key(KeyId=key_arn)

    assert response["KeyId"] == key_arn
    assert [(call.operation, call.status) for call in proxy.log] == [("GetPublicKey", 503), ("GetPublicKey", 200)]


def test_stall_longer_than_read_timeout_times_out(proxy: FaultProxy, key_arn: str) -> None:
    proxy.stall("Sign", 2.0)

    with pytest.raises(ReadTimeoutError):
        sign(client(proxy, read_timeout=0.5), key_arn)

    assert proxy.count("Sign") == 1
    deadline = time.monotonic() + 10
    while not proxy.log and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proxy.log == [ProxiedCall("Sign", 200, proxy.log[0].at, True)]  # forwarded after the client hung up
    sign(client(proxy, read_timeout=0.5), key_arn)  # the stall was spent and the proxy still serves
    assert proxy.count("Sign") == 2


def test_latency_delays_every_call(proxy: FaultProxy, key_arn: str) -> None:
    kms = client(proxy)
    kms.get_public_key(KeyId=key_arn)  # connect first, so only the proxy's delay is measured
    proxy.latency = 0.4

    started = time.monotonic()
    sign(kms, key_arn)
    elapsed = time.monotonic() - started

    assert elapsed >= 0.4


def test_log_records_calls_in_order_and_reset_clears_everything(proxy: FaultProxy, key_arn: str) -> None:
    kms = client(proxy)
    sign(kms, key_arn)
    proxy.fail("GetPublicKey", status=400, code="AccessDeniedException")
    with pytest.raises(ClientError):
        kms.get_public_key(KeyId=key_arn)
    kms.get_public_key(KeyId=key_arn)

    assert [(call.operation, call.status, call.forwarded) for call in proxy.log] == [
        ("Sign", 200, True),
        ("GetPublicKey", 400, False),
        ("GetPublicKey", 200, True),
    ]
    times = [call.at for call in proxy.log]
    assert times == sorted(times)

    proxy.fail("Sign", status=400, code="ThrottlingException")
    proxy.stall("*", 5.0)
    proxy.latency = 1.0
    proxy.reset()

    assert (proxy.log, proxy.count("Sign"), proxy.count("*"), proxy.latency) == ([], 0, 0, 0.0)
    started = time.monotonic()
    sign(client(proxy, read_timeout=3.0), key_arn)  # neither the failure, the stall nor the latency is left
    assert time.monotonic() - started < 3.0
    assert [(call.operation, call.status) for call in proxy.log] == [("Sign", 200)]


def test_keep_alive_connection_serves_faulted_and_forwarded_requests(proxy: FaultProxy, key_arn: str) -> None:
    proxy.fail("DescribeKey", status=400, code="ThrottlingException", message="slow down")
    connection = http.client.HTTPConnection(proxy.endpoint_url.removeprefix("http://"), timeout=10)
    headers = {
        "X-Amz-Target": "TrentService.DescribeKey",
        "Content-Type": "application/x-amz-json-1.1",
        # moto picks the service from the credential scope; it checks no signature
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/kms/aws4_request, Signature=0",
    }
    body = json.dumps({"KeyId": key_arn})
    answers = []
    local_ports = []
    try:
        for _ in range(2):
            connection.request("POST", "/", body=body, headers=headers)
            local_ports.append(connection.sock.getsockname()[1])
            response = connection.getresponse()
            answers.append((response.status, dict(response.getheaders()), json.loads(response.read())))
    finally:
        connection.close()

    (status, headers_1, body_1), (status_2, _, body_2) = answers
    assert (status, headers_1["x-amzn-ErrorType"], headers_1["Content-Type"]) == (
        400,
        "ThrottlingException",
        "application/x-amz-json-1.1",
    )
    assert headers_1["x-amzn-RequestId"]
    assert body_1 == {"__type": "ThrottlingException", "message": "slow down"}
    assert (status_2, body_2["KeyMetadata"]["Arn"]) == (200, key_arn)
    assert local_ports[0] == local_ports[1]  # one TCP connection carried both


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda proxy: proxy.fail("Sign", times=0), "times"),
        (lambda proxy: proxy.fail("Sign", status=200), "status"),
        (lambda proxy: proxy.stall("Sign", -1.0), "seconds"),
        (lambda proxy: proxy.stall("", 1.0), "operation"),
    ],
)
def test_bad_fault_arguments_name_the_field(proxy: FaultProxy, call: Any, field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field} "):
        call(proxy)


def test_upstream_must_be_an_http_url() -> None:
    with pytest.raises(ValueError, match="^upstream "):
        FaultProxy("127.0.0.1:5000")
