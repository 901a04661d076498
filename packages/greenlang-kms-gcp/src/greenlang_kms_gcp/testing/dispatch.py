"""One path for every call, gRPC or REST: latency, injected faults, the service, and the call log.

Tests count attempts from the log, so a call is logged as it arrives, with ``code`` None while it runs (a
client may have given up on it already), then replaced by its final entry. A `reset` while calls are in
flight keeps them out of the fresh log.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

from greenlang_kms_gcp.testing.faults import Faults
from greenlang_kms_gcp.testing.service import RPCS, KeyManagementService
from greenlang_kms_gcp.testing.status import ServiceError

__all__ = ["Call", "Dispatcher"]


@dataclasses.dataclass(frozen=True)
class Call:
    """One call: RPC ``method``, the resource ``name`` it named, the gRPC status ``code`` (None while in flight).

    ``transport`` is ``"grpc"`` or ``"rest"``; ``at`` is the arrival time (``time.monotonic()``).
    """

    method: str
    name: str
    code: str | None
    transport: str
    at: float


class Dispatcher:
    """Runs calls against a `KeyManagementService` with the `Faults` applied, and logs them."""

    def __init__(self, service: KeyManagementService, faults: Faults) -> None:
        self.service = service
        self.faults = faults
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._log: list[Call] = []
        self._generation = 0

    def invoke(self, method: str, request: Any, transport: str) -> Any:
        """The response to ``request``; raises ServiceError with the status the client should get."""
        rpc = RPCS.get(method)
        name = rpc.resource_of(request) if rpc is not None and request is not None else ""
        arrival = Call(method, name, None, transport, time.monotonic())
        with self._lock:
            slot = (self._generation, len(self._log))
            self._log.append(arrival)
        try:
            response = self._answer(method, request)
        except ServiceError as error:
            self._settle(slot, arrival, error.code)
            raise
        except Exception as error:  # a bug here must still reach the client as a status, as a server's would
            self._settle(slot, arrival, "INTERNAL")
            raise ServiceError("INTERNAL", f"The local Cloud KMS failed: {type(error).__name__}.") from error
        self._settle(slot, arrival, "OK")
        return response

    def reject(self, method: str, name: str, error: ServiceError, transport: str) -> None:
        """Log a call refused before it reached the service, such as a REST body that is not valid JSON."""
        with self._lock:
            self._log.append(Call(method, name, error.code, transport, time.monotonic()))

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()
            self._generation += 1

    def _answer(self, method: str, request: Any) -> Any:
        latency = self.faults.latency
        if latency > 0 and self.stopping.wait(latency):
            raise ServiceError("UNAVAILABLE", "The local Cloud KMS is shutting down.")
        error = self.faults.take_error(method)
        if error is not None:
            raise error
        handler = self.service.handlers.get(method)
        if handler is None:
            raise ServiceError("UNIMPLEMENTED", f"Method {method} is not implemented by the local Cloud KMS.")
        response = handler(request)
        self.faults.corrupt(method, response)
        return response

    def _settle(self, slot: tuple[int, int], arrival: Call, code: str) -> None:
        generation, index = slot
        with self._lock:
            if generation == self._generation:
                self._log[index] = dataclasses.replace(arrival, code=code)
