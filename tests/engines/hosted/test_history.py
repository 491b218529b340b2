"""What a hosted run sends: history trimmed to its token budget, context overflows (a 400, an empty
stream: test_overflow.py) that leave the thread usable, and streams without usage (local model servers)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from app.engines.hosted.history import MESSAGE_OVERHEAD, estimate_tokens, fit_history
from app.engines.hosted.model_client import ChatTurn
from app.engines.hosted.model_errors import ModelCallFailed
from app.storage.threads import MessageRecord, RunRecord
from tests.fakes.fake_models import ECHO_PREFIX, ModelBehaviour
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import engine_of, hosted_app, hosted_engine, wait_for_run

APIS = ["responses", "chat_completions"]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _run(budget: int | None = 300, instructions: str = "Be brief.", **fields: Any) -> RunRecord:
    return RunRecord(
        id="run_1",
        thread_id="thread_1",
        status="in_progress",
        created_at=NOW,
        model="m",
        instructions=instructions,
        tools=(),
        max_completion_tokens=100,
        truncation_last_messages=10,
        lease_expires_at=None,
        expires_at=None,
        max_prompt_tokens=budget,
        **fields,
    )


def _newest_first(*messages: tuple[str, str]) -> list[MessageRecord]:
    records = [MessageRecord(f"msg_{n}", "thread_1", n, role, text, NOW) for n, (role, text) in enumerate(messages)]
    return list(reversed(records))


def test_tokens_are_estimated_on_the_safe_side() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abc") == 1
    assert estimate_tokens("abcd") == 2  # rounded up
    assert estimate_tokens("日本語") == 3  # one token per character for CJK (3 bytes each)
    # English text: more than a real tokenizer counts (about 4 characters a token).
    assert estimate_tokens("The quick brown fox jumps over the lazy dog.") > 44 / 4


def test_history_is_trimmed_newest_first_to_the_budget() -> None:
    hundred = "x" * 300  # 100 tokens + MESSAGE_OVERHEAD each
    messages = _newest_first(("user", "a" + hundred), ("assistant", "b" + hundred), ("user", "c" + hundred))
    history = fit_history(_run(budget=300), messages, default_budget=8000)
    assert history.turns == [ChatTurn("assistant", "b" + hundred), ChatTurn("user", "c" + hundred)]
    assert (history.dropped, history.skipped) == (1, 0)
    assert history.estimated_tokens <= 300
    everything = fit_history(_run(budget=None), messages, default_budget=8000)  # a run stored without a budget
    assert len(everything.turns) == 3


def test_a_message_too_long_to_send_is_left_out_and_older_ones_still_go() -> None:
    messages = _newest_first(("user", "old"), ("user", "y" * 3000), ("user", "new"))
    history = fit_history(_run(budget=300), messages, default_budget=8000)
    assert history.turns == [ChatTurn("user", "old"), ChatTurn("user", "new")]
    assert (history.dropped, history.skipped) == (0, 1)


def test_the_runs_own_message_too_long_is_invalid_prompt() -> None:
    messages = _newest_first(("user", "hi"), ("user", "z" * 900))
    with pytest.raises(ModelCallFailed) as raised:
        fit_history(_run(budget=300), messages, default_budget=8000)
    assert raised.value.code == "invalid_prompt"
    assert "too long for the model's prompt budget" in raised.value.message
    assert "the budget is 300" in raised.value.message


def test_instructions_and_tool_outputs_count_against_the_budget() -> None:
    rounds = [
        {
            "calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            "outputs": [{"tool_call_id": "call_1", "output": "o" * 600}],
        }
    ]
    messages = _newest_first(("user", "q" * 150), ("user", "hi"))
    history = fit_history(_run(budget=300, instructions="i" * 150, tool_rounds=rounds), messages, 8000)
    assert [turn.text for turn in history.turns if isinstance(turn, ChatTurn)] == ["hi"]  # no room for the older
    assert history.estimated_tokens >= 50 + 200 + estimate_tokens("hi") + 3 * MESSAGE_OVERHEAD
    with pytest.raises(ModelCallFailed) as raised:
        fit_history(_run(budget=300, instructions="i" * 900), _newest_first(("user", "hi")), 8000)
    assert raised.value.code == "invalid_prompt"


@pytest.mark.parametrize("api", APIS)
async def test_an_oversized_message_fails_its_run_and_the_thread_stays_usable(fake: FakeOpenAI, api: str) -> None:
    oversized = "word " * 1000  # about 1,670 tokens estimated
    async with hosted_app(fake, hosted_model_api=api, max_prompt_tokens=1000) as client:
        engine = engine_of(client)
        thread_id = await engine.create_thread()
        await wait_for_run(engine, thread_id, await _post(client, thread_id, "Hello"))
        failed = await wait_for_run(engine, thread_id, await _post(client, thread_id, oversized))
        calls_after_failure = len(fake.models.calls)
        retried = await wait_for_run(engine, thread_id, await _post(client, thread_id, "Shorter, then"))

    assert failed.status == "failed"
    assert failed.last_error is not None
    assert failed.last_error.code == "invalid_prompt"
    assert "too long for the model's prompt budget" in failed.last_error.message
    assert calls_after_failure == 1  # no model call for it
    assert retried.status == "completed"
    assert retried.reply == ECHO_PREFIX + "Shorter, then"
    sent = fake.models.calls[-1]
    assert sent.turns == [("user", "Hello"), ("assistant", ECHO_PREFIX + "Hello"), ("user", "Shorter, then")]
    assert "word word" not in str(sent.body)


@pytest.mark.parametrize("api", APIS)
async def test_history_sent_fits_the_model_context(fake: FakeOpenAI, api: str) -> None:
    # A server whose context holds 2,000 characters; a budget of 600 tokens keeps under it.
    fake.models.default = ModelBehaviour(context_chars=2000)
    async with hosted_engine(fake, hosted_model_api=api, max_prompt_tokens=600) as engine:
        thread_id = await engine.create_thread()
        for n in range(6):
            ref = await engine.start_run(thread_id, f"{n} " + "long message " * 30)
            assert (await wait_for_run(engine, thread_id, ref.run_id)).status == "completed"
    last = fake.models.calls[-1]
    assert all(call.outcome == "completed" for call in fake.models.calls)
    assert last.prompt_chars <= 2000
    assert last.turns[-1][1].startswith("5 ")
    assert 1 < len(last.turns) < 10  # trimmed by the budget, not by TRUNCATION_LAST_MESSAGES


@pytest.mark.parametrize("api", APIS)
async def test_an_empty_stream_fails_the_run_saying_why(
    fake: FakeOpenAI, api: str, caplog: pytest.LogCaptureFixture
) -> None:
    fake.models.plan(empty=True)
    caplog.set_level(logging.WARNING, logger="app.engines.hosted")
    async with hosted_app(fake, hosted_model_api=api) as client:
        engine = engine_of(client)
        thread_id = await engine.create_thread()
        failed = await wait_for_run(engine, thread_id, await _post(client, thread_id, "one"))
        retried = await wait_for_run(engine, thread_id, await _post(client, thread_id, "two"))
    assert fake.models.calls[0].outcome == "empty"
    assert failed.status == "failed"
    assert failed.last_error is not None
    assert failed.last_error.code == "server_error"
    # A prompt far from its budget: not taken for an overflow (llama-cpp-python also answers nothing when it
    # crashes or is interrupted), and not retried.
    assert failed.last_error.message == "The model returned nothing."
    assert len(fake.models.calls) == 2
    assert "answered nothing" in caplog.text
    assert "well within its budget" in caplog.text
    assert retried.status == "completed"


@pytest.mark.parametrize("api", APIS)
async def test_a_stream_without_usage_completes_with_usage_null(fake: FakeOpenAI, api: str) -> None:
    fake.models.plan(usage=False)
    async with hosted_engine(fake, hosted_model_api=api) as engine:
        thread_id = await engine.create_thread()
        events = [event async for event in await engine.stream_run(thread_id, "Hi")]
        run = await wait_for_run(engine, thread_id, events[0].data["id"])
    if api == "chat_completions":
        assert fake.models.calls[0].body["stream_options"] == {"include_usage": True}  # asked, not answered
    assert run.status == "completed"
    assert run.reply == ECHO_PREFIX + "Hi"
    assert run.usage is None
    completed = [event for event in events if event.event == "thread.run.completed"]
    assert len(completed) == 1
    assert completed[0].data.get("usage") is None


async def test_runs_report_their_prompt_budget(fake: FakeOpenAI) -> None:
    async with hosted_engine(fake, max_prompt_tokens=4096) as engine:
        thread_id = await engine.create_thread()
        events = [event async for event in await engine.stream_run(thread_id, "Hi")]
    assert events[0].event == "thread.run.created"
    assert events[0].data["max_prompt_tokens"] == 4096


async def _post(client: Any, thread_id: str, content: str) -> str:
    response = await client.post("/chat", json={"content": content, "threadId": thread_id})
    assert response.status_code == 200, response.text
    return str(response.json()["run_id"])
