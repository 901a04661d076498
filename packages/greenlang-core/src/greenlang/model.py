"""What every stored record shares: strict validation and a safe way to change it."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

__all__ = ["Record"]


def _has_nul(value: Any) -> bool:
    """Whether ``value``, a string or a list, tuple or set of them, holds U+0000.

    Dicts are JSON values, refused with a NUL by ``ensure_json`` at their own
    door, and nested records check themselves, so both are passed over here.
    """
    kind = type(value)
    if kind is str:
        return "\x00" in value
    if kind is list or kind is tuple or kind is set or kind is frozenset:
        try:
            return "\x00" in "".join(value)
        except TypeError:  # not all strings: records, numbers, nested lists
            return any(_has_nul(item) for item in value)
    return isinstance(value, str) and "\x00" in value


class Record(BaseModel):
    """A validated, immutable record.

    Unknown fields are refused, so a typo in a policy file is an error rather
    than a silently ignored key. No string may hold a NUL character: SQLite
    would keep it but PostgreSQL cannot, and a record must be storable in both.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

    @field_validator("*", mode="after")
    @classmethod
    def _refuse_nul(cls, value: Any, info: ValidationInfo) -> Any:
        if _has_nul(value):
            raise ValueError(
                f"{info.field_name} contains a NUL character (U+0000), which stores cannot keep; remove it"
            )
        return value

    def replace(self, **changes: Any) -> Self:
        """Return a copy with ``changes`` applied and validated again."""
        data = self.model_dump()
        data.update(changes)
        return type(self).model_validate(data)

    def __getitem__(self, key: str) -> Any:
        """Dict-style reads, for code written against the seed's dict results."""
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)
