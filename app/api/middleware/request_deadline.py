"""A request's whole body must arrive within HTTP_READ_TIMEOUT_S: else 408, and the connection is closed.

A server's read timeout limits each pause; a client sending one byte a second would never hit it,
and would hold a request (and its buffer) open for as long as it likes. Here the deadline is for
the whole body, whichever server runs the app. The clock starts when the app first asks for the
body: time the app spends before reading it does not count against the client.
"""

from __future__ import annotations

import asyncio

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.error_handlers import answer_for


class RequestBodyTimeout(HTTPException):
    """Raised by the body's `receive` at the deadline: an HTTPException, so FastAPI's body reading passes it on."""

    def __init__(self) -> None:
        super().__init__(408, "The request body did not arrive in time.")


class _Deadline:
    """One request's body deadline: its `receive` and `send`, as the app gets them."""

    def __init__(self, receive: Receive, send: Send, timeout_s: float) -> None:
        self._receive = receive
        self._send = send
        self._timeout_s = timeout_s
        self._deadline: float | None = None
        self.body_read = self.timed_out = self.started = False

    async def receive(self) -> Message:
        if self.timed_out:
            return {"type": "http.disconnect"}
        if self.body_read:
            return await self._receive()
        if self._deadline is None:
            self._deadline = asyncio.get_running_loop().time() + self._timeout_s
        try:
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            self.timed_out = True
            raise RequestBodyTimeout() from None
        self.body_read = message["type"] != "http.request" or not message.get("more_body", False)
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            if self.timed_out:  # the rest of the body may still come: this connection is done
                message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
        await self._send(message)


class RequestDeadlineMiddleware:
    """Bounds the time the whole request body takes to arrive; a late one is answered 408 and its connection closed."""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = _Deadline(receive, send, self.timeout_s)
        try:
            await self.app(scope, request.receive, request.send)
        except RequestBodyTimeout as exc:
            if request.started:
                raise
            await answer_for(exc).response()(scope, request.receive, request.send)
