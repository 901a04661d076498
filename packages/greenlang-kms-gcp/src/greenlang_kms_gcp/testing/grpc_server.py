"""The gRPC front end: ``google.cloud.kms.v1.KeyManagementService`` on 127.0.0.1, plaintext.

google-cloud-kms ships no servicer classes, so the methods are registered by name with the client
library's own proto-plus types as (de)serializers: the bytes on the wire are exactly what the real client
sends and expects. Other methods of the service are answered UNIMPLEMENTED, and logged like any call.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc

from greenlang_kms_gcp.testing.dispatch import Dispatcher
from greenlang_kms_gcp.testing.service import RPCS
from greenlang_kms_gcp.testing.status import ServiceError, status_code

__all__ = ["SERVICE_NAME", "GrpcFrontEnd"]

SERVICE_NAME = "google.cloud.kms.v1.KeyManagementService"
_WORKERS = 16


def _handler(dispatcher: Dispatcher, method: str) -> Callable[[Any, Any], Any]:
    def handle(request: Any, context: Any) -> Any:
        try:
            return dispatcher.invoke(method, request, "grpc")
        except ServiceError as error:
            context.abort(status_code(error.code), error.message)
            raise  # abort raises; this line only keeps the type checker honest

    return handle


class _OtherMethods(grpc.GenericRpcHandler):  # type: ignore[misc]  # grpc ships no type hints
    """Accepts any other method of the service, without decoding it, so it can be logged and refused."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher

    def service(self, handler_call_details: Any) -> Any:
        service_name, _, method = str(handler_call_details.method).lstrip("/").rpartition("/")
        if service_name != SERVICE_NAME:
            return None
        return grpc.unary_unary_rpc_method_handler(_handler(self._dispatcher, method))


class GrpcFrontEnd:
    """A ``grpc.server`` bound to an ephemeral port on 127.0.0.1."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher
        self._server: Any = None
        self._executor: futures.ThreadPoolExecutor | None = None
        self.port = 0

    def start(self) -> int:
        implemented = {
            rpc.name: grpc.unary_unary_rpc_method_handler(
                _handler(self._dispatcher, rpc.name),
                request_deserializer=rpc.request.deserialize,
                response_serializer=rpc.response.serialize,
            )
            for rpc in RPCS.values()
        }
        self._executor = futures.ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="LocalCloudKms-grpc")
        self._server = grpc.server(
            self._executor,
            handlers=[
                grpc.method_handlers_generic_handler(SERVICE_NAME, implemented),
                _OtherMethods(self._dispatcher),
            ],
            options=[("grpc.so_reuseport", 0)],
        )
        self.port = int(self._server.add_insecure_port("127.0.0.1:0"))
        if self.port == 0:
            raise RuntimeError("Could not bind the gRPC server to 127.0.0.1.")
        self._server.start()
        return self.port

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait()
            self._server = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
