"""Writing run events to HTTP bodies: NDJSON for the Next.js frontend, SSE for /chat/stream.

NDJSON is the exact body openai-node v4's `AssistantStream.toReadableStream()` writes: one
compact, ASCII-only JSON object `{"event", "data"}` per line (WIRE-FORMATS section 1a). Errors
are written as a short assistant message followed by `thread.run.completed`, the only way the
original frontend shows an error and unlocks its input box (section 2).

Each body generator closes the run's event iterator however it ends, so a client that
disconnects leaves no upstream connection or task behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import anyio
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from app.engines.base import TERMINAL_RUN_EVENTS, StreamEvent
from app.errors import ErrorAnswer, StreamBrokeOff, answer_for

logger = logging.getLogger(__name__)

UNLOCKING_FAILURE_EVENTS = frozenset({"thread.run.failed", "thread.run.cancelled", "thread.run.expired"})
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
NDJSON = "application/x-ndjson"
# The Next.js routes whose every answer, errors included, is an NDJSON run stream the frontend can show.
NEXTJS_STREAM_PATH = re.compile(r"^/api/assistants/threads/[^/]+/(messages|actions)$")


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


def ndjson_line(event: StreamEvent) -> bytes:
    return (json.dumps({"event": event.event, "data": event.data}, separators=(",", ":")) + "\n").encode("ascii")


def sse_frame(event: str, data: Any) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n".encode()


def error_message_events(text: str, code: str, run_id: str | None = None) -> list[StreamEvent]:
    """A synthetic assistant message saying `text`, then a completed run: shows the error, unlocks the UI."""
    now = int(time.time())
    message_id = f"msg_error{now}"
    content = [{"type": "text", "text": {"value": text, "annotations": []}}]
    message = {"id": message_id, "object": "thread.message", "role": "assistant", "created_at": now}
    return [
        StreamEvent("thread.message.created", {**message, "status": "in_progress", "content": []}),
        StreamEvent(
            "thread.message.delta",
            {"id": message_id, "object": "thread.message.delta", "delta": {"content": [{"index": 0, **content[0]}]}},
        ),
        StreamEvent("thread.message.completed", {**message, "status": "completed", "content": content}),
        StreamEvent(
            "thread.run.completed",
            {
                "id": run_id or f"run_error{now}",
                "object": "thread.run",
                "status": "completed",
                "metadata": {"error_code": code},
            },
        ),
    ]


def _failure_text(event: StreamEvent) -> str:
    status = event.event.removeprefix("thread.run.")
    error = event.data.get("last_error") or {}
    detail = f": {error['message']}" if isinstance(error, dict) and error.get("message") else "."
    return f"The run {status}{detail}"


async def _until_terminal(events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
    """The events, then an error if they stopped before a terminal run event (a cut upstream)."""
    async for event in events:
        yield event
        if event.event in TERMINAL_RUN_EVENTS:
            return
    raise StreamBrokeOff()


def ndjson_error_body(answer: ErrorAnswer) -> list[bytes]:
    return [ndjson_line(e) for e in error_message_events(f"Error: {answer.message}", answer.code)]


def error_response(scope: Scope, answer: ErrorAnswer) -> Response:
    """An error found before any route ran (middleware): NDJSON on the Next.js stream routes, JSON elsewhere."""
    if scope.get("method") == "POST" and NEXTJS_STREAM_PATH.fullmatch(scope.get("path", "")):
        body = b"".join(ndjson_error_body(answer))
        return Response(body, status_code=answer.status, media_type=NDJSON, headers=answer.headers or None)
    return answer.response()


async def ndjson_body(events: AsyncIterator[StreamEvent]) -> AsyncIterator[bytes]:
    """The Next.js body for a run; a failure (upstream or run) becomes a visible, unlocking message."""
    async with aclosing(events):
        try:
            async for event in _until_terminal(events):
                yield ndjson_line(event)
                if event.event in UNLOCKING_FAILURE_EVENTS:
                    for extra in error_message_events(_failure_text(event), event.event, event.data.get("id")):
                        yield ndjson_line(extra)
        except Exception as exc:
            answer = answer_for(exc)
            logger.warning("run stream broke off: %s", answer.code)
            for line in ndjson_error_body(answer):
                yield line


async def sse_body(events: AsyncIterator[StreamEvent]) -> AsyncIterator[bytes]:
    """Server-Sent Events named as the Assistants events; `error` then `done` if the stream breaks."""
    async with aclosing(events):
        try:
            async for event in _until_terminal(events):
                yield sse_frame(event.event, event.data)
        except Exception as exc:
            answer = answer_for(exc)
            logger.warning("run stream broke off: %s", answer.code)
            yield sse_frame("error", answer.body()["error"])
        yield sse_frame("done", "[DONE]")
