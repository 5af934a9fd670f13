"""ETag / If-None-Match for cacheable GET responses."""

from __future__ import annotations

import hashlib

from fastapi import Request, Response
from pydantic import BaseModel

#: The ``responses`` entry of an operation that answers with ``etag_response``.
NOT_MODIFIED: dict[int | str, dict[str, str]] = {
    304: {"description": "Not modified: the ETag in If-None-Match is still current."}
}


def etag_response(request: Request, model: BaseModel) -> Response:
    """Render ``model`` as JSON with a strong ETag; answer 304 when the client has it."""
    body = model.__pydantic_serializer__.to_json(model)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Authorization"}
    tags = _tags(request.headers.get("if-none-match"))
    if etag in tags or "*" in tags:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def _tags(header: str | None) -> set[str]:
    if not header:
        return set()
    # Weak comparison (RFC 9110 13.1.2): a W/ prefix does not prevent a match.
    return {t.strip().removeprefix("W/") for t in header.split(",")}
