"""Server-Sent Events for `/chat/stream`: one event per Assistants event, then `done`."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

from app.api.error_handlers import answer_for
from app.api.wire.event_stream import until_terminal
from app.engines.base import StreamEvent

logger = logging.getLogger(__name__)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_frame(event: str, data: Any) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n".encode()


# How a stream still open at shutdown ends.
SSE_FAREWELL = sse_frame(
    "error", {"code": "shutting_down", "message": "The service restarted before the run's stream ended."}
) + sse_frame("done", "[DONE]")


async def sse_body(events: AsyncGenerator[StreamEvent, None]) -> AsyncIterator[bytes]:
    """Server-Sent Events named as the Assistants events; `error` then `done` if the stream breaks."""
    async with aclosing(events):
        try:
            async for event in until_terminal(events):
                yield sse_frame(event.event, event.data)
        except Exception as exc:
            answer = answer_for(exc)
            logger.warning("run stream broke off: %s", answer.code)
            yield sse_frame("error", answer.body()["error"])
        yield sse_frame("done", "[DONE]")
