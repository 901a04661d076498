"""What every stored record shares: strict validation and a safe way to change it."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict

__all__ = ["Record"]


class Record(BaseModel):
    """A validated, immutable record.

    Unknown fields are refused, so a typo in a policy file is an error rather
    than a silently ignored key.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)

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
