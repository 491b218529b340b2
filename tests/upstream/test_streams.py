"""Streamed calls: the request built here (`app/upstream/streams.py`) is what the SDK's methods send."""

from __future__ import annotations

from app.engines.base import ToolOutput
from tests.fakes.app_support import ASSISTANT_ID, make_settings
from tests.fakes.fake_assistant_streams import StreamScript
from tests.fakes.fake_openai import FakeOpenAI


async def test_streamed_runs_and_tool_outputs_send_what_the_sdk_methods_send(app_client, fake: FakeOpenAI) -> None:
    """The streamed calls send the body built here on the SDK client's HTTP client (no typed events)."""
    ours, theirs = fake.add_thread(), fake.add_thread()
    fake.stream_script = StreamScript(function_call=("get_weather", '{"location":"Oslo"}'))  # the next run only
    async with app_client() as client:
        engine = client.app.state.engine
        events = [e async for e in await engine.stream_run(ours, "Weather?", "marker-1")]
        run_id = events[0].data["id"]
        call_id = events[-1].data["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]
        after = [e.event async for e in await engine.submit_tool_outputs(ours, run_id, [ToolOutput(call_id, "12 C")])]

        sdk = client.app.state.upstream.sdk
        fake.stream_script = StreamScript(function_call=("get_weather", '{"location":"Oslo"}'))
        stream = await sdk.beta.threads.runs.create(
            theirs,
            assistant_id=ASSISTANT_ID,
            model="gpt-4o-mini",
            additional_messages=[{"role": "user", "content": "Weather?"}],
            max_completion_tokens=make_settings().max_completion_tokens,
            truncation_strategy={"type": "last_messages", "last_messages": make_settings().truncation_last_messages},
            metadata={"chat_backend_request": "marker-1"},
            stream=True,
        )
        sdk_events = [e async for e in stream]
        sdk_run_id = sdk_events[0].data.id
        sdk_call_id = sdk_events[-1].data.required_action.submit_tool_outputs.tool_calls[0].id
        async for _ in await sdk.beta.threads.runs.submit_tool_outputs(
            sdk_run_id, thread_id=theirs, tool_outputs=[{"tool_call_id": sdk_call_id, "output": "12 C"}], stream=True
        ):
            pass

    assert [e.event for e in events][-1] == "thread.run.requires_action"
    assert after[-1] == "thread.run.completed"
    [sent] = fake.requests_to("POST", f"/threads/{ours}/runs")
    [expected] = fake.requests_to("POST", f"/threads/{theirs}/runs")
    assert sent.body == expected.body
    assert sent.headers["openai-beta"] == expected.headers["openai-beta"] == "assistants=v2"
    [submitted] = fake.requests_to("POST", f"/runs/{run_id}/submit_tool_outputs")
    [sdk_submitted] = fake.requests_to("POST", f"/runs/{sdk_run_id}/submit_tool_outputs")
    assert sdk_submitted.body["tool_outputs"] == [{"tool_call_id": sdk_call_id, "output": "12 C"}]
    assert submitted.body == {**sdk_submitted.body, "tool_outputs": [{"tool_call_id": call_id, "output": "12 C"}]}
    assert submitted.headers["openai-beta"] == "assistants=v2"
