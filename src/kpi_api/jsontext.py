"""JSON taken literally: one reading of a JSON text for every body the service accepts.

``json.loads`` keeps the last of two members with the same name (``{"value": 40, "value":
4000}`` is 4000), takes ``NaN`` and ``Infinity``, rounds a number to the nearest binary float
(``39.99999999999999999999`` is 40, ``1e-400`` is 0) and lets lone surrogates (``"\\ud800"``)
into text that no database can store. ``loads`` refuses all four, naming where (a JSON Pointer,
RFC 6901), so a client learns what it sent instead of the service storing something else. A
number with a fraction or exponent is taken when its float is exactly the decimal written
(up to 15 significant digits always are); integers are exact anyway.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any


class JsonTextError(ValueError):
    """The text is JSON the service does not take; ``pointer`` says where, ``rule`` why
    (``duplicate_member``, ``invalid_number``, ``invalid_text``, ``malformed_json``)."""

    def __init__(self, message: str, *, rule: str, pointer: str = "") -> None:
        super().__init__(message)
        self.rule = rule
        self.pointer = pointer


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _bad_text(value: str) -> bool:
    """NUL, or a lone surrogate (text that cannot be encoded as UTF-8)."""
    if "\x00" in value:
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class _Members(list[tuple[str, Any]]):
    """An object's members in order, until the whole document is read and checked."""


def _pairs(pairs: list[tuple[str, Any]]) -> _Members:
    return _Members(pairs)


class _NotJson:
    """NaN or Infinity as read; refused with its pointer once the document is read."""

    def __init__(self, name: str) -> None:
        self.name = name


class _Imprecise:
    """A number a binary float cannot hold as written (``0.99999999999999999999``,
    ``1e-400``): taking it would store another value than was sent."""

    def __init__(self, text: str) -> None:
        self.text = text


def _constant(name: str) -> Any:
    return _NotJson(name)


def _float(text: str) -> Any:
    value = float(text)
    try:
        exact = Decimal(text) == Decimal(repr(value))
    except InvalidOperation:
        exact = False
    return value if exact and value not in (float("inf"), float("-inf")) else _Imprecise(text)


def _check(value: Any, pointer: str) -> Any:
    """Objects as dicts, refusing duplicate names and bad text anywhere; depth-first, so the
    pointer of the first problem in document order is reported."""
    if isinstance(value, _Members):
        out: dict[str, Any] = {}
        for name, member in value:
            where = f"{pointer}/{_escape(name) if not _bad_text(name) else '?'}"
            if _bad_text(name):
                raise JsonTextError(
                    "a member name holds NUL or a lone surrogate",
                    rule="invalid_text",
                    pointer=where,
                )
            if name in out:
                raise JsonTextError(
                    f"member {name!r} appears twice; JSON is taken literally, so send it once",
                    rule="duplicate_member",
                    pointer=where,
                )
            out[name] = _check(member, where)
        return out
    if isinstance(value, list):
        return [_check(item, f"{pointer}/{i}") for i, item in enumerate(value)]
    if isinstance(value, _NotJson):
        raise JsonTextError(
            f"{value.name} is not a number JSON allows", rule="invalid_number", pointer=pointer
        )
    if isinstance(value, _Imprecise):
        raise JsonTextError(
            f"the number {value.text[:40]} cannot be taken as written (more than 15 significant "
            "digits, or beyond the range of a number): send it with fewer digits",
            rule="invalid_number",
            pointer=pointer,
        )
    if isinstance(value, str) and _bad_text(value):
        raise JsonTextError(
            "text holds NUL or a lone surrogate, which cannot be stored",
            rule="invalid_text",
            pointer=pointer,
        )
    return value


def loads(text: str | bytes) -> Any:
    """Parse JSON literally. Raises ``JsonTextError`` (a ``ValueError``)."""
    try:
        raw = json.loads(
            text, object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float
        )
    except JsonTextError:
        raise
    except RecursionError as exc:
        raise JsonTextError("nested too deeply", rule="malformed_json") from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise JsonTextError(str(exc)[:200], rule="malformed_json") from exc
    try:
        return _check(raw, "")
    except RecursionError as exc:
        raise JsonTextError("nested too deeply", rule="malformed_json") from exc
