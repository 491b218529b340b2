"""Conversions from the Assistants API's JSON (as dicts) to our engine-neutral types."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from pydantic import ValidationError

from app.engines.base import MessagePage, RunState, StreamEvent, ThreadMessage
from app.upstream.json_calls import unexpected_answer


def drop_nones(value: Any) -> Any:
    """Remove null-valued keys at every depth (openai-node's delta merging breaks on them)."""
    if isinstance(value, dict):
        return {k: drop_nones(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nones(v) for v in value]
    return value


async def relay_events(stream: AsyncGenerator[Any, None]) -> AsyncGenerator[StreamEvent, None]:
    """Relay an event stream read as dicts (`{"event": ..., "data": {...}}`, as the SDK's decoder
    gives them for `thread.*` events); the upstream connection is closed however the relay ends."""
    async with aclosing(stream):
        async for item in stream:
            if isinstance(item, dict) and isinstance(item.get("event"), str) and isinstance(item.get("data"), dict):
                name, data = item["event"], item["data"]
                if name.endswith(".delta"):
                    data = drop_nones(data)
                elif data.get("object") == "thread.run" and data.get("instructions"):
                    data = {**data, "instructions": ""}  # the assistant's system prompt: the events reach every client
                yield StreamEvent(name, data)


def message_text(content: list[dict[str, Any]]) -> str:
    return "".join(
        part["text"]["value"]
        for part in content
        if part.get("type") == "text"
        and isinstance(part.get("text"), dict)
        and isinstance(part["text"].get("value"), str)
    )


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects in a JSON list (a page's `data`, a message's `content`); anything else is empty."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def reply_text(page: dict[str, Any]) -> str:
    """The assistant's text in a page of a run's messages (the upstream's `messages.list` JSON)."""
    return "".join(
        message_text(_dicts(m.get("content"))) for m in _dicts(page.get("data")) if m.get("role") == "assistant"
    )


def to_message_page(page: dict[str, Any], thread_id: str) -> MessagePage:
    """The upstream's `messages.list` JSON as our page; a malformed answer is the upstream's failure (502)."""
    data: list[ThreadMessage] = []
    try:
        for message in _dicts(page.get("data")):
            content = _dicts(message.get("content"))
            thread = message.get("thread_id") or thread_id
            ours = {"thread_id": thread, "text": message_text(content), "content": content}
            data.append(ThreadMessage.model_validate({**message, **ours}))
    except ValidationError as exc:
        raise unexpected_answer("a page of messages") from exc
    return MessagePage.of(data, bool(page.get("has_more")))


def to_run_state(run: dict[str, Any], thread_id: str, reply: str | None = None) -> RunState:
    """The upstream's run JSON as our RunState; a malformed answer is the upstream's failure (502)."""
    error, usage = run.get("last_error"), run.get("usage")
    try:
        return RunState.model_validate(
            {
                **run,
                "thread_id": run.get("thread_id") or thread_id,
                "last_error": error if isinstance(error, dict) else None,
                "tools": [tool for tool in run.get("tools") or [] if isinstance(tool, dict)],
                "usage": {k: v for k, v in usage.items() if isinstance(v, int)} if isinstance(usage, dict) else None,
                "reply": reply,
            }
        )
    except ValidationError as exc:
        raise unexpected_answer("a run") from exc
