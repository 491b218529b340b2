"""stream_run on the hosted engine: the Assistants event sequence, failures, cancel, a client that leaves."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai import AsyncOpenAI

from app.engines.base import TERMINAL_RUN_EVENTS, StreamEvent
from tests.fakes.app_support import TEST_API_KEY
from tests.fakes.fake_models import split_deltas
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_engine, hosted_run_tasks, wait_for_run, wait_until

REPLY = "Grüße! Here is the answer, in three parts: one, two, three."


def null_paths(value: Any, path: str = "") -> list[str]:
    """Where a JSON value holds null."""
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in null_paths(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [p for index, item in enumerate(value) for p in null_paths(item, f"{path}[{index}]")]
    return []


async def collect(events: Any) -> list[StreamEvent]:
    return [event async for event in events]


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
async def test_stream_is_the_assistants_event_sequence_and_its_deltas_are_the_models_text(
    fake: FakeOpenAI, api: str
) -> None:
    fake.models.plan(reply=REPLY)
    async with hosted_engine(fake, hosted_model_api=api) as engine:
        thread_id = await engine.create_thread()
        events = await collect(await engine.stream_run(thread_id, "Say hello"))
        messages = await engine.list_messages(thread_id, order="asc")

    names = [event.event for event in events]
    deltas = [event for event in events if event.event == "thread.message.delta"]
    assert names == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
        *["thread.message.delta"] * len(split_deltas(REPLY)),
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ]
    run = events[0].data
    assert run["object"] == "thread.run"
    assert run["status"] == "queued"
    assert run["thread_id"] == thread_id
    run_events = [event for event in events if event.event.startswith("thread.run.") and ".step." not in event.event]
    assert {event.data["id"] for event in run_events} == {run["id"]}

    created = events[5].data
    assert created["content"] == []
    assert created["role"] == "assistant"
    assert created["run_id"] == run["id"]
    parts = [event.data["delta"]["content"] for event in deltas]
    assert all(len(part) == 1 and part[0]["index"] == 0 and part[0]["type"] == "text" for part in parts)
    assert parts[0][0]["text"]["annotations"] == []
    assert all("annotations" not in part[0]["text"] for part in parts[1:])
    assert all(null_paths(event.data) == [] for event in deltas)
    assert {event.data["id"] for event in deltas} == {created["id"]}
    assert "".join(part[0]["text"]["value"] for part in parts) == REPLY

    completed_message = events[-3].data
    assert completed_message["status"] == "completed"
    assert completed_message["content"] == [{"type": "text", "text": {"value": REPLY, "annotations": []}}]
    final = events[-1].data
    assert final["status"] == "completed"
    assert final["usage"]["total_tokens"] > 0
    assert messages.data[-1].id == created["id"]
    assert messages.data[-1].text == REPLY
    for event in events:
        line = json.dumps({"event": event.event, "data": event.data})
        assert line.isascii()  # ensure_ascii: immune to openai-node 4.46.0's split-UTF-8 bug (docs/wire-formats.md 1a)


async def test_stream_of_a_failing_model_ends_with_run_failed(fake: FakeOpenAI) -> None:
    fake.models.plan(reply=REPLY, cut_after=2)
    async with hosted_engine(fake) as engine:
        thread_id = await engine.create_thread()
        events = await collect(await engine.stream_run(thread_id, "hi"))
    names = [event.event for event in events]
    assert names[:7] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
    ]
    assert names.count("thread.message.delta") == 2
    assert "thread.message.completed" not in names
    assert names[-1] == "thread.run.failed"
    assert events[-1].data["last_error"]["code"] == "server_error"
    assert [name for name in names if name in TERMINAL_RUN_EVENTS] == ["thread.run.failed"]


async def test_stream_of_a_refused_model_call_ends_with_run_failed(fake: FakeOpenAI) -> None:
    fake.models.plan(status=429)
    async with hosted_engine(fake) as engine:
        thread_id = await engine.create_thread()
        events = await collect(await engine.stream_run(thread_id, "hi"))
    assert [event.event for event in events] == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.failed",
    ]
    assert events[-1].data["last_error"]["code"] == "rate_limit_exceeded"


async def test_client_leaving_the_stream_leaves_no_task_and_the_run_completes(fake: FakeOpenAI) -> None:
    async with hosted_engine(fake) as engine:
        thread_id = await engine.create_thread()
        events = await engine.stream_run(thread_id, "hi")
        seen = [await anext(events) for _ in range(2)]
        await events.aclose()  # what the ASGI server does when the client disconnects
        (task,) = hosted_run_tasks()
        run_id = seen[0].data["id"]
        run = await wait_for_run(engine, thread_id, run_id)
        await wait_until(lambda: task.done(), "the run task to end")
        # The runner forgets the run in the task's done callback, which runs on the loop's next turn.
        await wait_until(lambda: engine.runner.running == 0, "the runner to forget the run")
        assert hosted_run_tasks() == []
    assert run.status == "completed"
    assert run.reply == "Echo: hi"


async def test_cancel_mid_stream_closes_the_model_stream(fake: FakeOpenAI, live_fake: str) -> None:
    """Over a real socket, so deltas arrive while the model still writes."""
    fake.models.plan(reply=" ".join(f"word{n}" for n in range(200)), delay_s=0.02)
    upstream = AsyncOpenAI(api_key=TEST_API_KEY, base_url=live_fake, max_retries=0, timeout=10)
    async with upstream, hosted_engine(fake, client=upstream) as engine:
        thread_id = await engine.create_thread()
        events = await engine.stream_run(thread_id, "a long story please")
        names = []
        async for event in events:
            names.append(event.event)
            if event.event == "thread.run.created":
                run_id = event.data["id"]
            if event.event == "thread.message.delta":
                cancelled = await engine.cancel_run(thread_id, run_id)
        await wait_until(lambda: fake.models.calls[0].outcome != "running", "the fake to see the stream end")
        messages = await engine.list_messages(thread_id)
        next_ref = await engine.start_run(thread_id, "short then")
        await wait_for_run(engine, thread_id, next_ref.run_id)

    assert cancelled.status == "cancelled"
    assert names[-1] == "thread.run.cancelled"
    assert names.count("thread.message.delta") < 200
    assert fake.models.calls[0].outcome == "aborted"
    assert [m.role for m in messages.data] == ["user"]


async def test_deltas_reach_the_stream_while_the_model_is_still_writing(fake: FakeOpenAI, live_fake: str) -> None:
    """The model's own stream is relayed as it comes, not after the answer is complete."""
    fake.models.plan(reply="first second third", delay_s=0.05)
    upstream = AsyncOpenAI(api_key=TEST_API_KEY, base_url=live_fake, max_retries=0, timeout=10)
    async with upstream, hosted_engine(fake, client=upstream) as engine:
        thread_id = await engine.create_thread()
        events = await engine.stream_run(thread_id, "hi")
        outcomes_at_deltas = [
            fake.models.calls[0].outcome async for event in events if event.event == "thread.message.delta"
        ]
    assert outcomes_at_deltas[0] == "running"
    assert len(outcomes_at_deltas) == 3
