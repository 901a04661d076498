"""The errors the local server answers with, as gRPC status codes and their HTTP equivalents for REST.

Google's REST front end turns a status code into an HTTP status by the table in ``google/rpc/code.proto``
and puts the code's name in the JSON error body; the Python client picks its exception class by HTTP status.
"""

from __future__ import annotations

import grpc

__all__ = ["HTTP_STATUS", "ServiceError", "status_code"]

HTTP_STATUS: dict[str, int] = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "UNAUTHENTICATED": 401,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
}


def status_code(name: str) -> grpc.StatusCode:
    """The ``grpc.StatusCode`` called ``name`` (e.g. ``"UNAVAILABLE"``); OK is not an error code."""
    if name == "OK" or name not in HTTP_STATUS:
        errors = ", ".join(code for code in HTTP_STATUS if code != "OK")
        raise ValueError(f"{name!r} is not a gRPC error code; use one of {errors}.")
    code: grpc.StatusCode = getattr(grpc.StatusCode, name)
    return code


class ServiceError(Exception):
    """A call's failure: ``code`` is the gRPC status name, ``message`` what Cloud KMS would say."""

    def __init__(self, code: str, message: str) -> None:
        status_code(code)
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]
