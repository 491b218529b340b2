"""The HTTP response that carries a run's event stream, and the rule that a stream must end in a run event.

Each body generator closes the run's event iterator however it ends, so a client that
disconnects leaves no upstream connection or task behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from app.engines.base import TERMINAL_RUN_EVENTS, StreamEvent
from app.errors import StreamBrokeOff


class EventStreamResponse(StreamingResponse):
    """A StreamingResponse that stops as soon as the client goes away and always closes its body.

    Starlette leaves the body iterator suspended when a client disconnects (with ASGI 2.4
    servers it only notices on the next write). Here a disconnect cancels the streaming at
    once, and the iterator is closed, which closes the run's upstream stream.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as task_group:

                async def stream_then_stop() -> None:
                    with contextlib.suppress(OSError):  # the client went away mid-write
                        await self.stream_response(send)
                    task_group.cancel_scope.cancel()

                task_group.start_soon(stream_then_stop)
                await self.listen_for_disconnect(receive)
                task_group.cancel_scope.cancel()
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
