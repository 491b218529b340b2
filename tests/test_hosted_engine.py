"""Engine `hosted` through POST /chat and its methods: runs, model input, failures, ids, messages."""

from __future__ import annotations

import asyncio
import re

import pytest
from openai import AsyncOpenAI

from app.api.schemas import THREAD_ID_PATTERN
from app.errors import InvalidRequest, NoToolCallPending, RunNotFound, ThreadNotFound
from app.storage import Stores
from app.storage.threads import ThreadStore
from tests.conftest import TEST_API_KEY, sdk_client_for
from tests.fake_models import ECHO_PREFIX
from tests.fake_openai import FakeOpenAI
from tests.hosted_support import (
    closed_port_url,
    engine_of,
    hosted_app,
    hosted_engine,
    hosted_run_tasks,
    new_store,
    wait_for_run,
    wait_until,
)

ID_24 = r"[A-Za-z0-9]{24}"


@pytest.fixture(params=["mongomock", "memory"])
def hosted_store(request: pytest.FixtureRequest) -> ThreadStore:
    return new_store(request.param)


async def test_hosted_engine_needs_no_assistant_id(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client:
        health = (await client.get("/")).json()
    assert health["engine"] == "hosted"
    assert health["chat_configured"] is True


async def test_chat_answers_at_once_and_the_run_completes_in_the_background(
    fake: FakeOpenAI, hosted_store: ThreadStore, mongo_stores: Stores
) -> None:
    gate = asyncio.Event()
    fake.models.plan(gate=gate)
    async with hosted_app(fake, hosted_store=hosted_store, stores=mongo_stores) as client:
        engine = engine_of(client)
        thread_id = await engine.create_thread()
        response = await client.post("/chat", json={"content": "Hello!", "threadId": thread_id})
        assert response.status_code == 200
        run_id = response.json()["run_id"]
        while_model_works = await engine.get_run(thread_id, run_id)
        gate.set()
        run = await wait_for_run(engine, thread_id, run_id)
        messages = await engine.list_messages(thread_id, order="asc")

    assert response.json() == {"success": True, "run_id": run_id, "thread_id": thread_id}
    assert re.fullmatch("run_" + ID_24, run_id)
    assert while_model_works.status in ("queued", "in_progress")
    assert while_model_works.reply is None
    assert run.status == "completed"
    assert run.reply == ECHO_PREFIX + "Hello!"
    assert run.usage is not None
    assert run.usage["total_tokens"] == run.usage["prompt_tokens"] + run.usage["completion_tokens"] > 0
    assert run.completed_at is not None and run.expires_at is None and run.last_error is None
    assert [(m.role, m.text, m.run_id) for m in messages.data] == [
        ("user", "Hello!", None),
        ("assistant", ECHO_PREFIX + "Hello!", run_id),
    ]
    assert all(re.fullmatch("msg_" + ID_24, m.id) for m in messages.data)
    assert await mongo_stores.conversations.get_conversation("default-user", thread_id) is not None


async def test_thread_ids_are_shaped_like_openais(fake: FakeOpenAI) -> None:
    async with hosted_engine(fake) as engine:
        thread_ids = {await engine.create_thread() for _ in range(20)}
    assert len(thread_ids) == 20
    for thread_id in thread_ids:
        assert re.fullmatch("thread_" + ID_24, thread_id)
        assert re.fullmatch(THREAD_ID_PATTERN, thread_id)


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
            input=[{"role": "user", "content": "Hello, ünïcode ✓"}],
            max_output_tokens=77,
            store=False,
            stream=True,
            tools=[{"type": "file_search", "vector_store_ids": ["vs_docs"]}],
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
    pytest.param({"status": 429}, "rate_limit_exceeded", "rate limiting", id="429"),
    pytest.param({"status": 500}, "server_error", "status 500", id="500"),
    pytest.param({"status": 503}, "server_error", "status 503", id="503"),
    pytest.param({"cut_after": 1}, "server_error", "stopped before", id="stream-cut"),
    pytest.param({"cut_after": 1, "error_event": True}, "server_error", "reported an error", id="error-event"),
]


@pytest.mark.parametrize("api", ["responses", "chat_completions"])
@pytest.mark.parametrize(("fault", "code", "text"), MODEL_FAULTS)
async def test_model_faults_fail_the_run_and_free_the_thread(
    fake: FakeOpenAI, api: str, fault: dict, code: str, text: str
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
    assert run.last_error is not None and run.last_error.code == "server_error"


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


async def test_run_that_outlives_its_deadline_expires(fake: FakeOpenAI) -> None:
    gate = asyncio.Event()
    fake.models.plan(gate=gate)
    async with hosted_engine(fake, run_timeout_s=0.2) as engine:
        thread_id = await engine.create_thread()
        ref = await engine.start_run(thread_id, "hi")
        run = await wait_for_run(engine, thread_id, ref.run_id)
        thread = await engine.store.get_thread(thread_id)
    assert run.status == "expired"
    assert fake.models.calls[0].outcome == "aborted"
    assert thread is not None and thread.active_run_id is None


async def test_unknown_thread_answers_404(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": "thread_doesnotexist"})
        engine = engine_of(client)
        with pytest.raises(ThreadNotFound):
            await engine.list_messages("thread_doesnotexist")
        with pytest.raises(ThreadNotFound):
            await engine.get_run("thread_doesnotexist", "run_abc")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "thread_not_found"
    assert fake.models.calls == []


async def test_unknown_run_and_run_of_another_thread_are_not_found(fake: FakeOpenAI) -> None:
    async with hosted_engine(fake) as engine:
        thread_id = await engine.create_thread()
        other_thread = await engine.create_thread()
        ref = await engine.start_run(thread_id, "hi")
        await wait_for_run(engine, thread_id, ref.run_id)
        with pytest.raises(RunNotFound):
            await engine.get_run(thread_id, "run_unknown")
        with pytest.raises(RunNotFound):
            await engine.get_run(other_thread, ref.run_id)
        with pytest.raises(RunNotFound):
            await engine.cancel_run(other_thread, ref.run_id)


async def test_tool_outputs_are_refused_with_a_clear_error(fake: FakeOpenAI) -> None:
    from app.engines.base import ToolOutput

    async with hosted_engine(fake) as engine:
        thread_id = await engine.create_thread()
        ref = await engine.start_run(thread_id, "hi")
        await wait_for_run(engine, thread_id, ref.run_id)
        with pytest.raises(NoToolCallPending) as refused:
            await engine.submit_tool_outputs(thread_id, ref.run_id, [ToolOutput("call_1", "42")])
        with pytest.raises(RunNotFound):
            await engine.submit_tool_outputs(thread_id, "run_unknown", [])
    assert refused.value.status_code == 400
    assert refused.value.code == "no_tool_call_pending"
    assert refused.value.extra == {"thread_id": thread_id, "run_id": ref.run_id}


async def test_cancel_stops_the_model_call_and_frees_the_thread(fake: FakeOpenAI, hosted_store: ThreadStore) -> None:
    fake.models.plan(gate=asyncio.Event())  # never opened: the model "thinks" until cancelled
    async with hosted_engine(fake, hosted_store) as engine:
        thread_id = await engine.create_thread()
        ref = await engine.start_run(thread_id, "tell me a long story")
        await wait_until(lambda: len(fake.models.calls) == 1, "the model call to start")
        cancelled = await engine.cancel_run(thread_id, ref.run_id)
        stored = await engine.get_run(thread_id, ref.run_id)
        again = await engine.cancel_run(thread_id, ref.run_id)
        next_ref = await engine.start_run(thread_id, "short one then")
        completed = await wait_for_run(engine, thread_id, next_ref.run_id)
        messages = await engine.list_messages(thread_id, order="asc")
        # The fake sees the closed stream when its side of the transport next runs.
        await wait_until(lambda: fake.models.calls[0].outcome != "running", "the fake to see the call end")

    assert cancelled.status == stored.status == again.status == "cancelled"
    assert cancelled.cancelled_at is not None
    assert fake.models.calls[0].outcome == "aborted"
    assert completed.status == "completed"
    roles = [(m.role, m.run_id) for m in messages.data]
    assert roles == [("user", None), ("user", None), ("assistant", next_ref.run_id)]


async def test_cancelling_a_finished_run_returns_it_unchanged(fake: FakeOpenAI) -> None:
    async with hosted_engine(fake) as engine:
        thread_id = await engine.create_thread()
        ref = await engine.start_run(thread_id, "hi")
        done = await wait_for_run(engine, thread_id, ref.run_id)
        after_cancel = await engine.cancel_run(thread_id, ref.run_id)
    assert done.status == after_cancel.status == "completed"
    assert after_cancel.reply == done.reply


async def test_cancel_before_the_run_task_starts_ends_it_cancelled(fake: FakeOpenAI) -> None:
    async with hosted_engine(fake) as engine:  # memory store: nothing in between yields to the loop
        thread_id = await engine.create_thread()
        events = await engine.stream_run(thread_id, "hi")
        (task,) = hosted_run_tasks()
        cancelled = await engine.cancel_run(thread_id, task.get_name().removeprefix("hosted-run-"))
        names = [event.event async for event in events]
    assert cancelled.status == "cancelled"
    assert names == ["thread.run.created", "thread.run.queued", "thread.run.cancelled"]
    assert fake.models.calls == []


async def test_shutdown_fails_runs_in_flight_and_leaves_no_tasks(fake: FakeOpenAI, hosted_store: ThreadStore) -> None:
    fake.models.plan(gate=asyncio.Event())
    async with hosted_engine(fake, hosted_store) as engine:
        thread_id = await engine.create_thread()
        ref = await engine.start_run(thread_id, "hi")
        await wait_until(lambda: len(fake.models.calls) == 1, "the model call to start")
    run = await hosted_store.get_run(ref.run_id)
    thread = await hosted_store.get_thread(thread_id)
    assert run is not None and run.status == "failed"
    assert run.last_error == {"code": "server_error", "message": "The service shut down before the run finished."}
    assert thread is not None and thread.active_run_id is None
    assert fake.models.calls[0].outcome == "aborted"
    assert hosted_run_tasks() == []
    assert engine.runner.running == 0


async def test_messages_paginate_with_cursors_both_ways(fake: FakeOpenAI, hosted_store: ThreadStore) -> None:
    async with hosted_engine(fake, hosted_store) as engine:
        thread_id = await engine.create_thread()
        for n in range(3):
            ref = await engine.start_run(thread_id, f"q{n}")
            await wait_for_run(engine, thread_id, ref.run_id)
        everything = await engine.list_messages(thread_id, order="asc", limit=100)
        ids = [m.id for m in everything.data]
        newest_two = await engine.list_messages(thread_id, limit=2)
        older = await engine.list_messages(thread_id, limit=2, after=newest_two.last_id)
        oldest = await engine.list_messages(thread_id, limit=2, after=older.last_id)
        asc_after = await engine.list_messages(thread_id, order="asc", limit=2, after=ids[1])
        asc_before = await engine.list_messages(thread_id, order="asc", limit=2, before=ids[4])
        desc_before = await engine.list_messages(thread_id, order="desc", limit=2, before=ids[1])
        between = await engine.list_messages(thread_id, order="asc", after=ids[0], before=ids[3])
        with pytest.raises(InvalidRequest):
            await engine.list_messages(thread_id, after="msg_unknown")

    texts = [m.text for m in everything.data]
    assert texts == ["q0", "Echo: q0", "q1", "Echo: q1", "q2", "Echo: q2"]
    assert not everything.has_more
    assert [m.id for m in newest_two.data] == ids[:-3:-1] and newest_two.has_more
    assert [m.id for m in older.data] == [ids[3], ids[2]] and older.has_more
    assert [m.id for m in oldest.data] == [ids[1], ids[0]] and not oldest.has_more
    assert (newest_two.first_id, newest_two.last_id) == (ids[5], ids[4])
    assert [m.id for m in asc_after.data] == [ids[2], ids[3]] and asc_after.has_more
    assert [m.id for m in asc_before.data] == [ids[2], ids[3]] and asc_before.has_more
    assert [m.id for m in desc_before.data] == [ids[3], ids[2]] and desc_before.has_more
    assert [m.id for m in between.data] == [ids[1], ids[2]] and not between.has_more


async def test_hosted_without_api_key_answers_503(fake: FakeOpenAI) -> None:
    async with hosted_app(fake, openai_api_key=None) as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": "thread_abc"})
    assert response.status_code == 503
    assert response.json()["error"]["missing"] == "OPENAI_API_KEY"


async def test_mongo_store_reads_a_threads_messages_through_an_index() -> None:
    from mongomock_motor import AsyncMongoMockClient

    from app.storage.mongo.threads import MongoThreadStore

    database = AsyncMongoMockClient(tz_aware=True)["hosted"]
    await MongoThreadStore(database).ensure_indexes()
    indexes = await database["messages"].index_information()
    assert indexes["thread_position_unique"]["key"] == [("threadId", 1), ("seq", 1)]
    assert indexes["thread_position_unique"]["unique"] is True
    run_indexes = await database["runs"].index_information()
    assert run_indexes["status_lease"]["key"] == [("status", 1), ("leaseExpiresAt", 1)]


async def test_lifespan_uses_the_embedded_store_without_mongodb_uri(fake: FakeOpenAI) -> None:
    from app.main import create_app
    from tests.conftest import sdk_client_for
    from tests.hosted_support import hosted_settings

    app = create_app(hosted_settings(), openai_client=sdk_client_for(fake))
    async with app.router.lifespan_context(app):
        engine = app.state.engine
        thread_id = await engine.create_thread()
        ref = await engine.start_run(thread_id, "hi")
        run = await wait_for_run(engine, thread_id, ref.run_id)
    assert app.state.stores.kind == "memory"
    assert run.status == "completed"


@pytest.mark.mongodb
async def test_real_mongodb_chat_through_the_lifespan(fake: FakeOpenAI) -> None:
    import os

    from pymongo import AsyncMongoClient

    uri = os.environ.get("TEST_MONGODB_URI")
    if not uri:
        pytest.skip("TEST_MONGODB_URI is not set: no real MongoDB server to test against")
    from app.main import create_app
    from tests.conftest import sdk_client_for
    from tests.hosted_support import hosted_settings

    database_name = "chat_backend_hosted_lifespan_test"
    app = create_app(hosted_settings(mongodb_uri=uri, mongodb_db=database_name), openai_client=sdk_client_for(fake))
    try:
        async with app.router.lifespan_context(app):
            engine = app.state.engine
            assert app.state.stores.kind == "mongodb"
            thread_id = await engine.create_thread()
            ref = await engine.start_run(thread_id, "hi")
            run = await wait_for_run(engine, thread_id, ref.run_id)
            page = await engine.list_messages(thread_id, order="asc")
        assert run.status == "completed"
        assert [m.role for m in page.data] == ["user", "assistant"]
    finally:
        client: AsyncMongoClient = AsyncMongoClient(uri)
        await client.drop_database(database_name)
        await client.close()
