"""The Next.js body: NDJSON, exactly as openai-node v4's `AssistantStream.toReadableStream()` writes it.

One compact, ASCII-only JSON object `{"event", "data"}` per line (docs/wire-formats.md section 1a).
Errors are written as a short assistant message followed by `thread.run.completed`, the only
way the original frontend shows an error and unlocks its input box (section 2).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

from starlette.responses import Response

from app.api.error_handlers import HttpAnswer, answer_for
from app.api.wire.event_stream import EventStreamResponse, until_terminal
from app.engines.base import StreamEvent

logger = logging.getLogger(__name__)

NDJSON = "application/x-ndjson"
UNLOCKING_FAILURE_EVENTS = frozenset({"thread.run.failed", "thread.run.cancelled", "thread.run.expired"})
# Unknown to openai-node 4.46 (no terminal event for it): such a run ends as a failure does, without it.
UNKNOWN_TERMINAL_EVENTS = frozenset({"thread.run.incomplete"})
_ENDS_WITH_A_MESSAGE = UNLOCKING_FAILURE_EVENTS | UNKNOWN_TERMINAL_EVENTS


def ndjson_line(event: StreamEvent) -> bytes:
    return (json.dumps({"event": event.event, "data": event.data}, separators=(",", ":")) + "\n").encode("ascii")


def error_message_events(text: str, code: str, run_id: str | None = None) -> list[StreamEvent]:
    """A synthetic assistant message saying `text`, then a completed run: shows the error, unlocks the UI."""
    now = int(time.time())
    message_id = f"msg_error{secrets.token_hex(12)}"
    content = [{"type": "text", "text": {"value": text, "annotations": []}}]
    message = {"id": message_id, "object": "thread.message", "role": "assistant", "created_at": now}
    delta = {"id": message_id, "object": "thread.message.delta", "delta": {"content": [{"index": 0, **content[0]}]}}
    run_id = run_id or f"run_error{secrets.token_hex(12)}"
    run = {"id": run_id, "object": "thread.run", "status": "completed", "metadata": {"error_code": code}}
    return [
        StreamEvent("thread.message.created", {**message, "status": "in_progress", "content": []}),
        StreamEvent("thread.message.delta", delta),
        StreamEvent("thread.message.completed", {**message, "status": "completed", "content": content}),
        StreamEvent("thread.run.completed", run),
    ]


def _failure_text(event: StreamEvent) -> str:
    status = event.event.removeprefix("thread.run.")
    if status == "incomplete":
        reason = (event.data.get("incomplete_details") or {}).get("reason") or "a limit"
        return f"The reply was cut off at {reason} before it was complete."
    error = event.data.get("last_error") or {}
    detail = f": {error['message']}" if isinstance(error, dict) and error.get("message") else "."
    return f"The run {status}{detail}"


def ndjson_error_body(answer: HttpAnswer) -> list[bytes]:
    return [ndjson_line(e) for e in error_message_events(f"Error: {answer.message}", answer.code)]


# How a Next.js stream still open at shutdown ends: a message the frontend shows, and the input unlocked.
NDJSON_FAREWELL = b"".join(
    ndjson_line(e)
    for e in error_message_events(
        "The service restarted before the reply was complete; it may still appear in the thread.", "shutting_down"
    )
)


def ndjson_error_response(answer: HttpAnswer) -> Response:
    """The whole answer to a refused request, as a run stream the frontend shows."""
    body = b"".join(ndjson_error_body(answer))
    return Response(body, status_code=answer.status, media_type=NDJSON, headers=answer.headers or None)


async def ndjson_body(events: AsyncGenerator[StreamEvent, None]) -> AsyncIterator[bytes]:
    """The Next.js body for a run; a failure (upstream or run) becomes a visible, unlocking message."""
    async with aclosing(events):
        try:
            async for event in until_terminal(events):
                if event.event not in UNKNOWN_TERMINAL_EVENTS:
                    yield ndjson_line(event)
                if event.event in _ENDS_WITH_A_MESSAGE:
                    for extra in error_message_events(_failure_text(event), event.event, event.data.get("id")):
                        yield ndjson_line(extra)
        except Exception as exc:
            answer = answer_for(exc)
            logger.warning("run stream broke off: %s", answer.code)
            for line in ndjson_error_body(answer):
                yield line


def ndjson_response(events: AsyncGenerator[StreamEvent, None]) -> EventStreamResponse:
    return EventStreamResponse(ndjson_body(events), media_type=NDJSON, farewell=NDJSON_FAREWELL)
