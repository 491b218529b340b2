"""Server-Sent Events for `/chat/stream` and `/v1` runs: one event per Assistants event, then `done`.

Frames are FastAPI's (`format_sse_event`, `KEEPALIVE_COMMENT`), as the openai SDKs parse them. FastAPI's
`EventSourceResponse` does not fit: its path operation is a generator, so the 200 would start before the run is
claimed (a busy or unknown thread could no longer be a 400 or 404), and /v1 runs answer JSON or SSE from one route.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any

from fastapi.sse import KEEPALIVE_COMMENT, format_sse_event

from app.api.error_handlers import answer_for
from app.api.wire.event_stream import EventStreamResponse, until_terminal
from app.engines.base import StreamEvent

logger = logging.getLogger(__name__)


def sse_frame(event: str, data: Any) -> bytes:
    return format_sse_event(
        event=event, data_str=data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    )


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


def sse_response(events: AsyncGenerator[StreamEvent, None]) -> EventStreamResponse:
    """OpenAI's SSE: `event: thread.run.created` / `data: {...}` ... `event: done` / `data: [DONE]`."""
    return EventStreamResponse(
        sse_body(events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        farewell=SSE_FAREWELL,
        keepalive=KEEPALIVE_COMMENT,
    )
