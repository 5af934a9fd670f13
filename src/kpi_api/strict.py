"""The base of every request model: unknown fields refused, text trimmed, no NUL characters.

PostgreSQL cannot store NUL in text, so a NUL would otherwise surface as a database error.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, field_validator
from pydantic_core import PydanticCustomError


def has_nul(value: Any) -> bool:
    """Whether text, or any text inside a dict, list or tuple, holds a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


def no_nul(value: Any) -> Any:
    """``value`` unchanged; raises ``PydanticCustomError`` ``string_nul`` (a 422 field error) when
    it holds a NUL."""
    if has_nul(value):
        raise PydanticCustomError("string_nul", "text may not contain NUL characters")
    return value


class StrictModel(BaseModel):
    """A request model: unknown fields refused, text trimmed, NUL refused (``string_nul``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return no_nul(value)


#: For free-text query, path and header parameters (``Annotated[str, Query(...), NoNul]``):
#: PostgreSQL can neither store nor compare text with NUL, so it would fail the query.
NoNul = AfterValidator(no_nul)


def _in_utc(value: datetime) -> datetime:
    """A moment in UTC: one without a zone (or a bare date: its midnight) is read as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise PydanticCustomError(
            "datetime_out_of_range", "the moment lies outside the years 1 to 9999 in UTC"
        ) from None


_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([Tt ].*)?")


def _iso_text(value: Any) -> Any:
    """Only ISO 8601 text: pydantic would read ``20260101`` or ``0`` as a Unix timestamp."""
    if not isinstance(value, str | date) or (isinstance(value, str) and not _ISO.fullmatch(value)):
        raise PydanticCustomError(
            "iso_8601", "use ISO 8601: 2026-01-01 or 2026-01-01T12:00:00+01:00"
        )
    return value


#: A moment from a request, as an aware datetime in UTC (422 when it has no UTC equivalent).
UtcMoment = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_in_utc)]
#: A calendar day from a request, written as ISO 8601 (2026-01-01) and nothing else.
IsoDate = Annotated[date, BeforeValidator(_iso_text)]
