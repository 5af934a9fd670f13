"""The base of the service's pure ASGI middleware (Starlette's ``middleware/`` is the model).

Pure ASGI, not ``BaseHTTPMiddleware``: no task per request, and streaming bodies stay streams.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HTTPMiddleware:
    """Pass non-HTTP scopes (lifespan, websockets) straight through; ``handle`` HTTP requests.

    ``passes(scope)`` may let chosen HTTP requests through untouched too (e.g. liveness).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def passes(self, scope: Scope) -> bool:
        """True for an HTTP request this middleware leaves alone."""
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Hand an HTTP request to ``handle`` unless it ``passes``; anything else to the app."""
        if scope["type"] != "http" or self.passes(scope):
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one HTTP request (usually by calling ``self.app`` around one's own work)."""
        raise NotImplementedError
