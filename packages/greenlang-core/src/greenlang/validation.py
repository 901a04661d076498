"""Turn pydantic's validation errors into one sentence that names the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from greenlang.errors import InputError

__all__ = ["describe", "parse"]

M = TypeVar("M", bound=BaseModel)


def describe(exc: ValidationError, what: str | None = None) -> str:
    """``<what>.<field>: <problem>`` for the first error, plus a count of the rest."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    location = ".".join(str(part) for part in first["loc"])
    subject = ".".join(part for part in (what or exc.title.lower(), location) if part)
    message = str(first["msg"]).removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{subject}: {message}{more}"


def parse(model: type[M], data: M | Mapping[str, Any], what: str | None = None) -> M:
    """Validate ``data`` as ``model``; an ``InputError`` names the bad field."""
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InputError(describe(exc, what)) from None
