"""Function calling on the hosted engine: requires_action, tool outputs, run steps, expiry, cancel, two instances."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from app.clock import utc_now
from app.engines.base import StreamEvent, ToolOutput
from app.errors import InvalidField, InvalidRequest, NoToolCallPending
from app.storage.threads import ThreadStore
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import (
    engine_of,
    hosted_app,
    hosted_engine,
    list_run_steps,
    new_store,
    wait_for_run,
)
from tests.fakes.node_decoder import decode_like_chat_tsx

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}
# Not strict JSON (a raw tab inside a string), as small local models write: relayed as written.
OSLO = '{"location":"Os\tlo"}'


async def collect(events: Any) -> list[StreamEvent]:
    return [event async for event in events]


def names(events: list[StreamEvent]) -> list[str]:
    return [event.event for event in events]


@pytest.mark.parametrize(
    ("api", "style"), [("responses", "openai"), ("chat_completions", "openai"), ("chat_completions", "llamacpp")]
)
async def test_weather_round_trip(fake: FakeOpenAI, api: str, style: str) -> None:
    fake.models.plan(calls=[{"name": "get_weather", "arguments": OSLO, "call_id": "call_w1"}], call_style=style)
    fake.models.plan(reply="It is sunny in Oslo.")
    async with hosted_engine(fake, hosted_model_api=api) as engine:
        engine.runs.function_tools = (WEATHER,)
        thread_id = await engine.create_thread()
        first = await collect(await engine.stream_run(thread_id, "Weather in Oslo?"))
        run_id = first[0].data["id"]
        waiting = await engine.get_run(thread_id, run_id)
        second = await collect(await engine.submit_tool_outputs(thread_id, run_id, [ToolOutput("call_w1", "sunny")]))
        steps = await list_run_steps(engine, thread_id, run_id, order="asc")

    # The tool_calls step stays in progress while the run waits, as the Assistants API leaves it.
    assert names(first)[-3:] == [
        "thread.run.step.delta",
        "thread.run.step.delta",
        "thread.run.requires_action",
    ]
    assert "thread.run.step.completed" not in names(first)
    created = next(e for e in first if e.event == "thread.run.step.created")
    assert created.data["step_details"] == {"type": "tool_calls", "tool_calls": []}
    deltas = [e.data["delta"]["step_details"]["tool_calls"][0] for e in first if e.event == "thread.run.step.delta"]
    assert deltas[0]["id"] == "call_w1"
    assert deltas[0]["function"]["name"] == "get_weather"
    assert "".join(d["function"]["arguments"] for d in deltas) == OSLO
    action = first[-1].data["required_action"]
    assert action == {
        "type": "submit_tool_outputs",
        "submit_tool_outputs": {
            "tool_calls": [
                {"id": "call_w1", "type": "function", "function": {"name": "get_weather", "arguments": OSLO}}
            ]
        },
    }
    assert waiting.status == "requires_action"
    assert waiting.expires_at is not None

    tools = fake.models.calls[0].body["tools"]
    if api == "responses":
        assert tools == [{"type": "function", **WEATHER["function"], "strict": False}]
    else:
        assert tools == [WEATHER]
    assert fake.models.calls[1].tool_exchange == ([("call_w1", "get_weather", OSLO)], [("call_w1", "sunny")])
    assert fake.models.calls[0].body["tool_choice"] == "auto"  # always said: llama-cpp-python drops tools without
    if api == "chat_completions":  # the earlier call as llama-cpp-python accepts it: a string content, never null
        [earlier] = [m for m in fake.models.calls[1].body["messages"] if m.get("tool_calls")]
        assert earlier["content"] == ""
    assert names(second)[:2] == ["thread.run.queued", "thread.run.step.completed"]
    answered = second[1].data
    assert (answered["type"], answered["status"]) == ("tool_calls", "completed")
    assert answered["step_details"]["tool_calls"][0]["function"]["output"] == "sunny"
    assert names(second)[-1] == "thread.run.completed"
    assert second[-1].data["status"] == "completed"
    texts = [e.data["delta"]["content"][0]["text"]["value"] for e in second if e.event == "thread.message.delta"]
    assert "".join(texts) == "It is sunny in Oslo."
    kinds = [(s["type"], s["status"]) for s in steps["data"]]
    assert kinds == [("tool_calls", "completed"), ("message_creation", "completed")]
    assert steps["data"][0]["step_details"]["tool_calls"][0]["function"]["output"] == "sunny"
    message_id = steps["data"][1]["step_details"]["message_creation"]["message_id"]
    assert message_id.startswith("msg_")


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
async def test_parallel_calls_need_every_output_once(fake: FakeOpenAI, api: str) -> None:
    calls = [
        {"name": "get_weather", "arguments": '{"location":"Oslo"}', "call_id": "call_a"},
        {"name": "get_weather", "arguments": '{"location":"Bergen"}', "call_id": "call_b"},
    ]
    fake.models.plan(calls=calls)
    async with hosted_engine(fake, hosted_model_api=api) as engine:
        engine.runs.function_tools = (WEATHER,)
        thread_id = await engine.create_thread()
        first = await collect(await engine.stream_run(thread_id, "Two cities"))
        run_id = first[0].data["id"]
        ids = [c["id"] for c in first[-1].data["required_action"]["submit_tool_outputs"]["tool_calls"]]
        with pytest.raises(InvalidRequest, match="'call_b'"):
            await engine.submit_tool_outputs(thread_id, run_id, [ToolOutput("call_a", "1")])
        with pytest.raises(InvalidRequest, match="'call_x'"):
            await engine.submit_tool_outputs(thread_id, run_id, [ToolOutput("call_x", "1")])
        with pytest.raises(InvalidRequest, match="more than once"):
            await engine.submit_tool_outputs(
                thread_id, run_id, [ToolOutput("call_a", "1"), ToolOutput("call_a", "2"), ToolOutput("call_b", "3")]
            )
        with pytest.raises(InvalidField):
            await engine.submit_tool_outputs(thread_id, run_id, [ToolOutput("call_a", "x" * (512 * 1024 + 1))])
        outputs = [ToolOutput("call_b", "rain"), ToolOutput("call_a", "sun")]
        second = await collect(await engine.submit_tool_outputs(thread_id, run_id, outputs))
        with pytest.raises(NoToolCallPending):
            await engine.submit_tool_outputs(thread_id, run_id, outputs)
    assert ids == ["call_a", "call_b"]
    assert fake.models.calls[1].tool_exchange[1] == [("call_a", "sun"), ("call_b", "rain")]
    assert second[-1].event == "thread.run.completed"


@pytest.fixture(params=["mongomock", "mongodb", "sqlite"])
def hosted_store(request: pytest.FixtureRequest) -> ThreadStore:
    real = request.getfixturevalue("real_mongo_database") if request.param == "mongodb" else None
    return new_store(request.param, real)


async def test_waiting_run_expires_and_frees_its_thread(fake: FakeOpenAI, hosted_store: ThreadStore) -> None:
    fake.models.plan(calls=[{"name": "get_weather", "arguments": "{}", "call_id": "call_1"}])
    async with hosted_engine(fake, hosted_store) as engine:
        engine.runs.function_tools = (WEATHER,)
        thread_id = await engine.create_thread()
        first = await collect(await engine.stream_run(thread_id, "hi"))
        run_id = first[0].data["id"]
        await hosted_store.update_active_run(run_id, {"lease_expires_at": utc_now() - timedelta(seconds=1)})
        ref = await engine.start_run(thread_id, "next message")  # the thread is free again
        expired = await engine.get_run(thread_id, run_id)
        with pytest.raises(NoToolCallPending):
            await engine.submit_tool_outputs(thread_id, run_id, [ToolOutput("call_1", "x")])
        await wait_for_run(engine, thread_id, ref.run_id)
    assert expired.status == "expired"


async def test_cancel_while_waiting_frees_the_thread(fake: FakeOpenAI, hosted_store: ThreadStore) -> None:
    fake.models.plan(calls=[{"name": "get_weather", "arguments": "{}", "call_id": "call_1"}])
    async with hosted_engine(fake, hosted_store) as engine:
        engine.runs.function_tools = (WEATHER,)
        thread_id = await engine.create_thread()
        first = await collect(await engine.stream_run(thread_id, "hi"))
        run_id = first[0].data["id"]
        waiting_steps = await list_run_steps(engine, thread_id, run_id)
        cancelled = await engine.cancel_run(thread_id, run_id)
        thread = await hosted_store.get_thread(thread_id)
        with pytest.raises(NoToolCallPending):
            await engine.submit_tool_outputs(thread_id, run_id, [ToolOutput("call_1", "x")])
        steps = await list_run_steps(engine, thread_id, run_id)
    assert [(s["type"], s["status"]) for s in waiting_steps["data"]] == [("tool_calls", "in_progress")]
    assert [(s["type"], s["status"]) for s in steps["data"]] == [("tool_calls", "cancelled")]
    assert cancelled.status == "cancelled"
    assert thread is not None
    assert thread.active_run_id is None


async def test_submit_on_a_second_instance_sharing_the_store(fake: FakeOpenAI, tmp_path: Any) -> None:
    path = str(tmp_path / "shared.sqlite3")
    fake.models.plan(calls=[{"name": "get_weather", "arguments": "{}", "call_id": "call_1"}])
    fake.models.plan(reply="Done.")
    async with (
        hosted_app(fake, hosted_store=new_store("sqlite", path)) as one,
        hosted_app(fake, hosted_store=new_store("sqlite", path)) as two,
    ):
        engine_of(one).runs.function_tools = (WEATHER,)
        thread_id = (await one.post("/threads")).json()["thread_id"]
        started = await one.post("/chat", json={"content": "hi", "threadId": thread_id})
        run_id = started.json()["run_id"]
        waiting = await wait_for_status(engine_of(two), thread_id, run_id)
        body = {"tool_outputs": [{"tool_call_id": "call_1", "output": "ok"}]}
        submitted = await two.post(f"/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", json=body)
        again = await two.post(f"/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", json=body)
        bad = await two.post(
            f"/threads/{thread_id}/runs/{run_id}/submit_tool_outputs",
            json={"tool_outputs": [{"tool_call_id": "call_1", "output": 5}]},
        )
        steps = (await one.get(f"/threads/{thread_id}/runs/{run_id}/steps")).json()
    assert waiting == "requires_action"
    assert submitted.status_code == 200
    assert "event: thread.run.completed" in submitted.text
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "no_tool_call_pending"
    assert bad.status_code == 422
    assert "output" in json.dumps(bad.json())
    assert steps["object"] == "list"
    assert [s["type"] for s in steps["data"]] == ["message_creation", "tool_calls"]
    assert all(s["object"] == "thread.run.step" for s in steps["data"])


async def wait_for_status(engine: Any, thread_id: str, run_id: str) -> str:
    from tests.fakes.hosted_support import wait_until

    status = ""

    async def waiting() -> bool:
        nonlocal status
        status = (await engine.get_run(thread_id, run_id)).status
        return status == "requires_action"

    await wait_until(waiting, "the run to wait for tool outputs")
    return status


async def test_assistant_stream_of_openai_node_sees_the_call_then_the_reply(fake: FakeOpenAI) -> None:
    fake.models.plan(calls=[{"name": "get_weather", "arguments": '{"location":"Oslo"}', "call_id": "call_w1"}])
    fake.models.plan(reply="Sunny in Oslo.")
    async with hosted_app(fake) as client:
        engine_of(client).runs.function_tools = (WEATHER,)
        thread_id = (await client.post("/api/assistants/threads")).json()["threadId"]
        first = await client.post(f"/api/assistants/threads/{thread_id}/messages", content=b'{"content":"Oslo?"}')
        decoded = decode_like_chat_tsx(first.content)
        action = decoded["requiresAction"]
        outputs = [{"output": "sunny", "tool_call_id": call["id"]} for call in action["toolCalls"]]
        second = await client.post(
            f"/api/assistants/threads/{thread_id}/actions", json={"runId": action["runId"], "toolCallOutputs": outputs}
        )
        resumed = decode_like_chat_tsx(second.content)
    assert decoded["errors"] == []
    assert action["toolCalls"] == [
        {"id": "call_w1", "type": "function", "function": {"name": "get_weather", "arguments": '{"location":"Oslo"}'}}
    ]
    assert decoded["inputDisabled"] is True
    assert resumed["errors"] == []
    assert resumed["messages"] == [{"role": "assistant", "text": "Sunny in Oslo."}]
    assert resumed["inputDisabled"] is False
