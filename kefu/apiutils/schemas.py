"""Base input schema and id type for API inputs: bad values become 422s naming the field, never 500s."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from ninja import Field, Path, Schema
from pydantic import BeforeValidator, field_validator, model_validator

from kefu.core.dates import api_day, api_moment

# Ids are bigint in the database: a larger number would fail in the query (a 500), so it fails validation.
MAX_ID = 9_223_372_036_854_775_807
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
MAX_VERSION = 2_147_483_647  # versions are PositiveIntegerField
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
# Every date-time an API input carries: read by the one date parser of the API and the web (kefu.core.dates),
# so an out-of-range or unreadable value is a 422 naming the field.
Moment = Annotated[datetime, BeforeValidator(api_moment)]
Day = Annotated[date, BeforeValidator(api_day)]


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


class OptionalBodyIn(InSchema):
    """A request body whose fields are all optional: it must still be a JSON object (an array or a number would
    otherwise pass as "no fields given")."""

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, value: Any) -> Any:
        obj = getattr(value, "_obj", value)  # Ninja hands the parsed body over wrapped
        if isinstance(obj, list | str | int | float | bool):
            raise ValueError("the body must be a JSON object")
        return value
