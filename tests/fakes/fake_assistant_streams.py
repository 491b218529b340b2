"""Streamed runs for the fake OpenAI server: Assistants SSE events, as OpenAI sends them.

`StreamScript` says what the next streamed run does: text deltas (with pauses), a code
interpreter step, a function call that makes the run require action, an error event or a
cut connection part-way.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.fakes.fake_ids import new_id

if TYPE_CHECKING:
    from tests.fakes.fake_openai import FakeOpenAI


@dataclass
class StreamScript:
    """What the next streamed run sends. `text=None` echoes the user's last message."""

    text: list[str] | None = None
    delay_s: float = 0.0
    code_input: list[str] = field(default_factory=list)
    function_call: tuple[str, str] | None = None
    file_path_annotation: str | None = None
    error_after_deltas: int | None = None
    cut_after_deltas: int | None = None
    fail_run_after_deltas: int | None = None
    gate: threading.Event | None = None  # after the first delta, wait until the test sets it


class CutConnection(Exception):
    """Raised inside the fake's body iterator to drop the connection mid-stream."""


def sse(event: str, data: Any) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"event: {event}\ndata: {payload}\n\n".encode()


async def run_events(fake: FakeOpenAI, run: dict[str, Any], script: StreamScript) -> AsyncIterator[bytes]:
    """The SSE body of a streamed run; `fake.open_streams` counts bodies still being sent."""
    fake.open_streams += 1
    try:
        async for chunk in _run_events(fake, run, script):
            yield chunk
    finally:
        fake.open_streams -= 1


async def _run_events(fake: FakeOpenAI, run: dict[str, Any], script: StreamScript) -> AsyncIterator[bytes]:
    for chunk in _run_started(fake, run):
        yield chunk

    if script.code_input:
        async for chunk in _code_step(fake, run, script):
            yield chunk

    if script.function_call and not run.get("_tool_outputs"):
        async for chunk in _function_call(fake, run, script.function_call):
            yield chunk
        yield sse("done", "[DONE]")
        return

    async for chunk in _reply(fake, run, script):
        yield chunk


def _run_started(fake: FakeOpenAI, run: dict[str, Any]) -> Iterator[bytes]:
    if run["status"] == "queued":
        yield sse("thread.run.created", fake.public(run))
        yield sse("thread.run.queued", fake.public(run))
    run.update(status="in_progress", started_at=run["started_at"] or int(time.time()))
    yield sse("thread.run.in_progress", fake.public(run))


def _reply_pieces(fake: FakeOpenAI, run: dict[str, Any], script: StreamScript) -> list[str]:
    """The text deltas of the run's answer: the tool's output, the script's text, or an echo."""
    if run.get("_tool_outputs"):
        return [f"Tool said: {run['_tool_outputs'][0].get('output', '')}"]
    if script.text is not None:
        return script.text
    reply = fake.reply_prefix + fake.last_user_text(run["thread_id"])
    return re.findall(r"\s*\S+", reply) or [reply]


async def _reply(fake: FakeOpenAI, run: dict[str, Any], script: StreamScript) -> AsyncIterator[bytes]:
    """The assistant message, delta by delta, then the completed run (unless the script stops it first)."""
    thread_id = run["thread_id"]
    text = _reply_pieces(fake, run, script)
    message = fake.new_message(thread_id, "assistant", "", run_id=run["id"])
    message.update(status="in_progress", content=[], assistant_id=run["assistant_id"])
    fake.messages[thread_id].append(message)
    yield sse("thread.message.created", message)
    yield sse("thread.message.in_progress", message)

    full = ""
    for number, piece in enumerate(text):
        stop = _planned_stop(fake, run, script, number)
        if stop is not None:
            for chunk in stop:
                yield chunk
            return
        await _pace(script, number)
        part = _text_part(script, number, piece, start=len(full), last=number == len(text) - 1)
        full += piece
        yield sse(
            "thread.message.delta",
            {"id": message["id"], "object": "thread.message.delta", "delta": {"content": [part]}},
        )

    message.update(status="completed", content=[{"type": "text", "text": {"value": full, "annotations": []}}])
    yield sse("thread.message.completed", message)
    run.update(
        status="completed",
        completed_at=int(time.time()),
        usage={"prompt_tokens": 10, "completion_tokens": len(text), "total_tokens": 10 + len(text)},
    )
    yield sse("thread.run.completed", fake.public(run))
    yield sse("done", "[DONE]")


def _planned_stop(fake: FakeOpenAI, run: dict[str, Any], script: StreamScript, number: int) -> list[bytes] | None:
    """What the stream sends instead of delta `number` when the script fails the run there (None: go on)."""
    if script.error_after_deltas is not None and number == script.error_after_deltas:
        run.update(status="failed", failed_at=int(time.time()))
        return [sse("error", {"error": {"message": "The server had an error while processing your request."}})]
    if script.cut_after_deltas is not None and number == script.cut_after_deltas:
        run.update(status="failed", failed_at=int(time.time()))
        raise CutConnection
    if script.fail_run_after_deltas is not None and number == script.fail_run_after_deltas:
        run.update(
            status="failed",
            failed_at=int(time.time()),
            last_error={"code": "server_error", "message": "Sorry, something went wrong."},
        )
        return [sse("thread.run.failed", fake.public(run)), sse("done", "[DONE]")]
    return None


async def _pace(script: StreamScript, number: int) -> None:
    """Hold delta `number` at the script's gate (the second delta) or for its delay."""
    if number == 1 and script.gate is not None:
        await asyncio.to_thread(script.gate.wait, 30)
    if number and script.delay_s:
        await asyncio.sleep(script.delay_s)


def _text_part(script: StreamScript, number: int, piece: str, *, start: int, last: bool) -> dict[str, Any]:
    part: dict[str, Any] = {"index": 0, "type": "text", "text": {"value": piece}}
    if number == 0:
        part["text"]["annotations"] = []
    if script.file_path_annotation and last:
        part["text"]["annotations"] = [
            {
                "index": 0,
                "type": "file_path",
                "text": piece,
                "start_index": start,
                "end_index": start + len(piece),
                "file_path": {"file_id": script.file_path_annotation},
            }
        ]
    return part


async def _code_step(fake: FakeOpenAI, run: dict[str, Any], script: StreamScript) -> AsyncIterator[bytes]:
    step = _step(run, {"type": "tool_calls", "tool_calls": []})
    yield sse("thread.run.step.created", step)
    call_id = new_id("call_")
    for number, code in enumerate(script.code_input):
        call: dict[str, Any] = {"index": 0, "type": "code_interpreter", "code_interpreter": {"input": code}}
        if number == 0:
            call.update(id=call_id)
            call["code_interpreter"]["outputs"] = []
        delta = {"step_details": {"type": "tool_calls", "tool_calls": [call]}}
        yield sse("thread.run.step.delta", {"id": step["id"], "object": "thread.run.step.delta", "delta": delta})
    step.update(status="completed", completed_at=int(time.time()))
    yield sse("thread.run.step.completed", step)


async def _function_call(fake: FakeOpenAI, run: dict[str, Any], function_call: tuple[str, str]) -> AsyncIterator[bytes]:
    name, arguments = function_call
    call_id = new_id("call_")
    step = _step(run, {"type": "tool_calls", "tool_calls": []})
    yield sse("thread.run.step.created", step)
    first = {"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": "", "output": None}}
    rest = {"index": 0, "type": "function", "function": {"arguments": arguments}}
    for call in (first, rest):
        delta = {"step_details": {"type": "tool_calls", "tool_calls": [call]}}
        yield sse("thread.run.step.delta", {"id": step["id"], "object": "thread.run.step.delta", "delta": delta})
    run.update(
        status="requires_action",
        required_action={
            "type": "submit_tool_outputs",
            "submit_tool_outputs": {
                "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]
            },
        },
    )
    yield sse("thread.run.requires_action", fake.public(run))


def _step(run: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": new_id("step_"),
        "object": "thread.run.step",
        "created_at": int(time.time()),
        "run_id": run["id"],
        "assistant_id": run["assistant_id"],
        "thread_id": run["thread_id"],
        "type": "tool_calls",
        "status": "in_progress",
        "cancelled_at": None,
        "completed_at": None,
        "expires_at": None,
        "failed_at": None,
        "last_error": None,
        "step_details": details,
        "usage": None,
        "metadata": {},
    }
