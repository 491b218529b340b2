"""A tool call cut off at the token limit (its arguments are not JSON) never reaches the client as
`requires_action`: on /v1 the run ends `incomplete` with OpenAI's `incomplete_details`; on the Next.js route
(openai-node 4.46 does not know `thread.run.incomplete`) it ends as failures do there: a visible message,
then `thread.run.completed`. The pieces streamed stay on the run's step."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.routes.v1.sdk_support import WEATHER, openai_sdk
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CUT = '{"city": "Os'
SERVERS = [
    pytest.param("responses", "strict", id="responses-incomplete"),
    pytest.param("chat_completions", "strict", id="chat-finish-length"),
    # llama-cpp-python says finish_reason "tool_calls" with the arguments unterminated.
    pytest.param("chat_completions", "llama-cpp-python", id="chat-llama-cpp-python"),
]


@pytest.mark.parametrize(("api", "flavour"), SERVERS)
async def test_on_v1_the_run_ends_incomplete_and_keeps_the_pieces(fake: FakeOpenAI, api: str, flavour: Any) -> None:
    fake.models.flavour = flavour
    fake.models.plan(calls=[{"name": "get_weather", "arguments": CUT, "call_id": "call_cut"}], finish="incomplete")
    async with hosted_app(fake, hosted_model_api=api) as client, openai_sdk(client) as sdk:
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini", tools=[WEATHER])
        thread = await sdk.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
        run = await sdk.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=5
        )
        steps = await sdk.beta.threads.runs.steps.list(run.id, thread_id=thread.id)
        after = await sdk.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=5
        )
    assert run.status == "incomplete"
    assert run.incomplete_details is not None
    assert run.incomplete_details.reason == "max_completion_tokens"
    assert run.required_action is None
    assert run.last_error is None
    [step] = steps.data
    assert (step.type, step.status) == ("tool_calls", "failed")
    [call] = step.step_details.tool_calls  # type: ignore[union-attr]
    assert (call.id, call.function.name, call.function.arguments) == ("call_cut", "get_weather", CUT)  # type: ignore[union-attr]
    assert after.status == "completed"  # the thread is free


async def test_on_the_nextjs_route_it_ends_with_a_visible_message_and_run_completed(fake: FakeOpenAI) -> None:
    fake.models.plan(calls=[{"name": "get_weather", "arguments": CUT}], finish="incomplete")
    async with hosted_app(fake, hosted_model_api="chat_completions") as client:
        engine = client.app.state.engine  # type: ignore[attr-defined]
        engine.hosted().runs.function_tools = (WEATHER,)
        thread_id = (await client.post("/api/assistants/threads")).json()["threadId"]
        body = json.dumps({"content": "Weather?"}).encode()
        response = await client.post(f"/api/assistants/threads/{thread_id}/messages", content=body)
    lines = [json.loads(line) for line in response.content.splitlines() if line]
    events = [line["event"] for line in lines]
    assert "thread.run.requires_action" not in events
    assert "thread.run.incomplete" not in events  # unknown to openai-node 4.46
    assert events[-1] == "thread.run.completed"
    shown = [line["data"] for line in lines if line["event"] == "thread.message.completed"][-1]
    assert (
        shown["content"][0]["text"]["value"] == "The reply was cut off at max_completion_tokens before it was complete."
    )
