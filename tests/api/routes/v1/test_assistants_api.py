"""The OpenAI-compatible Assistants API (/v1) driven by the real openai SDK: assistants, threads, messages, runs."""

from __future__ import annotations

import asyncio

import pytest
from openai import AsyncAssistantEventHandler
from openai.types.beta import AssistantStreamEvent

from tests.api.routes.v1.sdk_support import WEATHER, openai_sdk
from tests.fakes.fake_models import ECHO_PREFIX
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_app

# The SDK marks its Assistants API as deprecated: that API is what these tests drive.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def test_assistants_crud_and_list_pages(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        made = [
            await sdk.beta.assistants.create(model="gpt-4o-mini", name=f"A{n}", instructions="Be brief.")
            for n in range(3)
        ]
        assert made[0].object == "assistant"
        assert made[0].instructions == "Be brief."
        first = await sdk.beta.assistants.list(limit=2, order="asc")
        ids = [a.id for a in first.data]
        assert first.has_more is True
        assert first.first_id == ids[0]
        assert first.last_id == ids[1]
        everything = [a.id async for a in sdk.beta.assistants.list(limit=2, order="asc")]
        assert [a.id for a in made] == [i for i in everything if i in {a.id for a in made}]
        updated = await sdk.beta.assistants.update(made[1].id, name="renamed", metadata={"k": "v"})
        assert (updated.name, updated.metadata, updated.model) == ("renamed", {"k": "v"}, "gpt-4o-mini")
        assert (await sdk.beta.assistants.retrieve(made[1].id)).name == "renamed"
        deleted = await sdk.beta.assistants.delete(made[2].id)
        assert deleted.deleted is True
        assert deleted.id == made[2].id


async def test_threads_and_messages(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        thread = await sdk.beta.threads.create(
            messages=[
                {"role": "user", "content": "first"},
                {"role": "user", "content": [{"type": "text", "text": "sec"}, {"type": "text", "text": "ond"}]},
            ],
            metadata={"topic": "test"},
        )
        assert thread.object == "thread"
        assert thread.metadata == {"topic": "test"}
        added = await sdk.beta.threads.messages.create(thread.id, role="user", content="third", metadata={"m": "1"})
        assert added.metadata == {"m": "1"}
        assert added.content[0].text.value == "third"
        page = await sdk.beta.threads.messages.list(thread.id, order="asc", limit=2)
        texts = [m.content[0].text.value for m in page.data]  # type: ignore[union-attr]
        assert texts == ["first", "second"]
        assert page.has_more is True
        rest = await sdk.beta.threads.messages.list(thread.id, order="asc", after=page.last_id)
        assert [m.id for m in rest.data] == [added.id]
        before = await sdk.beta.threads.messages.list(thread.id, order="asc", before=added.id, limit=1)
        assert [m.id for m in before.data] == [page.data[1].id]
        assert (await sdk.beta.threads.messages.retrieve(added.id, thread_id=thread.id)).role == "user"
        updated = await sdk.beta.threads.update(thread.id, metadata={"topic": "new"})
        assert (await sdk.beta.threads.retrieve(thread.id)).metadata == updated.metadata == {"topic": "new"}
        assert (await sdk.beta.threads.delete(thread.id)).deleted is True
        with pytest.raises(Exception, match=f"No thread found with id '{thread.id}'"):
            await sdk.beta.threads.retrieve(thread.id)


async def test_create_and_poll_uses_the_requested_assistant_and_options(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        assistant = await sdk.beta.assistants.create(model="my-model", instructions="Be a pirate.")
        thread = await sdk.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
        run = await sdk.beta.threads.runs.create_and_poll(
            thread_id=thread.id,
            assistant_id=assistant.id,
            additional_instructions="Say arr.",
            additional_messages=[{"role": "user", "content": "hello there"}],
            metadata={"r": "1"},
            poll_interval_ms=5,
        )
        assert (run.status, run.assistant_id, run.model, run.metadata) == (
            "completed",
            assistant.id,
            "my-model",
            {"r": "1"},
        )
        call = fake.models.calls[-1]
        assert call.body["model"] == "my-model"
        assert call.instructions == "Be a pirate.\n\nSay arr."
        reply = await sdk.beta.threads.messages.list(thread.id, run_id=run.id)
        assert [m.content[0].text.value for m in reply.data] == [ECHO_PREFIX + "hello there"]  # type: ignore[union-attr]
        assert reply.data[0].assistant_id == assistant.id
        runs = await sdk.beta.threads.runs.list(thread.id)
        assert [r.id for r in runs.data] == [run.id]
        steps = await sdk.beta.threads.runs.steps.list(run.id, thread_id=thread.id)
        assert [s.type for s in steps.data] == ["message_creation"]
        step = await sdk.beta.threads.runs.steps.retrieve(steps.data[0].id, thread_id=thread.id, run_id=run.id)
        assert step.id == steps.data[0].id
        assert step.assistant_id == assistant.id
        # Create thread and run in one call.
        both = await sdk.beta.threads.create_and_run_poll(
            assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "one go"}]}, poll_interval_ms=5
        )
        assert both.status == "completed"
        texts = [m.content[0].text.value for m in (await sdk.beta.threads.messages.list(both.thread_id)).data]  # type: ignore[union-attr]
        assert texts == [ECHO_PREFIX + "one go", "one go"]


async def test_streamed_run_with_a_function_call_and_streamed_outputs(fake: FakeOpenAI) -> None:
    fake.models.plan(calls=[{"name": "get_weather", "arguments": '{"city":"Oslo"}', "call_id": "call_w1"}])
    fake.models.plan(reply="Sunny in Oslo.")
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini", tools=[WEATHER])  # type: ignore[list-item]
        thread = await sdk.beta.threads.create(messages=[{"role": "user", "content": "Weather?"}])
        seen: list[str] = []

        class Handler(AsyncAssistantEventHandler):
            async def on_event(self, event: AssistantStreamEvent) -> None:
                seen.append(event.event)

        async with sdk.beta.threads.runs.stream(
            thread_id=thread.id, assistant_id=assistant.id, event_handler=Handler()
        ) as stream:
            await stream.until_done()
            run = await stream.get_final_run()
        assert seen[0] == "thread.run.created"
        assert seen[-1] == "thread.run.requires_action"
        assert "thread.run.step.delta" in seen
        assert run.status == "requires_action"
        call = run.required_action.submit_tool_outputs.tool_calls[0]  # type: ignore[union-attr]
        assert (call.id, call.function.name) == ("call_w1", "get_weather")
        async with sdk.beta.threads.runs.submit_tool_outputs_stream(
            thread_id=thread.id, run_id=run.id, tool_outputs=[{"tool_call_id": "call_w1", "output": "sunny"}]
        ) as continued:
            text = "".join([delta async for delta in continued.text_deltas])
            final = await continued.get_final_run()
        assert text == "Sunny in Oslo."
        assert final.status == "completed"
        steps = await sdk.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc")
        assert [s.type for s in steps.data] == ["tool_calls", "message_creation"]


async def test_not_streamed_tool_outputs(fake: FakeOpenAI) -> None:
    fake.models.plan(calls=[{"name": "get_weather", "arguments": "{}", "call_id": "call_1"}])
    fake.models.plan(reply="Done.")
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini", tools=[WEATHER])  # type: ignore[list-item]
        thread = await sdk.beta.threads.create(messages=[{"role": "user", "content": "go"}])
        run = await sdk.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=5
        )
        assert run.status == "requires_action"
        done = await sdk.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": "call_1", "output": "ok"}],
            poll_interval_ms=5,
        )
        assert done.status == "completed"


async def test_cancel_and_the_active_run_refusal(fake: FakeOpenAI) -> None:
    import openai

    gate = asyncio.Event()
    fake.models.plan(gate=gate)
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini")
        thread = await sdk.beta.threads.create(messages=[{"role": "user", "content": "wait"}])
        run = await sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        assert run.status == "queued"
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        assert refused.value.body["message"] == f"Thread {thread.id} already has an active run {run.id}."  # type: ignore[index]
        with pytest.raises(openai.BadRequestError):
            await sdk.beta.threads.messages.create(thread.id, role="user", content="more")
        cancelled = await sdk.beta.threads.runs.cancel(run.id, thread_id=thread.id)
        assert cancelled.status == "cancelled"
        gate.set()
