"""The hosted engine's model call: what the model is sent (Responses or Chat Completions), how failures end a run."""

from __future__ import annotations

import pytest
from openai import AsyncOpenAI

from tests.fakes.app_support import TEST_API_KEY, sdk_client_for
from tests.fakes.fake_models import ECHO_PREFIX
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import (
    closed_port_url,
    engine_of,
    hosted_app,
    hosted_engine,
    wait_for_run,
)


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
async def test_model_gets_the_instructions_and_exactly_the_last_n_messages(fake: FakeOpenAI, api: str) -> None:
    settings = {
        "hosted_model_api": api,
        "truncation_last_messages": 3,
        "max_completion_tokens": 77,
        "openai_model": "model-x",
        "assistant_instructions": "Answer in one line.",
    }
    async with hosted_engine(fake, **settings) as engine:
        thread_id = await engine.create_thread()
        for n in range(1, 5):
            ref = await engine.start_run(thread_id, f"message {n}")
            assert (await wait_for_run(engine, thread_id, ref.run_id)).status == "completed"

    first, last = fake.models.calls[0], fake.models.calls[-1]
    assert len(fake.models.calls) == 4
    assert {call.api for call in fake.models.calls} == {api}
    assert first.turns == [("user", "message 1")]
    assert last.turns == [("user", "message 3"), ("assistant", ECHO_PREFIX + "message 3"), ("user", "message 4")]
    assert last.instructions == "Answer in one line."
    assert last.body["model"] == "model-x"
    assert last.body["stream"] is True
    if api == "responses":
        assert last.body["max_output_tokens"] == 77
        assert last.body["store"] is False
        assert "tools" not in last.body
    else:
        assert last.body["messages"][0] == {"role": "system", "content": "Answer in one line."}
        assert last.body["max_tokens"] == 77
        assert last.body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
async def test_the_model_request_is_the_one_the_sdk_method_sends(fake: FakeOpenAI, api: str) -> None:
    settings = {"hosted_model_api": api, "max_completion_tokens": 77, "openai_model": "model-x"}
    settings |= {"assistant_instructions": "Be brief.", "openai_vector_store_id": "vs_docs"}
    async with hosted_engine(fake, **settings) as engine:
        thread_id = await engine.create_thread()
        ref = await engine.start_run(thread_id, "Hello, ünïcode ✓")
        assert (await wait_for_run(engine, thread_id, ref.run_id)).status == "completed"
    sdk = sdk_client_for(fake)
    if api == "responses":
        stream = await sdk.responses.create(
            model="model-x",
            instructions="Be brief.",
            input=[{"type": "message", "role": "user", "content": "Hello, ünïcode ✓"}],
            max_output_tokens=77,
            store=False,
            stream=True,
            tools=[{"type": "file_search", "vector_store_ids": ["vs_docs"]}],
            tool_choice="auto",
        )
    else:
        stream = await sdk.chat.completions.create(
            model="model-x",
            messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello, ünïcode ✓"}],
            max_tokens=77,
            stream=True,
            stream_options={"include_usage": True},
        )
    async with stream:
        async for _ in stream:
            pass
    ours, theirs = fake.models.calls
    assert ours.body == theirs.body
    path = "/responses" if api == "responses" else "/chat/completions"
    sent, expected = (request.headers for request in fake.requests_to("POST", path))
    assert sent == expected


async def test_responses_calls_search_both_configured_vector_stores(fake: FakeOpenAI) -> None:
    stores = {"openai_vector_store_id": "vs_docs", "openai_knowledge_store_id": "vs_knowledge"}
    async with hosted_engine(fake, **stores) as engine:
        thread_id = await engine.create_thread()
        ref = await engine.start_run(thread_id, "What do the docs say?")
        await wait_for_run(engine, thread_id, ref.run_id)
    assert fake.models.calls[0].body["tools"] == [
        {"type": "file_search", "vector_store_ids": ["vs_docs", "vs_knowledge"]}
    ]


async def test_chat_completions_path_has_no_file_search_and_stores_usage(fake: FakeOpenAI) -> None:
    async with hosted_engine(fake, hosted_model_api="chat_completions", openai_vector_store_id="vs_docs") as engine:
        thread_id = await engine.create_thread()
        ref = await engine.start_run(thread_id, "Hi there")
        run = await wait_for_run(engine, thread_id, ref.run_id)
    call = fake.models.calls[0]
    assert call.api == "chat_completions"
    assert "tools" not in call.body
    assert run.status == "completed"
    assert run.reply == ECHO_PREFIX + "Hi there"
    assert run.usage == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}  # as the fake counts


MODEL_FAULTS = [
    pytest.param({"status": 429}, "rate_limit_exceeded", "rate limiting", [], id="429"),
    pytest.param({"status": 500}, "server_error", "status 500", [], id="500"),
    pytest.param({"status": 503}, "server_error", "status 503", [], id="503"),
    # What was streamed before the failure stays, as the failed run's reply.
    pytest.param({"cut_after": 1}, "server_error", "stopped before", ["Echo:"], id="stream-cut"),
    pytest.param(
        {"cut_after": 1, "error_event": True}, "server_error", "reported an error", ["Echo:"], id="error-event"
    ),
]


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
@pytest.mark.parametrize(("fault", "code", "text", "partial"), MODEL_FAULTS)
async def test_model_faults_fail_the_run_and_free_the_thread(
    fake: FakeOpenAI, api: str, fault: dict, code: str, text: str, partial: list[str]
) -> None:
    fake.models.plan(**fault)
    async with hosted_app(fake, hosted_model_api=api) as client:
        engine = engine_of(client)
        thread_id = await engine.create_thread()
        first = await client.post("/chat", json={"content": "one", "threadId": thread_id})
        failed = await wait_for_run(engine, thread_id, first.json()["run_id"])
        second = await client.post("/chat", json={"content": "two", "threadId": thread_id})
        retried = await wait_for_run(engine, thread_id, second.json()["run_id"])
        messages = await engine.list_messages(thread_id, order="asc")

    assert first.status_code == 200
    assert failed.status == "failed"
    assert failed.failed_at is not None
    assert failed.last_error is not None
    assert failed.last_error.code == code
    assert text in failed.last_error.message
    assert "The server had an error" not in failed.last_error.message  # the provider's text stays in the log
    assert second.status_code == 200
    assert retried.status == "completed"
    assert [(m.role, m.text) for m in messages.data] == [
        ("user", "one"),
        *[("assistant", text) for text in partial],
        ("user", "two"),
        ("assistant", ECHO_PREFIX + "two"),
    ]


async def test_failed_response_event_fails_the_run(fake: FakeOpenAI) -> None:
    fake.models.plan(finish="failed")
    async with hosted_engine(fake) as engine:
        thread_id = await engine.create_thread()
        ref = await engine.start_run(thread_id, "hi")
        run = await wait_for_run(engine, thread_id, ref.run_id)
    assert run.status == "failed"
    assert run.last_error is not None
    assert run.last_error.code == "server_error"


async def test_answer_cut_at_the_token_limit_is_kept(fake: FakeOpenAI) -> None:
    fake.models.plan(finish="incomplete", reply="A long answer that")
    async with hosted_engine(fake) as engine:
        thread_id = await engine.create_thread()
        ref = await engine.start_run(thread_id, "hi")
        run = await wait_for_run(engine, thread_id, ref.run_id)
    assert run.status == "completed"
    assert run.reply == "A long answer that"


async def test_model_timeout_fails_the_run(fake: FakeOpenAI, live_fake: str) -> None:
    fake.models.plan(hang_s=5)
    upstream = AsyncOpenAI(api_key=TEST_API_KEY, base_url=live_fake, max_retries=0, timeout=0.3)
    async with upstream, hosted_app(fake, openai_client=upstream) as client:
        engine = engine_of(client)
        thread_id = await engine.create_thread()
        first = await client.post("/chat", json={"content": "one", "threadId": thread_id})
        failed = await wait_for_run(engine, thread_id, first.json()["run_id"])
        second = await client.post("/chat", json={"content": "two", "threadId": thread_id})
        retried = await wait_for_run(engine, thread_id, second.json()["run_id"])
    assert failed.status == "failed"
    assert failed.last_error is not None
    assert (failed.last_error.code, failed.last_error.message) == ("server_error", "The model did not answer in time.")
    assert retried.status == "completed"


async def test_refused_connection_fails_the_run_and_the_thread_takes_the_next_message(fake: FakeOpenAI) -> None:
    unreachable = AsyncOpenAI(api_key=TEST_API_KEY, base_url=closed_port_url(), max_retries=0, timeout=2)
    async with unreachable, hosted_app(fake, openai_client=unreachable) as client:
        engine = engine_of(client)
        thread_id = await engine.create_thread()
        first = await client.post("/chat", json={"content": "one", "threadId": thread_id})
        failed = await wait_for_run(engine, thread_id, first.json()["run_id"])
        second = await client.post("/chat", json={"content": "two", "threadId": thread_id})
        await wait_for_run(engine, thread_id, second.json()["run_id"])
    assert failed.status == "failed"
    assert failed.last_error is not None
    assert failed.last_error.message == "The model provider could not be reached."
    assert second.status_code == 200
