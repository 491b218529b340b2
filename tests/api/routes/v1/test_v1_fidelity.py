"""/v1 as OpenAI answers, through the real openai SDK: `Invalid URL`, SDK objects as params, `usage` only once a run
has ended, the `openai-poll-after-ms` hint, and the defaults OpenAI reports (issue 20, items 11 and 13-16)."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from tests.api.routes.v1.sdk_support import WEATHER, openai_error_body, openai_sdk
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import FILE_SEARCH_REPORTED, hosted_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

POLL_AFTER = "openai-poll-after-ms"
OSLO_CALL = {"name": "get_weather", "arguments": '{"city": "Oslo"}', "call_id": "call_w1"}


async def test_an_unknown_path_or_method_is_openais_invalid_url(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        thread = await sdk.beta.threads.create()
        with pytest.raises(openai.NotFoundError) as unknown_path:
            await sdk.post(f"/threads/{thread.id}/nowhere", cast_to=object, body={})
        with pytest.raises(openai.NotFoundError) as wrong_method:
            await sdk.get("/threads", cast_to=object)  # POST only
        raw = await client.patch("/v1/assistants", json={})
    assert openai_error_body(unknown_path.value) == {
        "message": f"Invalid URL (POST /v1/threads/{thread.id}/nowhere)",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert openai_error_body(wrong_method.value)["message"] == "Invalid URL (GET /v1/threads)"
    assert raw.status_code == 404
    assert raw.json() == {
        "error": {
            "message": "Invalid URL (PATCH /v1/assistants)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


async def test_create_and_run_takes_the_sdks_own_objects_as_params(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini", tools=[{"type": "file_search"}, WEATHER])
        source = await sdk.beta.threads.create(metadata={"topic": "weather"})
        earlier = await sdk.beta.threads.runs.create_and_poll(
            thread_id=source.id, assistant_id=assistant.id, poll_interval_ms=5
        )
        # The SDK sends each object's fields as they were read, read-only ones (id, object, created_at) included.
        run = await sdk.beta.threads.create_and_run_poll(
            assistant_id=assistant.id,
            thread=source,  # type: ignore[arg-type]
            tools=assistant.tools,  # type: ignore[arg-type]
            truncation_strategy=earlier.truncation_strategy,  # type: ignore[arg-type]
            poll_interval_ms=5,
        )
        made = await sdk.beta.threads.retrieve(run.thread_id)
        with pytest.raises(openai.BadRequestError) as unknown:
            await sdk.beta.threads.create_and_run(
                assistant_id=assistant.id,
                thread={**source.model_dump(), "colour": "blue"},  # type: ignore[typeddict-unknown-key]
            )
    assert run.status == "completed"
    assert made.id != source.id
    assert made.metadata == {"topic": "weather"}
    assert run.tools == assistant.tools
    assert openai_error_body(unknown.value) == {
        "message": "Unrecognized request argument supplied: thread.colour",
        "type": "invalid_request_error",
        "param": "thread.colour",
        "code": "unknown_parameter",
    }


async def _weather_run(sdk: AsyncOpenAI) -> tuple[str, str]:
    """A thread asking for the weather, and the id of an assistant with the weather function."""
    assistant = await sdk.beta.assistants.create(model="gpt-4o-mini", tools=[WEATHER])
    thread = await sdk.beta.threads.create(messages=[{"role": "user", "content": "Weather in Oslo?"}])
    return thread.id, assistant.id


def _counts(usage: Any) -> tuple[int, int, int]:
    return usage.prompt_tokens, usage.completion_tokens, usage.total_tokens


async def test_usage_is_null_until_the_run_ends_and_its_steps_add_up_to_it(fake: FakeOpenAI) -> None:
    fake.models.plan(calls=[OSLO_CALL])
    fake.models.plan(reply="It is sunny in Oslo.")
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        thread_id, assistant_id = await _weather_run(sdk)
        waiting = await sdk.beta.threads.runs.create_and_poll(
            thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=5
        )
        waiting_steps = (await sdk.beta.threads.runs.steps.list(waiting.id, thread_id=thread_id)).data
        done = await sdk.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=waiting.id,
            thread_id=thread_id,
            tool_outputs=[{"tool_call_id": "call_w1", "output": "sunny"}],
            poll_interval_ms=5,
        )
        steps = (await sdk.beta.threads.runs.steps.list(done.id, thread_id=thread_id, order="asc")).data
    assert waiting.status == "requires_action"
    assert waiting.usage is None  # the first model call is counted once, when the run ends
    assert [(step.status, step.usage) for step in waiting_steps] == [("in_progress", None)]
    assert done.status == "completed"
    assert done.usage is not None
    assert [(step.type, step.status) for step in steps] == [
        ("tool_calls", "completed"),
        ("message_creation", "completed"),
    ]
    step_counts = [_counts(step.usage) for step in steps]
    assert all(total > 0 for _, _, total in step_counts)
    assert tuple(map(sum, zip(*step_counts, strict=True))) == _counts(done.usage)


async def test_streamed_runs_show_usage_only_on_their_end(fake: FakeOpenAI) -> None:
    fake.models.plan(calls=[OSLO_CALL])
    fake.models.plan(reply="It is sunny in Oslo.")
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        thread_id, assistant_id = await _weather_run(sdk)
        async with sdk.beta.threads.runs.stream(thread_id=thread_id, assistant_id=assistant_id) as first:
            first_events = [event async for event in first]
        run_id = first_events[0].data.id
        async with sdk.beta.threads.runs.submit_tool_outputs_stream(
            run_id=run_id, thread_id=thread_id, tool_outputs=[{"tool_call_id": "call_w1", "output": "sunny"}]
        ) as second:
            second_events = [event async for event in second]
    events = first_events + second_events
    runs = [
        (e.event, e.data.usage) for e in events if e.event.startswith("thread.run.") and e.data.object == "thread.run"
    ]
    *unfinished, (last, usage) = runs
    assert "thread.run.requires_action" in [event for event, _ in unfinished]
    assert [usage for _, usage in unfinished] == [None] * len(unfinished)
    assert last == "thread.run.completed"
    assert usage is not None
    completed_steps = [e.data for e in second_events if e.event == "thread.run.step.completed"]
    assert [step.type for step in completed_steps] == ["tool_calls", "message_creation"]
    assert all(step.usage is not None and step.usage.total_tokens > 0 for step in completed_steps)


async def test_run_answers_carry_the_poll_hint_while_the_run_goes_on(fake: FakeOpenAI) -> None:
    first_call, second_call, third_call = asyncio.Event(), asyncio.Event(), asyncio.Event()
    fake.models.plan(gate=first_call)
    fake.models.plan(calls=[OSLO_CALL])
    fake.models.plan(gate=second_call)
    fake.models.plan(gate=third_call)
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        runs = sdk.beta.threads.runs
        thread_id, assistant_id = await _weather_run(sdk)
        created = await runs.with_raw_response.create(thread_id=thread_id, assistant_id=assistant_id)
        running = await runs.with_raw_response.retrieve(created.parse().id, thread_id=thread_id)
        first_call.set()
        finished = await runs.poll(created.parse().id, thread_id=thread_id, poll_interval_ms=5)
        after = await runs.with_raw_response.retrieve(finished.id, thread_id=thread_id)

        waiting = await runs.create_and_poll(thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=5)
        waiting_answer = await runs.with_raw_response.retrieve(waiting.id, thread_id=thread_id)
        submitted = await runs.with_raw_response.submit_tool_outputs(
            run_id=waiting.id, thread_id=thread_id, tool_outputs=[{"tool_call_id": "call_w1", "output": "sunny"}]
        )
        second_call.set()
        await runs.poll(waiting.id, thread_id=thread_id, poll_interval_ms=5)

        both = await sdk.beta.threads.with_raw_response.create_and_run(
            assistant_id=assistant_id, extra_headers={"Idempotency-Key": "poll-hint-1"}
        )
        replayed = await sdk.beta.threads.with_raw_response.create_and_run(
            assistant_id=assistant_id, extra_headers={"Idempotency-Key": "poll-hint-1"}
        )
        cancelled = await runs.with_raw_response.cancel(both.parse().id, thread_id=both.parse().thread_id)
        third_call.set()

    answers = {
        "create": created,
        "retrieve while running": running,
        "submit_tool_outputs": submitted,
        "create_and_run": both,
        "create_and_run replayed": replayed,
    }
    assert {name: answer.parse().status for name, answer in answers.items()} == {
        "create": "queued",
        "retrieve while running": running.parse().status,
        "submit_tool_outputs": "queued",
        "create_and_run": "queued",
        "create_and_run replayed": "queued",
    }
    assert running.parse().status in ("queued", "in_progress")
    assert {name: answer.headers.get(POLL_AFTER) for name, answer in answers.items()} == dict.fromkeys(answers, "200")
    # No hint once the run has ended, nor while it waits for tool outputs (a poller returns then).
    assert after.parse().status == "completed"
    assert waiting_answer.parse().status == "requires_action"
    assert cancelled.parse().status == "cancelled"
    assert [answer.headers.get(POLL_AFTER) for answer in (after, waiting_answer, cancelled)] == [None] * 3


async def test_defaults_are_reported_as_openai_reports_them(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        assistant = await sdk.beta.assistants.create(
            model="gpt-4o-mini", tools=[{"type": "file_search"}, WEATHER, {"type": "code_interpreter"}]
        )
        raw = (await client.get(f"/v1/assistants/{assistant.id}")).json()
        thread = await sdk.beta.threads.create(messages=[{"role": "user", "content": "Hello"}])
        run = await sdk.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=5
        )
    assert (assistant.temperature, assistant.top_p) == (1.0, 1.0)
    assert (run.temperature, run.top_p) == (1.0, 1.0)
    assert raw["tools"] == [
        FILE_SEARCH_REPORTED,
        {"type": "function", "function": {**WEATHER["function"], "strict": False}},
        {"type": "code_interpreter"},
    ]
    assert run.tools == assistant.tools
    # Reported, not sent: the model server keeps its own defaults.
    assert not {"temperature", "top_p"} & set(fake.models.calls[-1].body)
