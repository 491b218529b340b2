"""A model's file_search call is a run step, streamed as the Assistants API streams it: a tool_calls step
with a `file_search` call, and its step events, so openai-python's `on_tool_call_created` fires."""

from __future__ import annotations

import pytest
from openai import AsyncAssistantEventHandler
from openai.types.beta.threads.runs import ToolCall

from tests.api.routes.v1.sdk_support import openai_sdk
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def test_a_file_search_call_is_a_step_with_its_events(fake: FakeOpenAI) -> None:
    fake.models.plan(search=["opening hours"], reply="We open at nine.")
    async with hosted_app(fake, openai_vector_store_id="vs_docs") as client, openai_sdk(client) as sdk:
        thread = await sdk.beta.threads.create(messages=[{"role": "user", "content": "When do you open?"}])
        created: list[ToolCall] = []
        done: list[ToolCall] = []

        class Handler(AsyncAssistantEventHandler):
            async def on_tool_call_created(self, tool_call: ToolCall) -> None:
                created.append(tool_call)

            async def on_tool_call_done(self, tool_call: ToolCall) -> None:
                done.append(tool_call)

        async with sdk.beta.threads.runs.stream(
            thread_id=thread.id, assistant_id="asst_default", event_handler=Handler()
        ) as stream:
            await stream.until_done()
            run = await stream.get_final_run()
        steps = await sdk.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc")

    assert run.status == "completed"
    assert [call.type for call in created] == ["file_search"]
    assert done[0].type == "file_search"  # (the SDK repeats it at each later step's completion)
    assert [step.type for step in steps.data] == ["tool_calls", "message_creation"]
    search_step = steps.data[0]
    assert search_step.status == "completed"
    [call] = search_step.step_details.tool_calls  # type: ignore[union-attr]
    assert call.type == "file_search"
    assert call.id == created[0].id
    assert call.id.startswith("call_")
    assert search_step.usage is not None
    assert search_step.usage.total_tokens == 0  # the model call's tokens are on its reply's step
    assert fake.models.calls[0].body["tools"] == [{"type": "file_search", "vector_store_ids": ["vs_docs"]}]
