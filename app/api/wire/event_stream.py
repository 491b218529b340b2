"""The HTTP response that carries a run's event stream, and the rule that a stream must end in a run event.

A stream still open at shutdown ends with its format's closing words (`farewell`), never cut off mid-way. A stream
quiet for PING_INTERVAL_S (a model thinking) gets the format's `keepalive`, so proxies do not take it for dead; it
is sent beside the body, which is never interrupted or read ahead for it (a read-ahead made openai-node repeat deltas).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from app.engines.base import TERMINAL_RUN_EVENTS, StreamEvent
from app.errors import StreamBrokeOff
from app.server.shutdown import Shutdown

# A stream with nothing sent for this long gets a keep-alive (FastAPI's interval for its own SSE).
PING_INTERVAL_S = 15.0


class _TrackedSend:
    """The response's `send`: remembers whether the answer started and when it last wrote; one write at a time."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._loop = asyncio.get_running_loop()
        self._writing = asyncio.Lock()  # the body and a keep-alive never write at the same time
        self.started = False
        self.last_sent = self._loop.time()

    async def __call__(self, message: Message) -> None:
        async with self._writing:
            self.started = self.started or message["type"] == "http.response.start"
            await self._send(message)
            self.last_sent = self._loop.time()

    async def keep_alive(self, body: bytes) -> None:
        """Write `body` whenever nothing was written for PING_INTERVAL_S (never in the middle of a write)."""
        while True:
            wait_s = self.last_sent + PING_INTERVAL_S - self._loop.time()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            elif self.started and not self._writing.locked():
                await self({"type": "http.response.body", "body": body, "more_body": True})
            else:
                await asyncio.sleep(PING_INTERVAL_S)


class EventStreamResponse(StreamingResponse):
    """A StreamingResponse that stops as soon as the client goes away and always closes its body.

    Starlette leaves the body suspended on a disconnect (ASGI 2.4 servers notice on the next write); closing it
    here closes the run's upstream stream, so a client that left leaves no connection or task behind."""

    def __init__(self, content: Any, *, farewell: bytes = b"", keepalive: bytes = b"", **options: Any) -> None:
        super().__init__(content, **options)
        self._farewell = farewell
        self._keepalive = keepalive

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracked_send = _TrackedSend(send)
        shut_down = False
        shutdown: Shutdown | None = getattr(scope["app"].state, "shutdown", None)
        try:
            async with anyio.create_task_group() as task_group:

                async def stream_then_stop() -> None:
                    with contextlib.suppress(OSError):  # the client went away mid-write
                        await self.stream_response(tracked_send)
                    task_group.cancel_scope.cancel()

                async def stop_before_shutdown() -> None:
                    nonlocal shut_down
                    if shutdown is None:
                        await asyncio.Future()  # never: no server to shut down (tests, ASGI hosts)
                    else:
                        await shutdown.streams_must_end()
                    shut_down = True
                    task_group.cancel_scope.cancel()

                task_group.start_soon(stream_then_stop)
                task_group.start_soon(stop_before_shutdown)
                if self._keepalive:
                    task_group.start_soon(tracked_send.keep_alive, self._keepalive)
                await self.listen_for_disconnect(receive)
                task_group.cancel_scope.cancel()
            if shut_down and tracked_send.started:
                with contextlib.suppress(OSError):
                    await send({"type": "http.response.body", "body": self._farewell, "more_body": False})
        finally:
            close = getattr(self.body_iterator, "aclose", None)
            if close is not None:
                with anyio.CancelScope(shield=True):
                    await close()


async def until_terminal(events: AsyncGenerator[StreamEvent, None]) -> AsyncGenerator[StreamEvent, None]:
    """The events, then an error if they stopped before a terminal run event (a cut upstream)."""
    async for event in events:
        yield event
        if event.event in TERMINAL_RUN_EVENTS:
            return
    raise StreamBrokeOff()
