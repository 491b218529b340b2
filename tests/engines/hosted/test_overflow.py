"""A thread never sticks on the model's context: a refusal (OpenAI's context_length_exceeded, llama-server's 400)
or an empty stream near the budget is retried once with the history cut to the server's counts; a run that
still overflows fails `context_length_exceeded`, and the next message on the thread works."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from app.engines.hosted.history import TOOLS_PREAMBLE, fit_history
from app.engines.hosted.model_errors import ContextOverflow, failure_from
from app.errors import UpstreamRejected
from app.storage.threads import MessageRecord, RunRecord
from tests.fakes.fake_model_rules import count_tokens
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_engine, wait_for_run

APIS = ["responses", "chat_completions"]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["location"],
        },
    },
}


def _run(**fields: Any) -> RunRecord:
    return RunRecord(
        id="run_1",
        thread_id="thread_1",
        status="in_progress",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        model="m",
        instructions="Be brief.",
        max_completion_tokens=100,
        truncation_last_messages=10,
        lease_expires_at=None,
        expires_at=None,
        max_prompt_tokens=8000,
        **fields,
    )


def _hi() -> list[MessageRecord]:
    return [MessageRecord("msg_1", "thread_1", 1, "user", "hi", datetime(2026, 1, 1, tzinfo=UTC))]


def _refusal(message: str, status: int = 400) -> ContextOverflow | None:
    failure = failure_from(UpstreamRejected(upstream_status=status, upstream_message=message))
    return failure if isinstance(failure, ContextOverflow) else None


def test_overflows_are_recognised_by_status_and_wording_with_the_servers_counts() -> None:
    llama = _refusal("the request exceeds the available context size (512 tokens), try increasing it")
    assert llama is not None
    assert (llama.code, llama.context_tokens, llama.prompt_tokens) == ("context_length_exceeded", 512, None)
    openai_chat = _refusal(
        "This model's maximum context length is 8192 tokens. However, you requested 9000 tokens "
        "(8000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion."
    )
    assert openai_chat is not None
    assert (openai_chat.context_tokens, openai_chat.prompt_tokens) == (8192, 8000)
    openai_responses = _refusal("Your input exceeds the context window of this model. Please adjust your input.")
    assert openai_responses is not None
    assert (openai_responses.context_tokens, openai_responses.prompt_tokens) == (None, None)
    assert _refusal("Cannot determine type of 'item'") is None  # a 400, but not about the context
    assert _refusal("the request exceeds the available context size (512 tokens)", status=500) is None


def test_the_estimate_leaves_room_for_the_tools_preamble_and_the_template() -> None:
    tools = (WEATHER, {**WEATHER, "function": {**WEATHER["function"], "name": "get_time"}})
    with_tools = fit_history(_run(tools=tools), _hi(), 8000)
    without = fit_history(_run(tools=()), _hi(), 8000)
    # llama-cpp-python's function-calling prompt for two such tools was 816 tokens (README of real-servers).
    assert with_tools.estimated_tokens - without.estimated_tokens >= TOOLS_PREAMBLE
    worst = fit_history(_run(tools=tools), _hi(), 8000, bytes_per_token=1)
    assert worst.estimated_tokens - without.estimated_tokens > 816


async def _converse(engine: Any, thread_id: str, texts: list[str]) -> list[Any]:
    runs = []
    for text in texts:
        ref = await engine.start_run(thread_id, text)
        runs.append(await wait_for_run(engine, thread_id, ref.run_id))
    return runs


async def _thread(fake: FakeOpenAI, server: tuple[Any, int], texts: list[str], **settings: Any) -> list[str]:
    """The runs' statuses of a thread of `texts` on a model `server` (flavour, context tokens)."""
    fake.models.flavour, fake.models.context_tokens = server
    async with hosted_engine(fake, **settings) as engine:
        runs = await _converse(engine, await engine.create_thread(), texts)
    return [run.status for run in runs]


@pytest.mark.parametrize("api", APIS)
async def test_llama_server_overflow_is_retried_cut_to_its_context_once_and_then_fitted(
    fake: FakeOpenAI, api: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.engines.hosted")
    texts = [f"{n} " + "x" * 100 for n in range(10)]
    statuses = await _thread(fake, ("llama-server", 1024), texts, hosted_model_api=api)
    outcomes = [call.outcome for call in fake.models.calls]
    assert statuses == ["completed"] * 10
    assert outcomes.count("http_400") == 1  # once: later runs are cut to the context before they are sent
    refused = outcomes.index("http_400")
    assert outcomes[refused + 1] == "completed"  # the retry, same run
    assert len(fake.models.calls) == 11
    assert all(count_tokens(call.body) < 1024 for call in fake.models.calls[refused + 1 :])
    assert fake.models.calls[-1].turns[-1] == ("user", "9 " + "x" * 100)
    assert "context 1024 tokens" in caplog.text
    assert "exceeds the available context size (1024 tokens)" in caplog.text  # the server's text: in the log


@pytest.mark.parametrize("api", APIS)
async def test_a_message_too_long_for_the_servers_context_fails_and_the_next_message_works(
    fake: FakeOpenAI, api: str
) -> None:
    fake.models.flavour, fake.models.context_tokens = "llama-server", 400
    async with hosted_engine(fake, hosted_model_api=api) as engine:
        thread_id = await engine.create_thread()
        failed, after = await _converse(engine, thread_id, ["y" * 700, "a short one"])
    assert failed.status == "failed"
    assert failed.last_error is not None
    assert failed.last_error.code == "context_length_exceeded"
    assert failed.last_error.message == (
        "The conversation is too long for the model's context, its last message alone does not fit."
    )
    assert "available context size" not in failed.last_error.message
    assert after.status == "completed"
    assert [call.outcome for call in fake.models.calls] == ["http_400", "completed"]  # no hopeless retry
    assert fake.models.calls[-1].turns == [("user", "a short one")]


@pytest.mark.parametrize("api", APIS)
async def test_an_overflow_the_retry_does_not_cure_fails_context_length_exceeded(
    fake: FakeOpenAI, api: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app.engines.hosted")
    async with hosted_engine(fake, hosted_model_api=api) as engine:
        thread_id = await engine.create_thread()
        await _converse(engine, thread_id, ["one " * 50, "two " * 50])
        for _ in range(2):  # refused, then refused again with the history halved (no counts said)
            fake.models.plan(context_chars=100)
        failed, after = await _converse(engine, thread_id, ["three", "four"])
    assert failed.status == "failed"
    assert failed.last_error is not None
    assert failed.last_error.code == "context_length_exceeded"
    assert "even cut to its last messages" in failed.last_error.message
    first, retry = fake.models.calls[2:4]
    assert (first.outcome, retry.outcome) == ("http_400", "http_400")
    assert len(retry.turns) < len(first.turns)
    assert after.status == "completed"
    assert "retrying with" in caplog.text


async def test_openai_context_length_exceeded_is_retried_with_its_counts(fake: FakeOpenAI) -> None:
    texts = [f"{n} " + "z" * 150 for n in range(8)]
    settings = {"hosted_model_api": "chat_completions", "max_completion_tokens": 200}
    assert await _thread(fake, ("openai", 1500), texts, **settings) == ["completed"] * 8
    outcomes = [call.outcome for call in fake.models.calls]
    assert outcomes.count("http_400") == 1
    assert all(count_tokens(call.body) + 200 <= 1500 for call in fake.models.calls if call.outcome == "completed")


async def test_an_empty_stream_near_the_budget_is_taken_as_an_overflow_and_retried(fake: FakeOpenAI) -> None:
    # llama-cpp-python answers a prompt over its context with a 200 and nothing; it sends no usage.
    texts = [f"{n} " + "w" * 120 for n in range(6)]
    settings = {"hosted_model_api": "chat_completions", "max_prompt_tokens": 400}
    assert await _thread(fake, ("llama-cpp-python", 700), texts, **settings) == ["completed"] * 6
    outcomes = [call.outcome for call in fake.models.calls]
    assert "empty" in outcomes
    assert outcomes[outcomes.index("empty") + 1] == "completed"


async def test_the_servers_usage_calibrates_the_estimate(fake: FakeOpenAI) -> None:
    # A byte-level tokenizer: one token per byte, three times the bytes/3 estimate; usage says so.
    texts = [f"{n} " + "v" * 150 for n in range(6)]
    settings = {"hosted_model_api": "chat_completions", "max_prompt_tokens": 600}
    assert await _thread(fake, ("llama-server", 100_000), texts, **settings) == ["completed"] * 6
    first, last = fake.models.calls[0], fake.models.calls[-1]
    assert count_tokens(first.body) < 600
    assert count_tokens(last.body) <= 600  # the budget kept in the server's tokens, not the estimate's
    assert 1 < len(last.turns) < 6
