"""Opaque cursors for keyset pagination.

A cursor is the list's name and the key to resume after, as base64url JSON, signed with an
HMAC-SHA256 (truncated to 128 bits) under the server's secret (``KPI_API_SECRET_KEY``; without
one, a random key per process: ``kpi-api serve`` gives all its workers one). A cursor that was
not given out by this service, or holds a value outside its list's domain, is 400
``invalid_cursor``, before any query.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Sequence
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from kpi_api.errors import KpiApiError
from kpi_api.messages import Message

INVALID_CURSOR = Message(
    "invalid_cursor",
    "The cursor is not one this list gave out.",
    "Deze cursor is niet door deze lijst uitgegeven.",
)

LimitQuery = Annotated[int, Query(ge=1, le=500, description="Items per page (1-500).")]
CursorQuery = Annotated[
    str | None,
    Query(max_length=500, description="The `next` value of the previous page."),
]


V = TypeVar("V", str, int)

_key = secrets.token_bytes(32)
BIGINT = 2**63 - 1


def configure(secret: str | None) -> None:
    """Sign cursors with ``secret`` (the same on every worker and instance); None keeps the
    process's random key."""
    global _key
    if secret:
        _key = hashlib.sha256(secret.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


def _signature(payload: str) -> str:
    return _b64(hmac.new(_key, payload.encode("ascii"), hashlib.sha256).digest()[:16])


def encode_cursor(kind: str, value: str | int) -> str:
    """An opaque, signed cursor for list ``kind`` that resumes after ``value``."""
    payload = _b64(json.dumps([kind, value], separators=(",", ":")).encode())
    return f"{payload}.{_signature(payload)}"


def _in_domain(value: object, value_type: type) -> bool:
    if type(value) is not value_type:
        return False
    if isinstance(value, int):
        return -BIGINT <= value <= BIGINT
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return "\x00" not in value and len(value) <= 200
    return False


def decode_cursor(cursor: str | None, kind: str, value_type: type[V]) -> V | None:
    """The value a cursor of list ``kind`` resumes after (None for no cursor). Raises KpiApiError
    (400 ``invalid_cursor``) for a cursor this service did not sign, of another list, or whose value
    is out of its domain."""
    if cursor is None:
        return None
    payload, _, signature = cursor.partition(".")
    decoded = None
    if signature and hmac.compare_digest(signature, _signature(payload)):
        try:
            decoded = json.loads(_unb64(payload))
        except (ValueError, binascii.Error, UnicodeError):
            decoded = None
    if (
        not isinstance(decoded, list)
        or len(decoded) != 2
        or decoded[0] != kind
        or not _in_domain(decoded[1], value_type)
    ):
        raise KpiApiError(INVALID_CURSOR)
    value: V = decoded[1]  # of ``value_type``: _in_domain checked it
    return value


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
