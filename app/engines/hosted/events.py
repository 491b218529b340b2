"""Assistants-shaped stream events for a hosted run, as the Assistants API streams them.

Objects (`thread.run`, `thread.message`) have the upstream fields, nulls included, like the
snapshots the upstream sends. Deltas carry only the keys that are set: openai-node's
AssistantStream merges deltas into its snapshot and throws on a null where the snapshot has a
string or a list (WIRE-FORMATS 1b, rule 2), so `annotations: []` goes on the first delta only.
"""

from __future__ import annotations

from typing import Any

from app.engines.base import StreamEvent
from app.engines.hosted.objects import epoch, text_content
from app.storage.threads import RunRecord, is_active

RUN_STATUS_EVENTS = {
    "queued": "thread.run.queued",
    "in_progress": "thread.run.in_progress",
    "completed": "thread.run.completed",
    "failed": "thread.run.failed",
    "cancelled": "thread.run.cancelled",
    "expired": "thread.run.expired",
}


def run_object(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.id,
        "object": "thread.run",
        "created_at": epoch(run.created_at),
        "assistant_id": None,
        "thread_id": run.thread_id,
        "status": run.status,
        "started_at": epoch(run.started_at),
        "expires_at": epoch(run.expires_at) if is_active(run.status) else None,
        "cancelled_at": epoch(run.cancelled_at),
        "failed_at": epoch(run.failed_at),
        "completed_at": epoch(run.completed_at),
        "required_action": None,
        "last_error": dict(run.last_error) if run.last_error else None,
        "model": run.model,
        "instructions": "",  # the system prompt stays on the server: these events reach every client
        "tools": [{"type": name} for name in run.tools],
        "metadata": {},
        "incomplete_details": None,
        "usage": dict(run.usage) if run.usage else None,
        "temperature": None,
        "top_p": None,
        "max_prompt_tokens": None,
        "max_completion_tokens": run.max_completion_tokens,
        "truncation_strategy": {"type": "last_messages", "last_messages": run.truncation_last_messages},
        "response_format": "auto",
        "tool_choice": "auto",
        "parallel_tool_calls": True,
    }


def run_event(event: str, run: RunRecord) -> StreamEvent:
    """`thread.run.<something>` with the run object."""
    return StreamEvent(event, run_object(run))


def run_status_event(run: RunRecord) -> StreamEvent:
    """The event announcing the run's current status, e.g. `thread.run.completed`."""
    return run_event(RUN_STATUS_EVENTS[run.status], run)


def message_object(
    message_id: str, run: RunRecord, *, created_at: int, status: str, text: str | None
) -> dict[str, Any]:
    completed = status == "completed"
    return {
        "id": message_id,
        "object": "thread.message",
        "created_at": created_at,
        "assistant_id": None,
        "thread_id": run.thread_id,
        "run_id": run.id,
        "role": "assistant",
        "status": status,
        "incomplete_details": None,
        "completed_at": epoch(run.completed_at) if completed else None,
        "incomplete_at": None,
        "content": text_content(text) if text is not None else [],
        "attachments": [],
        "metadata": {},
    }


def message_created(message_id: str, run: RunRecord, created_at: int) -> list[StreamEvent]:
    """`thread.message.created` (content must be `[]`, rule 1) and `thread.message.in_progress`."""
    data = message_object(message_id, run, created_at=created_at, status="in_progress", text=None)
    return [StreamEvent("thread.message.created", data), StreamEvent("thread.message.in_progress", dict(data))]


def message_delta(message_id: str, text: str, *, first: bool) -> StreamEvent:
    part: dict[str, Any] = {"index": 0, "type": "text", "text": {"value": text}}
    if first:
        part["text"]["annotations"] = []
    return StreamEvent(
        "thread.message.delta",
        {"id": message_id, "object": "thread.message.delta", "delta": {"content": [part]}},
    )


def message_completed(message_id: str, run: RunRecord, created_at: int, text: str) -> StreamEvent:
    data = message_object(message_id, run, created_at=created_at, status="completed", text=text)
    return StreamEvent("thread.message.completed", data)
