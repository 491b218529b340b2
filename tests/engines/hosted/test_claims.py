"""One active run per thread (also across processes) and leases, on mongomock, on SQLite, on a real MongoDB."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from mongomock_motor import AsyncMongoMockClient

from app.clock import utc_now
from app.engines.hosted.objects import new_id
from app.engines.hosted.run_spec import NewMessage
from app.errors import RunAlreadyActive
from app.storage.mongo.threads import MongoThreadStore
from app.storage.threads import ThreadStore
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import (
    engine_of,
    hosted_app,
    hosted_engine,
    leave_crashed_run,
    new_store,
    wait_for_free_thread,
    wait_for_run,
    wait_until,
)


@pytest.fixture(
    params=["mongomock", "mongodb", "sqlite", "mongomock-interleaved", "mongodb-interleaved", "sqlite-interleaved"]
)
def hosted_store(request: pytest.FixtureRequest) -> ThreadStore:
    real = request.getfixturevalue("real_mongo_database") if request.param.startswith("mongodb") else None
    return new_store(request.param, real)


@pytest.fixture(params=["mongomock", "mongodb", "sqlite"])
def shared_database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Any]:
    """(kind, database) for stores that share one database as processes do: mongomock's, a real server's, or a
    SQLite file."""
    if request.param == "sqlite":
        return "sqlite", str(tmp_path / "shared.sqlite3")
    if request.param == "mongodb":
        return "mongodb", request.getfixturevalue("real_mongo_database")
    return "mongomock", AsyncMongoMockClient(tz_aware=True)["shared"]


async def test_simultaneous_messages_start_exactly_one_run(fake: FakeOpenAI, hosted_store: ThreadStore) -> None:
    gate = asyncio.Event()
    fake.models.default.gate = gate  # the winning run stays active while the others arrive
    async with hosted_app(fake, hosted_store=hosted_store) as client:
        engine = engine_of(client)
        thread_id = await engine.create_thread()
        responses = await asyncio.gather(
            *(client.post("/chat", json={"content": f"m{i}", "threadId": thread_id}) for i in range(10))
        )
        gate.set()
        winners = [r for r in responses if r.status_code == 200]
        assert len(winners) == 1
        run_id = winners[0].json()["run_id"]
        await wait_for_run(engine, thread_id, run_id)
        messages = await engine.list_messages(thread_id)

    losers = [r for r in responses if r.status_code != 200]
    assert [r.status_code for r in losers] == [400] * 9
    assert {r.json()["error"]["code"] for r in losers} == {"active_run"}
    assert {r.json()["error"]["run_id"] for r in losers} == {run_id}
    assert Counter(m.role for m in messages.data) == {"user": 1, "assistant": 1}
    assert len(fake.models.calls) == 1


async def test_messages_added_at_once_without_a_run_all_land(fake: FakeOpenAI, hosted_store: ThreadStore) -> None:
    """A message added through /v1 holds the thread for one write: others wait for it instead of failing."""
    async with hosted_engine(fake, hosted_store) as engine:
        thread_id = await engine.create_thread()
        added = await asyncio.gather(*(engine.messages.add(thread_id, NewMessage("user", f"m{i}")) for i in range(8)))
        page = await engine.list_messages(thread_id, order="asc", limit=20)
    assert sorted(m.seq for m in added) == list(range(1, 9))
    assert sorted(m.id for m in page.data) == sorted(m.id for m in added)


async def test_simultaneous_messages_through_two_processes_start_exactly_one_run(
    fake: FakeOpenAI, shared_database: tuple[str, Any]
) -> None:
    """Two app instances (two engines, two stores) sharing one database, as two processes do."""
    kind, database = shared_database
    gate = asyncio.Event()
    fake.models.default.gate = gate
    first_store, second_store = (new_store(f"{kind}-interleaved", database) for _ in range(2))
    async with (
        hosted_app(fake, hosted_store=first_store) as first,
        hosted_app(fake, hosted_store=second_store) as second,
    ):
        thread_id = await engine_of(first).create_thread()
        responses = await asyncio.gather(
            *(
                client.post("/chat", json={"content": f"m{i}", "threadId": thread_id})
                for i in range(6)
                for client in (first, second)
            )
        )
        gate.set()
        statuses = Counter(r.status_code for r in responses)
        run_ids = {r.json().get("run_id") or r.json()["error"]["run_id"] for r in responses}
        (run_id,) = run_ids
        winner = first if any(r.status_code == 200 for r in responses[::2]) else second
        await wait_for_run(engine_of(winner), thread_id, run_id)
    assert statuses == {200: 1, 400: 11}


async def test_a_message_after_a_crash_expires_the_lapsed_run_and_starts(
    fake: FakeOpenAI, hosted_store: ThreadStore
) -> None:
    async with hosted_app(fake, hosted_store=hosted_store) as client:
        engine = engine_of(client)
        thread_id = await engine.create_thread()
        crashed = new_id("run_")
        await leave_crashed_run(hosted_store, thread_id, crashed, lease_expires_at=utc_now() - timedelta(seconds=1))
        response = await client.post("/chat", json={"content": "anyone there?", "threadId": thread_id})
        old = await engine.get_run(thread_id, crashed)
        new = await wait_for_run(engine, thread_id, response.json()["run_id"])
    assert response.status_code == 200
    assert old.status == "expired"
    assert old.expires_at is None
    assert new.status == "completed"


async def test_a_run_whose_lease_is_still_valid_keeps_the_thread(fake: FakeOpenAI, hosted_store: ThreadStore) -> None:
    async with hosted_app(fake, hosted_store=hosted_store) as client:
        engine = engine_of(client)
        thread_id = await engine.create_thread()
        elsewhere = new_id("run_")  # running in another process, which renews its lease
        await leave_crashed_run(hosted_store, thread_id, elsewhere, lease_expires_at=utc_now() + timedelta(minutes=1))
        response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
        state = await engine.get_run(thread_id, elsewhere)
    assert response.status_code == 400
    assert response.json()["error"]["run_id"] == elsewhere
    assert state.status == "in_progress"
    assert fake.models.calls == []


async def test_a_claim_without_its_run_document_holds_only_until_its_lease_ends(
    fake: FakeOpenAI, hosted_store: ThreadStore
) -> None:
    """A process that died between claiming the thread and writing the run."""
    async with hosted_engine(fake, hosted_store) as engine:
        thread_id = await engine.create_thread()
        lost = new_id("run_")
        await hosted_store.claim_active_run(
            thread_id, lost, holder=None, claim_expires_at=utc_now() + timedelta(minutes=1)
        )
        with pytest.raises(RunAlreadyActive) as refused:
            await engine.start_run(thread_id, "hi")
        await hosted_store.release_active_run(thread_id, lost)
        await hosted_store.claim_active_run(
            thread_id, lost, holder=None, claim_expires_at=utc_now() - timedelta(seconds=1)
        )
        ref = await engine.start_run(thread_id, "hi again")
        await wait_for_run(engine, thread_id, ref.run_id)
    assert refused.value.extra["run_id"] == lost


async def test_start_up_expires_runs_whose_lease_lapsed(fake: FakeOpenAI, hosted_store: ThreadStore) -> None:
    async with hosted_engine(fake, hosted_store) as engine:
        thread_ids = [await engine.create_thread() for _ in range(3)]
        crashed = [new_id("run_") for _ in thread_ids]
        for thread_id, run_id in zip(thread_ids, crashed, strict=True):
            await leave_crashed_run(hosted_store, thread_id, run_id, lease_expires_at=utc_now() - timedelta(seconds=1))
        await engine.check_setup()
        runs = [await hosted_store.get_run(run_id) for run_id in crashed]
        threads = [await hosted_store.get_thread(thread_id) for thread_id in thread_ids]
    assert [run.status for run in runs if run] == ["expired"] * 3
    assert [thread.active_run_id for thread in threads if thread] == [None] * 3


async def test_polling_a_lapsed_run_reports_it_expired(fake: FakeOpenAI, hosted_store: ThreadStore) -> None:
    async with hosted_engine(fake, hosted_store) as engine:
        thread_id = await engine.create_thread()
        crashed = new_id("run_")
        await leave_crashed_run(hosted_store, thread_id, crashed, lease_expires_at=utc_now() - timedelta(seconds=1))
        state = await engine.get_run(thread_id, crashed)
        thread = await hosted_store.get_thread(thread_id)
    assert state.status == "expired"
    assert thread is not None
    assert thread.active_run_id is None


async def test_a_running_run_renews_its_lease(fake: FakeOpenAI, hosted_store: ThreadStore) -> None:
    gate = asyncio.Event()
    fake.models.plan(gate=gate)
    async with hosted_engine(fake, hosted_store, run_lease_s=0.3) as engine:
        thread_id = await engine.create_thread()
        ref = await engine.start_run(thread_id, "hi")
        first = await hosted_store.get_run(ref.run_id)
        assert first is not None
        assert first.lease_expires_at is not None
        first_lease = first.lease_expires_at

        async def renewed() -> bool:
            run = await hosted_store.get_run(ref.run_id)
            return run is not None and run.lease_expires_at is not None and run.lease_expires_at > first_lease

        await wait_until(renewed, "the lease to be renewed")
        gate.set()
        done = await wait_for_run(engine, thread_id, ref.run_id)
    assert done.status == "completed"


async def test_a_run_cancelled_by_another_process_stops_its_model_call(
    fake: FakeOpenAI, shared_database: tuple[str, Any]
) -> None:
    kind, database = shared_database
    fake.models.plan(gate=asyncio.Event())  # never opened
    async with (
        hosted_engine(fake, new_store(kind, database), run_lease_s=0.3) as worker,
        hosted_engine(fake, new_store(kind, database), run_lease_s=0.3) as other,
    ):
        thread_id = await worker.create_thread()
        ref = await worker.start_run(thread_id, "hi")
        await wait_until(lambda: len(fake.models.calls) == 1, "the model call to start")
        cancelled = await other.cancel_run(thread_id, ref.run_id)
        await wait_until(lambda: fake.models.calls[0].outcome != "running", "the worker to stop the model call")
        await wait_until(lambda: worker.runner.running == 0, "the worker's run task to end")
        final = await worker.get_run(thread_id, ref.run_id)
    assert cancelled.status == final.status == "cancelled"
    assert fake.models.calls[0].outcome == "aborted"


@pytest.mark.mongodb
async def test_real_mongodb_one_run_per_thread_across_clients(
    fake: FakeOpenAI, mongodb_uri: str, real_mongo_database: Any
) -> None:
    from pymongo import AsyncMongoClient

    other_client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    databases = [real_mongo_database, other_client[real_mongo_database.name]]
    try:
        stores = [MongoThreadStore(database) for database in databases]
        gate = asyncio.Event()
        fake.models.default.gate = gate
        async with hosted_engine(fake, stores[0]) as first, hosted_engine(fake, stores[1]) as second:
            thread_id = await first.create_thread()
            results = await asyncio.gather(
                *(engine.start_run(thread_id, f"m{i}") for i in range(10) for engine in (first, second)),
                return_exceptions=True,
            )
            started = [r for r in results if not isinstance(r, BaseException)]
            refused = [r for r in results if isinstance(r, RunAlreadyActive)]
            gate.set()
            assert len(started) == 1
            assert len(refused) == 19
            assert {r.extra["run_id"] for r in refused} == {started[0].run_id}
            crashed = new_id("run_")
            await wait_for_run(first, thread_id, started[0].run_id)
            await wait_for_free_thread(stores[0], thread_id)
            await leave_crashed_run(stores[0], thread_id, crashed, lease_expires_at=utc_now() - timedelta(seconds=1))
            ref = await second.start_run(thread_id, "after the crash")
            assert (await first.get_run(thread_id, crashed)).status == "expired"
            assert (await wait_for_run(second, thread_id, ref.run_id)).status == "completed"
    finally:
        await other_client.close()


class _ExpiredElsewhereFirst:
    """The store, where another process expires a lapsed run (and frees its thread) just before ours tries to."""

    def __init__(self, inner: ThreadStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def update_active_run(self, run_id: str, changes: dict[str, Any], **conditions: Any) -> Any:
        if changes.get("status") == "expired":
            await self._inner.update_active_run(run_id, changes, **conditions)
            run = await self._inner.get_run(run_id)
            await self._inner.release_active_run(run.thread_id, run_id)
        return await self._inner.update_active_run(run_id, changes, **conditions)


async def test_a_lapsed_run_expired_by_another_process_at_the_same_moment_still_frees_the_thread(
    fake: FakeOpenAI, hosted_store: ThreadStore
) -> None:
    """Found on the real server: the start-up sweep and a message's claim expired one lapsed run at once, and the
    one whose conditional update came second answered 400 active_run, naming the expired run."""
    async with hosted_engine(fake, _ExpiredElsewhereFirst(hosted_store)) as engine:  # type: ignore[arg-type]
        thread_id = await engine.create_thread()
        crashed = new_id("run_")
        await leave_crashed_run(hosted_store, thread_id, crashed, lease_expires_at=utc_now() - timedelta(seconds=1))
        ref = await engine.start_run(thread_id, "anyone there?")
        assert (await wait_for_run(engine, thread_id, ref.run_id)).status == "completed"
        assert (await engine.get_run(thread_id, crashed)).status == "expired"


async def test_runs_whose_process_died_are_listed_as_expired(fake: FakeOpenAI, hosted_store: ThreadStore) -> None:
    from app.engines.hosted.pages import PageQuery

    async with hosted_app(fake, hosted_store=hosted_store) as client:
        engine = engine_of(client)
        thread_id = await engine.create_thread()
        crashed = new_id("run_")
        await leave_crashed_run(hosted_store, thread_id, crashed, lease_expires_at=utc_now() - timedelta(seconds=1))
        listed, has_more = await engine.runs.page(thread_id, PageQuery())
        stored = await hosted_store.get_run(crashed)
        waiting_thread, waiting = await engine.create_thread(), new_id("run_")
        await leave_crashed_run(hosted_store, waiting_thread, waiting, lease_expires_at=utc_now() + timedelta(hours=1))
        past = utc_now() - timedelta(seconds=1)  # its requires_action_timeout passed
        changes = {"status": "requires_action", "expires_at": past, "lease_expires_at": past}
        assert await hosted_store.update_active_run(waiting, changes) is not None
        waiting_listed, _ = await engine.runs.page(waiting_thread, PageQuery())
    assert [(run.id, run.status) for run in listed] == [(crashed, "expired")]
    assert has_more is False
    assert stored is not None
    assert stored.status == "expired", "and stored so"
    assert [(run.id, run.status) for run in waiting_listed] == [(waiting, "expired")]


@pytest.mark.parametrize("first", ["cancel", "delete"])
async def test_a_cancel_racing_a_thread_delete_answers_what_took_effect(
    fake: FakeOpenAI, hosted_store: ThreadStore, first: str
) -> None:
    """The cancel takes effect and answers `cancelled` (the delete then goes ahead), or the delete is refused while
    the run is active: never a cancel that took effect answered 404."""
    gate = asyncio.Event()
    fake.models.default.gate = gate  # the run stays active until the race is over
    async with hosted_app(fake, hosted_store=hosted_store) as client:
        assistant_id = (await client.post("/v1/assistants", json={"model": "m"})).json()["id"]
        thread_id = (await client.post("/v1/threads")).json()["id"]
        run_id = (await client.post(f"/v1/threads/{thread_id}/runs", json={"assistant_id": assistant_id})).json()["id"]
        requests = {
            "cancel": client.post(f"/v1/threads/{thread_id}/runs/{run_id}/cancel"),
            "delete": client.delete(f"/v1/threads/{thread_id}"),
        }
        order = [first, *(name for name in requests if name != first)]
        answers = dict(zip(order, await asyncio.gather(*(requests[name] for name in order)), strict=True))
        gate.set()
    cancel, delete = answers["cancel"], answers["delete"]
    assert cancel.status_code == 200, cancel.text
    assert cancel.json()["status"] == "cancelled"
    assert delete.status_code in (200, 400), delete.text
