"""Opaque cursors for keyset pagination."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from kpi_api.errors import KpiApiError

LimitQuery = Annotated[int, Query(ge=1, le=500, description="Items per page (1-500).")]
CursorQuery = Annotated[
    str | None,
    Query(max_length=500, description="The `next` value of the previous page."),
]


V = TypeVar("V", str, int)


def encode_cursor(kind: str, value: str | int) -> str:
    """An opaque cursor for list ``kind`` that resumes after ``value``."""
    raw = json.dumps([kind, value], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: str, value_type: type[V]) -> V | None:
    """The value a cursor of list ``kind`` resumes after; refuse any other cursor."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        decoded = None
    if (
        not isinstance(decoded, list)
        or len(decoded) != 2
        or decoded[0] != kind
        or type(decoded[1]) is not value_type
    ):
        raise KpiApiError("The cursor is not one this list gave out.", code="invalid_cursor")
    return decoded[1]


T = TypeVar("T")
R = TypeVar("R")


def page(
    rows: Sequence[R], limit: int, kind: str, key: Callable[[R], str | int]
) -> tuple[list[R], str | None]:
    """Cut ``limit + 1`` fetched rows to a page and the cursor of the next one (None: last)."""
    items = list(rows[:limit])
    return items, encode_cursor(kind, key(items[-1])) if len(rows) > limit else None


class Items(BaseModel, Generic[T]):
    """A complete (unpaginated) list."""

    items: list[T]
