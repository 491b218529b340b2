"""Fault injection: the upstream failing in every way (through the client the app builds from its
settings, so timeouts and retries are the configured ones), and the store failing on write."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx2
import pytest
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from app.errors import StorageUnavailable
from app.main import create_app
from app.storage import Stores, memory_stores
from app.storage.memory.conversations import MemoryConversationStore
from tests.conftest import make_settings, sdk_client_for
from tests.fake_openai import FakeOpenAI


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def upstream_app(app_client, live_fake: str):
    """Our app whose OpenAI client is built by the lifespan from settings, against the live fake."""

    def factory(**overrides: Any):
        values: dict[str, Any] = {"openai_base_url": live_fake, "openai_max_retries": 0, "openai_timeout_s": 5}
        values.update(overrides)
        return app_client(client_from_settings=True, **values)

    return factory


@pytest.mark.parametrize(
    ("status", "message", "headers", "expected_status", "expected_code"),
    [
        (401, "Incorrect API key provided", {}, 401, "upstream_auth_failed"),
        (404, "No thread found with id 'thread_x'.", {}, 404, "thread_not_found"),
        (404, "No assistant found with id 'asst_test'.", {}, 502, "upstream_not_found"),
        (429, "Rate limit reached", {"retry-after": "7"}, 429, "upstream_rate_limited"),
        (500, "The server had an error", {}, 502, "upstream_error"),
    ],
)
async def test_upstream_error_statuses_map_to_documented_answers(
    upstream_app, fake: FakeOpenAI, status: int, message: str, headers: dict, expected_status: int, expected_code: str
) -> None:
    thread_id = fake.add_thread()
    fake.fail_next(status, message, headers=headers, path_contains="/runs")
    async with upstream_app() as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
    assert response.status_code == expected_status
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == expected_code
    assert message not in response.text, "upstream texts stay in the log"
    if headers:
        assert response.headers["retry-after"] == "7"


async def test_configured_retries_are_applied_to_upstream_5xx(upstream_app, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    fake.fail_next(500, path_contains="/runs", times=2)
    async with upstream_app(openai_max_retries=2) as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
    assert response.status_code == 200
    assert len(fake.requests_to("POST", f"/threads/{thread_id}/runs")) == 3
    assert len(fake.runs[thread_id]) == 1


async def test_an_upstream_hanging_past_the_configured_timeout_is_504(upstream_app, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    fake.fail_next(500, hang_s=1.5, path_contains="/runs")
    async with upstream_app(openai_timeout_s=0.3) as client:
        started = time.monotonic()
        response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
        elapsed = time.monotonic() - started
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
    assert elapsed < 1.2
    assert 'endpoint="/v1/threads/{thread_id}/runs",method="POST",outcome="timeout"' in metrics


async def test_an_upstream_refusing_connections_is_502(app_client) -> None:
    base_url = f"http://127.0.0.1:{_closed_port()}/v1"
    async with app_client(client_from_settings=True, openai_base_url=base_url, openai_max_retries=0) as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": "thread_abc"})
        health = await client.get("/")
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unreachable"
    assert health.status_code == 200
    assert 'outcome="connection_error"' in metrics


class FlakyStore(MemoryConversationStore):
    """The embedded store, but conversation writes raise PyMongoError while `failures_left` > 0."""

    def __init__(self, failures: int = 0) -> None:
        super().__init__()
        self.failures_left = failures
        self.ping_fails = False
        self.write_attempts = 0

    async def touch_conversation(self, user_id: str, thread_id: str, at: datetime | None = None) -> bool:
        self.write_attempts += 1
        if self.failures_left > 0:
            self.failures_left -= 1
            raise AutoReconnect("connection pool paused")
        return await super().touch_conversation(user_id, thread_id, at)

    async def ping(self) -> None:
        if self.ping_fails:
            raise ServerSelectionTimeoutError("no servers")


class DownStore(MemoryConversationStore):
    """The embedded store, but listing conversations fails as the MongoDB store does when pymongo raises."""

    async def list_conversations(self, *args: Any, **kwargs: Any) -> Any:
        raise StorageUnavailable() from AutoReconnect("connection pool paused")


def stores_with(conversations: MemoryConversationStore) -> Stores:
    """The embedded stores, with these conversations (and their ping, if they have one)."""
    ping = getattr(conversations, "ping", None)
    stores = replace(memory_stores(), conversations=conversations)
    return replace(stores, ping=ping) if ping is not None else stores


async def test_a_storage_error_answers_503_without_a_traceback(fake: FakeOpenAI, caplog) -> None:
    app = create_app(make_settings(), openai_client=sdk_client_for(fake), stores=stores_with(DownStore()))
    with caplog.at_level(logging.INFO):
        async with app.router.lifespan_context(app):
            # raise_app_exceptions: an error answered and then re-raised (a traceback) fails the test.
            transport = httpx2.ASGITransport(app=app, raise_app_exceptions=True)
            async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
                response = await http.get("/conversations", headers={"Origin": "http://localhost:3000"})
    assert response.status_code == 503
    # Answered by its exception handler, inside the middleware (so CORS still applies to the answer).
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "storage" in r.getMessage()] == [
        "storage error AutoReconnect"
    ]
    assert not [r for r in caplog.records if r.exc_info]


async def _wait_until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_a_failed_upsert_is_retried_until_it_lands_and_readiness_is_degraded_meanwhile(
    app_client, fake: FakeOpenAI
) -> None:
    thread_id = fake.add_thread()
    store = FlakyStore(failures=10**6)  # down until the test brings it back
    async with app_client(stores=stores_with(store), upsert_retry_initial_s=0.02, upsert_retry_max_s=0.1) as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
        degraded = await client.get("/readyz")
        await _wait_until(lambda: store.write_attempts >= 4)  # backing off, still failing
        assert await store.get_conversation("default-user", thread_id) is None
        store.failures_left = 0
        await _wait_until(lambda: client.app.state.upsert_retries.pending == 0)
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
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "storage": "ok", "pending_upserts": 0}
    conversation = await store.get_conversation("default-user", thread_id)
    assert conversation is not None and conversation.user_id == "default-user"
    assert 'chat_backend_conversation_upsert_retries_total{outcome="landed"} 1.0' in metrics
    assert "chat_backend_conversation_upserts_pending 0.0" in metrics


async def test_the_store_raising_n_times_then_recovering_loses_nothing(app_client, fake: FakeOpenAI) -> None:
    threads = [fake.add_thread() for _ in range(3)]
    store = FlakyStore(failures=5)
    async with app_client(stores=stores_with(store), upsert_retry_initial_s=0.01, upsert_retry_max_s=0.05) as client:
        responses = [await client.post("/chat", json={"content": "hi", "threadId": t}) for t in threads]
        await _wait_until(lambda: client.app.state.upsert_retries.pending == 0)
    assert [r.status_code for r in responses] == [200, 200, 200]
    for thread_id in threads:
        assert await store.get_conversation("default-user", thread_id) is not None


async def test_readiness_is_unavailable_when_the_database_does_not_answer(app_client) -> None:
    store = FlakyStore()
    store.ping_fails = True
    async with app_client(stores=stores_with(store)) as client:
        ready = await client.get("/readyz")
        live = await client.get("/livez")
    assert ready.status_code == 503
    assert ready.json()["error"]["status"] == "unavailable"
    assert live.status_code == 200 and live.json() == {"status": "ok"}


async def test_shutdown_flushes_pending_upserts_into_a_store_that_came_back(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    store = FlakyStore(failures=10**6)
    async with app_client(stores=stores_with(store), upsert_retry_initial_s=30, flush_timeout_s=2) as client:
        await client.post("/chat", json={"content": "hi", "threadId": thread_id})
        await _wait_until(lambda: store.write_attempts >= 2)  # the retry task now sleeps for ~30 s
        store.failures_left = 0
    assert await store.get_conversation("default-user", thread_id) is not None


async def test_shutdown_logs_what_could_not_be_written(app_client, fake: FakeOpenAI, caplog) -> None:
    thread_id = fake.add_thread()
    store = FlakyStore(failures=10**6)
    with caplog.at_level(logging.INFO):
        async with app_client(stores=stores_with(store), upsert_retry_initial_s=0.05, flush_timeout_s=0.2) as client:
            await client.post("/chat", json={"content": "hi", "threadId": thread_id})
    lost = [r.getMessage() for r in caplog.records if "could not be written" in r.getMessage()]
    assert lost == [f"shutdown: 1 conversation upsert(s) could not be written: user=default-user thread={thread_id}"]
