"""Pick the response language (Dutch or English) from Accept-Language."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

SUPPORTED = ("en", "nl")


def language(accept_language: str | None) -> str:
    """The supported language the client prefers most; English by default."""
    best, best_q = "en", 0.0
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


def _lang(accept_language: Annotated[str | None, Header(max_length=500)] = None) -> str:
    return language(accept_language)


LangDep = Annotated[str, Depends(_lang)]
