"""Base input schema and id type for API inputs: bad values become 422s naming the field, never 500s."""

from __future__ import annotations

from typing import Annotated, Any

from ninja import Field, Path, Schema
from pydantic import field_validator

# Ids are bigint in the database: a larger number would fail in the query (a 500), so it fails validation.
MAX_ID = 9_223_372_036_854_775_807
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
MAX_VERSION = 2_147_483_647  # versions are PositiveIntegerField
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


class InSchema(Schema):
    """Every request body and query schema: rejects NUL characters (PostgreSQL cannot store them)."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if _has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value
