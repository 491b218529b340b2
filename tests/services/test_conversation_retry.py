"""A conversation write that fails after the run started is retried until it lands; nothing is lost at shutdown.

The store fails on purpose (tests/fakes/flaky_stores.py); readiness reports the writes still pending.
"""

from __future__ import annotations

import logging

import pytest

from app.services.conversation_retry import UpsertRetryQueue
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.flaky_stores import FlakyStore, stores_with
from tests.fakes.hosted_support import wait_until


def _timings(monkeypatch: pytest.MonkeyPatch, **seconds: float) -> None:
    """The queue's backoff and flush deadline, shortened (or lengthened) for one test."""
    for name, value in seconds.items():
        monkeypatch.setattr(UpsertRetryQueue, name, value)


async def test_a_failed_upsert_is_retried_until_it_lands_and_readiness_is_degraded_meanwhile(
    app_client, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread_id = fake.add_thread()
    store = FlakyStore(failures=10**6)  # down until the test brings it back
    _timings(monkeypatch, initial_delay_s=0.02, max_delay_s=0.1)
    async with app_client(stores=stores_with(store)) as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
        degraded = await client.get("/readyz")
        await wait_until(lambda: store.write_attempts >= 4, "four failed writes")  # backing off, still failing
        assert await store.get_conversation("default-user", thread_id) is None
        store.failures_left = 0
        await wait_until(lambda: client.app.state.upsert_retries.pending == 0, "the retried write")
        ready = await client.get("/readyz")
        metrics = (await client.get("/metrics")).text

    assert response.status_code == 200, "the client still gets its run id"
    assert response.json()["run_id"] == fake.runs[thread_id][0]["id"]
    assert degraded.status_code == 503
    assert degraded.json()["error"] | {"message": ""} == {
        "code": "not_ready",
        "message": "",
        "status": "degraded",
        "storage": "ok",
        "pending_upserts": 1,
    }
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "storage": "ok", "pending_upserts": 0}
    conversation = await store.get_conversation("default-user", thread_id)
    assert conversation is not None
    assert conversation.user_id == "default-user"
    assert 'chat_backend_conversation_upsert_retries_total{outcome="landed"} 1.0' in metrics
    assert "chat_backend_conversation_upserts_pending 0.0" in metrics


async def test_the_store_raising_n_times_then_recovering_loses_nothing(
    app_client, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = [fake.add_thread() for _ in range(3)]
    store = FlakyStore(failures=5)
    _timings(monkeypatch, initial_delay_s=0.01, max_delay_s=0.05)
    async with app_client(stores=stores_with(store)) as client:
        responses = [await client.post("/chat", json={"content": "hi", "threadId": t}) for t in threads]
        await wait_until(lambda: client.app.state.upsert_retries.pending == 0, "the retried writes")
    assert [r.status_code for r in responses] == [200, 200, 200]
    for thread_id in threads:
        assert await store.get_conversation("default-user", thread_id) is not None


async def test_shutdown_flushes_pending_upserts_into_a_store_that_came_back(
    app_client, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread_id = fake.add_thread()
    store = FlakyStore(failures=10**6)
    _timings(monkeypatch, initial_delay_s=30, flush_timeout_s=2)
    async with app_client(stores=stores_with(store)) as client:
        await client.post("/chat", json={"content": "hi", "threadId": thread_id})
        await wait_until(lambda: store.write_attempts >= 2, "two failed writes")  # the retry task now sleeps for ~30 s
        store.failures_left = 0
    assert await store.get_conversation("default-user", thread_id) is not None


async def test_shutdown_logs_what_could_not_be_written(
    app_client, fake: FakeOpenAI, caplog, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread_id = fake.add_thread()
    store = FlakyStore(failures=10**6)
    _timings(monkeypatch, initial_delay_s=0.05, flush_timeout_s=0.2)
    with caplog.at_level(logging.INFO):
        async with app_client(stores=stores_with(store)) as client:
            await client.post("/chat", json={"content": "hi", "threadId": thread_id})
    lost = [r.getMessage() for r in caplog.records if "could not be written" in r.getMessage()]
    assert lost == [f"shutdown: 1 conversation upsert(s) could not be written: user=default-user thread={thread_id}"]
