"""Assistants-shaped stream events for a hosted run, as the Assistants API streams them.

Objects (`thread.run`, `thread.message`) have the upstream fields, nulls included, like the
snapshots the upstream sends. Deltas carry only the keys that are set: openai-node's
AssistantStream merges deltas into its snapshot and throws on a null where the snapshot has a
string or a list (docs/wire-formats.md 1b, rule 2), so `annotations: []` goes on the first delta only.
"""

from __future__ import annotations

from typing import Any

from app.engines.base import StreamEvent
from app.engines.hosted.objects import epoch, text_content, tool_object
from app.storage.threads import RunRecord, RunStepRecord, is_active


def run_object(run: RunRecord) -> dict[str, Any]:
    """The run as OpenAI shows it: `usage` only once it has ended (an unfinished run's would be counted twice)."""
    active = is_active(run.status)
    return {
        "id": run.id,
        "object": "thread.run",
        "created_at": epoch(run.created_at),
        "assistant_id": run.assistant_id,
        "thread_id": run.thread_id,
        "status": run.status,
        "started_at": epoch(run.started_at),
        "expires_at": epoch(run.expires_at) if active else None,
        "cancelled_at": epoch(run.cancelled_at),
        "failed_at": epoch(run.failed_at),
        "completed_at": epoch(run.completed_at),
        "required_action": required_action(run),
        "last_error": dict(run.last_error) if run.last_error else None,
        "model": run.model,
        "instructions": run.instructions if run.instructions_shown else "",  # the operator's prompt stays here
        "tools": [tool_object(tool) for tool in run.tools],
        "metadata": dict(run.metadata or {}),
        "incomplete_details": dict(run.incomplete_details) if run.incomplete_details else None,
        "usage": dict(run.usage) if run.usage and not active else None,
        "temperature": 1.0 if run.temperature is None else run.temperature,  # OpenAI's defaults, as it reports them
        "top_p": 1.0 if run.top_p is None else run.top_p,
        "max_prompt_tokens": run.max_prompt_tokens,
        "max_completion_tokens": run.max_completion_tokens,
        "truncation_strategy": truncation_strategy(run),
        "response_format": run.response_format or "auto",
        "tool_choice": run.tool_choice or "auto",
        "parallel_tool_calls": run.parallel_tool_calls is not False,
    }


def truncation_strategy(run: RunRecord) -> dict[str, Any]:
    if run.truncation_type == "auto":
        return {"type": "auto", "last_messages": None}
    return {"type": "last_messages", "last_messages": run.truncation_last_messages}


def required_action(run: RunRecord) -> dict[str, Any] | None:
    if run.status != "requires_action" or not run.required_tool_calls:
        return None
    calls = [dict(call) for call in run.required_tool_calls]
    return {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}}


def run_status_event(run: RunRecord, event: str | None = None) -> StreamEvent:
    return StreamEvent(event or f"thread.run.{run.status}", run_object(run))


def message_object(
    message_id: str,
    run: RunRecord,
    created_at: int,
    text: str | None = None,
    annotations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The reply message: in progress with no content (no `text`), else completed with it."""
    completed = text is not None
    return {
        "id": message_id,
        "object": "thread.message",
        "created_at": created_at,
        "assistant_id": run.assistant_id,
        "thread_id": run.thread_id,
        "run_id": run.id,
        "role": "assistant",
        "status": "completed" if completed else "in_progress",
        "incomplete_details": None,
        "completed_at": epoch(run.completed_at) if completed else None,
        "incomplete_at": None,
        "content": text_content(text, annotations) if text is not None else [],
        "attachments": [],
        "metadata": {},
    }


def message_created(message_id: str, run: RunRecord, created_at: int) -> list[StreamEvent]:
    """`thread.message.created` (content must be `[]`, rule 1) and `thread.message.in_progress`."""
    data = message_object(message_id, run, created_at)
    return [StreamEvent("thread.message.created", data), StreamEvent("thread.message.in_progress", dict(data))]


def message_delta(
    message_id: str, text: str, *, first: bool, annotations: list[dict[str, Any]] | None = None
) -> StreamEvent:
    part: dict[str, Any] = {"index": 0, "type": "text", "text": {"value": text}}
    if first or annotations:
        part["text"]["annotations"] = list(annotations or [])
    return StreamEvent(
        "thread.message.delta", {"id": message_id, "object": "thread.message.delta", "delta": {"content": [part]}}
    )


def step_object(step: RunStepRecord, *, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": step.id,
        "object": "thread.run.step",
        "created_at": epoch(step.created_at),
        "run_id": step.run_id,
        "assistant_id": step.assistant_id,
        "thread_id": step.thread_id,
        "type": step.type,
        "status": step.status,
        "cancelled_at": None,
        "completed_at": epoch(step.completed_at),
        "expired_at": None,
        "failed_at": None,
        "last_error": None,
        "step_details": details if details is not None else step.details,
        "usage": dict(step.usage) if step.usage is not None and step.status == "completed" else None,
        "metadata": {},
    }


def step_opened(step: RunStepRecord) -> list[StreamEvent]:
    """`thread.run.step.created` and `.in_progress`; a tool_calls step starts with no calls (rule 3)."""
    details = {"type": "tool_calls", "tool_calls": []} if step.type == "tool_calls" else step.details
    data = step_object(step, details=details)
    return [StreamEvent("thread.run.step.created", data), StreamEvent("thread.run.step.in_progress", dict(data))]


def tool_call_delta(step_id: str, index: int, arguments: str, call_id: str | None, name: str | None) -> StreamEvent:
    """One piece of a function call: the first (with `id`, `type`, `name`) opens the call in AssistantStream."""
    function: dict[str, Any] = {"arguments": arguments}
    call: dict[str, Any] = {"index": index, "type": "function", "function": function}
    if call_id is not None:
        call["id"] = call_id
        function["name"] = name or ""
    return step_delta(step_id, call)


def code_call_delta(
    step_id: str, index: int, *, call_id: str | None = None, code: str | None = None, logs: str | None = None
) -> StreamEvent:
    """A code_interpreter call's piece: the first (with `id`, empty input and outputs) opens it in AssistantStream."""
    code_interpreter: dict[str, Any] = {}
    call: dict[str, Any] = {"index": index, "type": "code_interpreter", "code_interpreter": code_interpreter}
    if call_id is not None:
        call["id"] = call_id
        code_interpreter.update(input=code or "", outputs=[])
    elif code is not None:
        code_interpreter["input"] = code
    if logs is not None:
        code_interpreter["outputs"] = [{"index": 0, "type": "logs", "logs": logs}]
    return step_delta(step_id, call)


def step_completed(step: RunStepRecord) -> StreamEvent:
    return StreamEvent("thread.run.step.completed", step_object(step))


def step_delta(step_id: str, call: dict[str, Any]) -> StreamEvent:
    details = {"type": "tool_calls", "tool_calls": [call]}
    return StreamEvent(
        "thread.run.step.delta", {"id": step_id, "object": "thread.run.step.delta", "delta": {"step_details": details}}
    )
