"""Conversions from the Assistants API's SDK objects to our engine-neutral types."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from app.engines.base import StreamEvent
from app.schemas import MessagePage, RunError, RunState, ThreadMessage


def drop_nones(value: Any) -> Any:
    """Remove null-valued keys at every depth (openai-node's delta merging breaks on them)."""
    if isinstance(value, dict):
        return {k: drop_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nones(v) for v in value]
    return value


def to_stream_event(name: str, data: dict[str, Any]) -> StreamEvent:
    """An upstream Assistants stream event as our StreamEvent (deltas without null-valued keys)."""
    return StreamEvent(event=name, data=drop_nones(data) if name.endswith(".delta") else data)


async def relay_events(stream: Any) -> AsyncIterator[StreamEvent]:
    """Relay an SDK event stream read as dicts (`{"event": ..., "data": {...}}`, as the SDK's decoder
    gives them for `thread.*` events); the upstream connection is closed however the relay ends."""
    try:
        async for item in stream:
            if isinstance(item, dict) and isinstance(item.get("event"), str) and isinstance(item.get("data"), dict):
                yield to_stream_event(item["event"], item["data"])
    finally:
        await stream.close()


def message_text(content: list[dict[str, Any]]) -> str:
    return "".join(part["text"]["value"] for part in content if part.get("type") == "text" and "text" in part)


def to_thread_message(message: Any) -> ThreadMessage:
    content = [part.to_dict(mode="json") for part in message.content]
    return ThreadMessage(
        id=message.id,
        thread_id=message.thread_id,
        role=message.role,
        created_at=message.created_at,
        run_id=message.run_id,
        text=message_text(content),
        content=content,
    )


def to_message_page(page: Any) -> MessagePage:
    data = [to_thread_message(m) for m in page.data]
    return MessagePage(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=bool(page.has_more),
    )


def to_run_state(run: Any, reply: str | None = None) -> RunState:
    last_error = RunError(code=run.last_error.code, message=run.last_error.message) if run.last_error else None
    usage = run.usage.to_dict(mode="json") if run.usage else None
    return RunState(
        id=run.id,
        thread_id=run.thread_id,
        status=run.status,
        created_at=run.created_at,
        started_at=run.started_at,
        completed_at=run.completed_at,
        cancelled_at=run.cancelled_at,
        failed_at=run.failed_at,
        expires_at=run.expires_at,
        last_error=last_error,
        model=run.model,
        usage=usage,
        reply=reply,
    )
