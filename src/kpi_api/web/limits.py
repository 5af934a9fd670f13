"""What a request may take: a bounded body, and a place in line for a share of the worker."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kpi_api import messages
from kpi_api.errors import problem_message
from kpi_api.web.asgi import HTTPMiddleware

BODY_TOO_LARGE = messages.Message(
    "body_too_large",
    "The request body exceeds {max_bytes} bytes.",
    "De body van het verzoek is groter dan {max_bytes} bytes.",
)
TOO_MANY_WAITING = messages.Message(
    "server_busy",
    "The service is busy (too many requests are waiting); retry after the time in Retry-After.",
    "De dienst is bezet (er wachten te veel verzoeken); probeer het opnieuw na de tijd in "
    "Retry-After.",
)
WAITED_TOO_LONG = messages.Message(
    "server_busy",
    "The service is busy (the request waited too long); retry after the time in Retry-After.",
    "De dienst is bezet (het verzoek heeft te lang gewacht); probeer het opnieuw na de tijd in "
    "Retry-After.",
)


class BodyTooLarge(Exception):
    """A request body grew past its limit while it was read."""


class BodySizeLimit(HTTPMiddleware):
    """Refuse bodies over ``max_bytes`` with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, or answer 413 ``body_too_large`` when its Content-Length or the
        bytes read so far exceed ``max_bytes`` (if the answer has not started)."""
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._reject(scope, receive, send)
                return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._reject(scope, receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_message(
            scope, BODY_TOO_LARGE, status=413, params={"max_bytes": self.max_bytes}
        )
        await response(scope, receive, send)


Client = tuple[str, object]


def _client(scope: Scope) -> Client:
    """Who sends the request: its API key (as a digest, never the key), else its address."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return ("key", hashlib.sha256(value).digest())
    client = scope.get("client")
    return ("address", client[0] if client else None)


@dataclass(eq=False)
class _Waiter:
    client: Client
    granted: anyio.Event = field(default_factory=anyio.Event)


class FairLine:
    """``slots`` shared out fairly between clients, at most ``per_client`` to one client.

    A free slot goes to the waiting request whose client has the fewest requests in flight,
    the earliest of those: a client asking for its first slot goes before one asking for its
    ninth, so one client's burst waits behind itself. (anyio's ``CapacityLimiter`` serves in
    arrival order only, which put a bystander behind the whole burst.) Runs in one event loop.
    """

    def __init__(self, slots: int, per_client: int) -> None:
        self.free = slots
        self.per_client = min(per_client, slots)
        self.in_flight: Counter[Client] = Counter()
        self.waiting: list[_Waiter] = []  # in order of arrival

    def has_room_for(self, client: Client) -> bool:
        """Whether ``client`` could take a slot now (one is free and it is under its share)."""
        return self.free > 0 and self.in_flight[client] < self.per_client

    async def acquire(self, client: Client) -> None:
        """Wait for a slot for ``client``; cancelled, it leaves the line and holds nothing."""
        waiter = _Waiter(client)
        self.waiting.append(waiter)
        self._hand_out()
        try:
            await waiter.granted.wait()
        except BaseException:
            if waiter.granted.is_set():
                self.release(client)  # granted while being cancelled: pass it on
            else:
                self.waiting.remove(waiter)
            raise

    def release(self, client: Client) -> None:
        """Give back one of ``client``'s slots, to the next waiter in fair order."""
        self.free += 1
        self.in_flight[client] -= 1
        if self.in_flight[client] <= 0:
            del self.in_flight[client]
        self._hand_out()

    def _hand_out(self) -> None:
        while self.free > 0:
            eligible = [w for w in self.waiting if self.in_flight[w.client] < self.per_client]
            if not eligible:
                return
            waiter = min(eligible, key=lambda w: self.in_flight[w.client])  # earliest on ties
            self.waiting.remove(waiter)
            self.free -= 1
            self.in_flight[waiter.client] += 1
            waiter.granted.set()


class ConcurrencyLimit(HTTPMiddleware):
    """Serve at most ``max_concurrent`` requests at once and ``per_client`` of one client's.

    The others wait in a ``FairLine`` for at most ``timeout`` seconds; one that waits longer, or
    arrives when ``max_queued`` are waiting already, answers 503 ``server_busy`` with
    Retry-After. Waiting costs a coroutine, no thread and no connection: the database pool and
    the thread pool are sized for the admitted requests, so those never wait for each other
    (requests holding a pooled connection waiting for a thread, while every thread waited for
    a connection, froze a burst for 30 s and ended it in 500s). A client is its API key, or its
    address when it sends none. Liveness (``/health``) never waits.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_concurrent: int,
        per_client: int,
        max_queued: int,
        timeout: float,
        exempt: frozenset[str] = frozenset({"/health"}),
    ) -> None:
        super().__init__(app)
        self.line = FairLine(max_concurrent, per_client)
        self.max_queued = max_queued
        self.timeout = timeout
        self.exempt = exempt

    def passes(self, scope: Scope) -> bool:
        """True for an exempt path (liveness), which never waits."""
        return bool(scope["path"] in self.exempt)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request once it has a slot; answer 503 ``server_busy`` (Retry-After: 1) when
        ``max_queued`` wait already or it waited ``timeout`` seconds. Records the wait as
        ``queued_ms`` in the scope's state."""
        client = _client(scope)
        if len(self.line.waiting) >= self.max_queued and not self.line.has_room_for(client):
            await self._busy(scope, receive, send, TOO_MANY_WAITING)
            return
        started = time.perf_counter()
        admitted = False
        with anyio.move_on_after(self.timeout):
            await self.line.acquire(client)
            admitted = True
        if not admitted:
            await self._busy(scope, receive, send, WAITED_TOO_LONG)
            return
        try:
            queued_ms = round((time.perf_counter() - started) * 1000, 2)
            scope.setdefault("state", {})["queued_ms"] = queued_ms
            await self.app(scope, receive, send)
        finally:
            self.line.release(client)

    async def _busy(
        self, scope: Scope, receive: Receive, send: Send, why: messages.Message
    ) -> None:
        response = problem_message(scope, why, status=503, headers={"Retry-After": "1"})
        await response(scope, receive, send)
