"""Opaque cursors for keyset pagination."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from kpi_api.errors import KpiApiError

LimitQuery = Annotated[int, Query(ge=1, le=500, description="Items per page (1-500).")]
CursorQuery = Annotated[
    str | None,
    Query(max_length=500, description="The `next` value of the previous page."),
]


def encode_cursor(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Any:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise KpiApiError(
            "The cursor is not one this API gave out.", code="invalid_cursor"
        ) from exc


T = TypeVar("T")


class Items(BaseModel, Generic[T]):
    """A complete (unpaginated) list."""

    items: list[T]
