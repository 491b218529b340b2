"""/v1 run options: sampling, response format, tool choice and limits reach the model, and show on the run."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.api.routes.v1.sdk_support import WEATHER, openai_sdk
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}


def _messages(count: int) -> list[Any]:
    return [{"role": "user", "content": f"message {n}"} for n in range(count)]


@pytest.mark.parametrize("model_api", ["responses", "chat_completions"])
async def test_the_runs_options_reach_the_model_and_show_on_the_run(fake: FakeOpenAI, model_api: str) -> None:
    async with hosted_app(fake, hosted_model_api=model_api) as client, openai_sdk(client) as sdk:
        assistant = await sdk.beta.assistants.create(
            model="gpt-4o-mini", tools=[WEATHER], temperature=0.2, top_p=0.5, response_format={"type": "json_object"}
        )
        assert (assistant.temperature, assistant.top_p) == (0.2, 0.5)
        assert assistant.response_format.type == "json_object"  # type: ignore[union-attr]
        thread = await sdk.beta.threads.create(messages=_messages(4))
        run = await sdk.beta.threads.runs.create_and_poll(
            thread_id=thread.id,
            assistant_id=assistant.id,
            temperature=0.7,
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
            parallel_tool_calls=False,
            max_completion_tokens=300,
            max_prompt_tokens=2000,
            truncation_strategy={"type": "last_messages", "last_messages": 2},
            poll_interval_ms=5,
        )
        assert run.status == "requires_action"  # the forced function called
        assert run.required_action is not None
        [forced] = run.required_action.submit_tool_outputs.tool_calls
        assert forced.function.name == "get_weather"
        call = fake.models.calls[-1]
        run = await sdk.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": forced.id, "output": "sunny"}]
        )
        assert run.status == "completed"
        assert (run.temperature, run.top_p, run.max_completion_tokens, run.max_prompt_tokens) == (0.7, 0.5, 300, 2000)
        assert run.tool_choice.type == "function"  # type: ignore[union-attr]
        assert run.parallel_tool_calls is False
        assert run.truncation_strategy.model_dump() == {"type": "last_messages", "last_messages": 2}
        assert run.response_format.type == "json_object"  # type: ignore[union-attr]
        assert (call.body["temperature"], call.body["top_p"], call.body["parallel_tool_calls"]) == (0.7, 0.5, False)
        assert [text for _, text in call.turns] == ["message 2", "message 3"]
        if model_api == "responses":
            assert call.body["max_output_tokens"] == 300
            assert call.body["tool_choice"] == {"type": "function", "name": "get_weather"}
            assert call.body["text"] == {"format": {"type": "json_object"}}
        else:
            assert call.body["max_tokens"] == 300
            assert call.body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
            assert call.body["response_format"] == {"type": "json_object"}


async def test_a_json_schema_format_and_auto_over_the_assistants_defaults(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini", response_format={"type": "json_object"})
        thread = await sdk.beta.threads.create(messages=_messages(1))
        json_format: Any = {"type": "json_schema", "json_schema": {"name": "reply", "schema": SCHEMA, "strict": True}}
        run = await sdk.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, response_format=json_format, poll_interval_ms=5
        )
        assert run.response_format.model_dump(exclude_none=True, by_alias=True) == json_format  # type: ignore[union-attr]
        body = fake.models.calls[-1].body
        assert body["text"] == {"format": {"type": "json_schema", "name": "reply", "schema": SCHEMA, "strict": True}}
        assert "temperature" not in body
        assert "top_p" not in body
        assert "tool_choice" not in body  # no tools: nothing to choose
        plain = await sdk.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, response_format="auto", poll_interval_ms=5
        )
        assert plain.response_format == "auto"
        assert "text" not in fake.models.calls[-1].body


async def test_limits_lower_the_services_never_raise_them(fake: FakeOpenAI) -> None:
    async with (
        hosted_app(fake, max_completion_tokens=500, truncation_last_messages=3) as client,
        openai_sdk(client) as sdk,
    ):
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini")
        thread = await sdk.beta.threads.create(messages=_messages(5))
        run = await sdk.beta.threads.runs.create_and_poll(
            thread_id=thread.id,
            assistant_id=assistant.id,
            max_completion_tokens=4000,
            truncation_strategy={"type": "last_messages", "last_messages": 50},
            poll_interval_ms=5,
        )
        assert run.max_completion_tokens == 500
        assert run.truncation_strategy.last_messages == 3  # type: ignore[union-attr]
        assert fake.models.calls[-1].body["max_output_tokens"] == 500
        assert len(fake.models.calls[-1].turns) == 3
        auto = await sdk.beta.threads.runs.create_and_poll(
            thread_id=thread.id,
            assistant_id=assistant.id,
            truncation_strategy={"type": "auto", "last_messages": 1},  # auto: the service's setting
            poll_interval_ms=5,
        )
        assert auto.truncation_strategy.model_dump() == {"type": "auto", "last_messages": None}
        assert len(fake.models.calls[-1].turns) == 3


async def test_a_forced_tool_choice_binds_the_first_call_only(fake: FakeOpenAI) -> None:
    fake.models.flavour = "openai"  # llama.cpp's servers do not honour "required" (test_tool_choice.py)
    fake.models.plan(calls=[{"name": "get_weather", "arguments": '{"city":"Oslo"}', "call_id": "call_1"}])
    fake.models.plan(reply="Sunny.")
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini", tools=[WEATHER])
        thread = await sdk.beta.threads.create(messages=_messages(1))
        run = await sdk.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, tool_choice="required", poll_interval_ms=5
        )
        assert run.status == "requires_action"
        assert fake.models.calls[-1].body["tool_choice"] == "required"
        done = await sdk.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": "call_1", "output": "sunny"}]
        )
        assert done.status == "completed"
        assert done.tool_choice == "required"
        assert fake.models.calls[-1].body["tool_choice"] == "auto"  # said, as llama-cpp-python needs


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"temperature": 3}, "temperature"),
        ({"top_p": -0.1}, "top_p"),
        ({"max_completion_tokens": 10}, "max_completion_tokens"),
        ({"truncation_strategy": {"type": "last_messages"}}, "truncation_strategy"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"tool_choice": {"type": "function", "function": {"name": "nowhere"}}}, "tool_choice"),
        ({"tool_choice": {"type": "file_search"}}, "tool_choice"),
        ({"response_format": {"type": "json_schema"}}, "response_format"),
    ],
)
async def test_a_bad_option_is_a_400_naming_it_and_starts_nothing(
    fake: FakeOpenAI, options: dict[str, Any], param: str
) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini", tools=[WEATHER])
        thread = await sdk.beta.threads.create(messages=_messages(1))
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, **options)
        error = refused.value.body
        assert isinstance(error, dict)
        assert str(error["param"]).startswith(param)
        assert (await sdk.beta.threads.runs.list(thread.id)).data == []
        assert fake.models.calls == []
        # The thread is free at once: the refusal held nothing.
        await sdk.beta.threads.messages.create(thread.id, role="user", content="next")
