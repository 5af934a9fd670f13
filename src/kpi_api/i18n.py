"""Pick the response language (Dutch or English) from Accept-Language."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Header

SUPPORTED = ("en", "nl")


def language(accept_language: str | None, default: str = "en") -> str:
    """The supported language (``en`` or ``nl``) the client prefers most; ``default`` when it
    names none (an API answers in English by default, a report for people in Dutch)."""
    best, best_q = default, 0.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in SUPPORTED and q > best_q:
            best, best_q = primary, q
    return best


def scope_language(scope: Mapping[str, Any]) -> str:
    """The language of an ASGI request, for middleware that answers without a ``Request``."""
    for name, value in scope.get("headers", []):
        if name == b"accept-language":
            return language(value.decode("latin-1"))
    return "en"


def _lang(accept_language: Annotated[str | None, Header(max_length=500)] = None) -> str:
    return language(accept_language)


LangDep = Annotated[str, Depends(_lang)]
