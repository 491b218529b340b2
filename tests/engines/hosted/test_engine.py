"""Engine `hosted` through POST /chat and its methods: runs in the background, ids, cancel, shutdown, message pages."""

from __future__ import annotations

import asyncio
import re

import pytest

from app.api.schemas import THREAD_ID_PATTERN
from app.engines.hosted import runner as hosted_runner
from app.errors import InvalidRequest, NoToolCallPending, RunNotActive, RunNotFound, StreamFellBehind, ThreadNotFound
from app.storage import Stores
from app.storage.threads import ThreadStore
from tests.fakes.fake_models import ECHO_PREFIX
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import (
    engine_of,
    hosted_app,
    hosted_engine,
    hosted_run_tasks,
    new_store,
    wait_for_free_thread,
    wait_for_run,
    wait_until,
)

ID_24 = r"[A-Za-z0-9]{24}"


@pytest.fixture(params=["mongomock", "mongodb", "sqlite"])
def hosted_store(request: pytest.FixtureRequest) -> ThreadStore:
    real = request.getfixturevalue("real_mongo_database") if request.param == "mongodb" else None
    return new_store(request.param, real)


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
    assert run.completed_at is not None
    assert run.expires_at is None
    assert run.last_error is None
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


async def test_run_that_outlives_its_deadline_expires(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = asyncio.Event()
    fake.models.plan(gate=gate)
    monkeypatch.setattr(hosted_runner, "RUN_TIMEOUT_S", 0.2)
    async with hosted_engine(fake) as engine:
        thread_id = await engine.create_thread()
        ref = await engine.start_run(thread_id, "hi")
        run = await wait_for_run(engine, thread_id, ref.run_id)
        await wait_for_free_thread(engine.store, thread_id)
        thread = await engine.store.get_thread(thread_id)
    assert run.status == "expired"
    assert fake.models.calls[0].outcome == "aborted"
    assert thread is not None
    assert thread.active_run_id is None


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
        with pytest.raises(RunNotActive):
            await engine.cancel_run(thread_id, ref.run_id)
        next_ref = await engine.start_run(thread_id, "short one then")
        completed = await wait_for_run(engine, thread_id, next_ref.run_id)
        messages = await engine.list_messages(thread_id, order="asc")
        # The fake sees the closed stream when its side of the transport next runs.
        await wait_until(lambda: fake.models.calls[0].outcome != "running", "the fake to see the call end")

    assert cancelled.status == stored.status == "cancelled"
    assert cancelled.cancelled_at is not None
    assert fake.models.calls[0].outcome == "aborted"
    assert completed.status == "completed"
    roles = [(m.role, m.run_id) for m in messages.data]
    assert roles == [("user", None), ("user", None), ("assistant", next_ref.run_id)]


async def test_cancelling_a_finished_run_is_run_not_active_and_leaves_it(fake: FakeOpenAI) -> None:
    async with hosted_engine(fake) as engine:
        thread_id = await engine.create_thread()
        ref = await engine.start_run(thread_id, "hi")
        done = await wait_for_run(engine, thread_id, ref.run_id)
        with pytest.raises(RunNotActive):
            await engine.cancel_run(thread_id, ref.run_id)
        after_cancel = await engine.get_run(thread_id, ref.run_id)
    assert done.status == after_cancel.status == "completed"
    assert after_cancel.reply == done.reply


async def test_cancel_before_the_run_task_starts_ends_it_cancelled(fake: FakeOpenAI) -> None:
    async with hosted_engine(fake) as engine:  # SQLite store: nothing in between yields to the loop
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
    assert run is not None
    assert run.status == "failed"
    assert run.last_error == {"code": "server_error", "message": "The service shut down before the run finished."}
    assert thread is not None
    assert thread.active_run_id is None
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
    assert [m.id for m in newest_two.data] == ids[:-3:-1]
    assert newest_two.has_more
    assert [m.id for m in older.data] == [ids[3], ids[2]]
    assert older.has_more
    assert [m.id for m in oldest.data] == [ids[1], ids[0]]
    assert not oldest.has_more
    assert (newest_two.first_id, newest_two.last_id) == (ids[5], ids[4])
    assert [m.id for m in asc_after.data] == [ids[2], ids[3]]
    assert asc_after.has_more
    assert [m.id for m in asc_before.data] == [ids[2], ids[3]]
    assert asc_before.has_more
    assert [m.id for m in desc_before.data] == [ids[3], ids[2]]
    assert desc_before.has_more
    assert [m.id for m in between.data] == [ids[1], ids[2]]
    assert not between.has_more


async def test_a_subscriber_that_does_not_read_is_dropped_and_the_run_goes_on(fake: FakeOpenAI) -> None:
    words = hosted_runner.SUBSCRIBER_EVENTS + 200
    fake.models.plan(reply=" ".join(["word"] * words))
    async with hosted_engine(fake) as engine:
        thread_id = await engine.create_thread()
        events = await engine.stream_run(thread_id, "Say many words")
        (task,) = hosted_run_tasks()
        await asyncio.wait({task})  # the run ends while nobody reads its stream
        run_id = task.get_name().removeprefix("hosted-run-")
        received: list[str] = []

        async def read_all() -> None:
            async for event in events:
                received.append(event.event)

        with pytest.raises(StreamFellBehind):
            await read_all()
        run = await engine.get_run(thread_id, run_id)
    assert len(received) == hosted_runner.SUBSCRIBER_EVENTS  # what waited for it, then the end
    assert received[:2] == ["thread.run.created", "thread.run.queued"]
    assert run.status == "completed"
    assert (run.reply or "").count("word") == words
