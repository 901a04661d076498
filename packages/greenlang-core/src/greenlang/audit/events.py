"""Audit events, mirroring the seed's ``audit_logs`` table plus ``sequence``."""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from greenlang.ids import new_uuid
from greenlang.jsonvalue import AuditDetails
from greenlang.model import Record
from greenlang.timeutil import UTCDateTime, utcnow

__all__ = ["AuditEvent", "AuditResult"]


class AuditResult(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"


class AuditEvent(Record):
    """One entry of the trail.

    ``sequence`` and ``provenance_hash`` are assigned by the store when the
    event is appended; a caller leaves them unset.
    """

    log_id: str = Field(default_factory=new_uuid, max_length=64)
    timestamp: UTCDateTime = Field(default_factory=utcnow)
    event_type: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.:\-]+$")
    user_id: str | None = Field(default=None, max_length=255)
    resource: str | None = Field(default=None, max_length=255)
    action: str | None = Field(default=None, max_length=100)
    result: AuditResult
    details: AuditDetails = Field(default_factory=dict)
    ip_address: str | None = Field(default=None, max_length=45)
    user_agent: str | None = Field(default=None, max_length=10_000)
    session_id: str | None = Field(default=None, max_length=255)
    correlation_id: str | None = Field(default=None, max_length=64)
    provenance_hash: str | None = Field(default=None, min_length=64, max_length=64)
    sequence: int | None = Field(default=None, ge=1)

    @field_validator("ip_address")
    @classmethod
    def _check_ip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError(
                f"{value!r} is not an IPv4 or IPv6 address, e.g. '192.168.1.100' or '2001:db8::1'"
            ) from None

    def hashed_fields(self, *, exclude_details: bool = False) -> dict[str, Any]:
        """Every field except the hash itself, in JSON form: what the chain hashes.

        ``exclude_details`` leaves ``details`` out, for a caller that already holds them as canonical JSON.
        """
        exclude = {"provenance_hash", "details"} if exclude_details else {"provenance_hash"}
        return self.model_dump(mode="json", exclude=exclude)
