"""A forced tool_choice is sent as the object OpenAI defines, and checked: an answer that does not call the
function (llama-server ignores a named choice; llama.cpp's servers do not honour "required") fails the run
`tool_choice_not_honoured`, or as the server failed, and never claims a call that did not happen."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.routes.v1.sdk_support import WEATHER, openai_sdk
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NAMED: Any = {"type": "function", "function": {"name": "get_weather"}}


async def _forced_run(fake: FakeOpenAI, api: str, tool_choice: Any) -> Any:
    async with hosted_app(fake, hosted_model_api=api) as client, openai_sdk(client) as sdk:
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini", tools=[WEATHER])
        thread = await sdk.beta.threads.create(messages=[{"role": "user", "content": "Weather in Oslo?"}])
        run = await sdk.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, tool_choice=tool_choice, poll_interval_ms=5
        )
        steps = await sdk.beta.threads.runs.steps.list(run.id, thread_id=thread.id)
        messages = await sdk.beta.threads.messages.list(thread.id, order="asc")
    return run, steps.data, [m.content[0].text.value for m in messages.data]  # type: ignore[union-attr]


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
async def test_a_named_tool_choice_llama_server_ignores_fails_the_run_by_name(fake: FakeOpenAI, api: str) -> None:
    fake.models.flavour = "llama-server"  # takes only strings: answers text
    run, steps, texts = await _forced_run(fake, api, NAMED)
    sent = fake.models.calls[0].body["tool_choice"]
    assert sent == ({"type": "function", "name": "get_weather"} if api == "responses" else NAMED)
    assert run.status == "failed"
    assert run.last_error.code == "tool_choice_not_honoured"
    assert "get_weather" in run.last_error.message
    assert run.required_action is None  # no forced call claimed
    assert not [step for step in steps if step.type == "tool_calls"]
    assert texts[-1].startswith("Echo: ")  # what it wrote stays visible


@pytest.mark.parametrize("flavour", ["strict", "openai", "llama-cpp-python"])
async def test_a_named_tool_choice_honoured_is_the_call_the_run_waits_for(fake: FakeOpenAI, flavour: str) -> None:
    fake.models.flavour = flavour  # type: ignore[assignment]
    run, _, _ = await _forced_run(fake, "chat_completions", NAMED)
    assert run.status == "requires_action"
    [call] = run.required_action.submit_tool_outputs.tool_calls
    assert call.function.name == "get_weather"


async def test_required_on_llama_cpp_python_fails_saying_the_model_returned_nothing(fake: FakeOpenAI) -> None:
    fake.models.flavour = "llama-cpp-python"  # its function-calling format asserts: an empty 200 stream
    run, _, _ = await _forced_run(fake, "chat_completions", "required")
    assert run.status == "failed"
    assert (run.last_error.code, run.last_error.message) == ("server_error", "The model returned nothing.")
    assert len(fake.models.calls) == 1  # far from the context budget: not an overflow, not retried


async def test_required_on_llama_server_fails_as_the_server_did_keeping_the_text(fake: FakeOpenAI) -> None:
    fake.models.flavour = "llama-server"  # its template's parser fails mid-stream: an error event
    run, _, texts = await _forced_run(fake, "chat_completions", "required")
    assert run.status == "failed"
    assert run.last_error.code == "server_error"
    assert run.last_error.message == "The model server reported an error while answering."
    assert texts[-1] == "Echo: Weather"  # the two pieces streamed before the error
