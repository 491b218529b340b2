"""The OpenAI client the lifespan builds itself (no test override), over real loopback sockets.

The other tests hand the app an SDK client on an in-process transport; these pin what the
production client does: one request per /chat, the configured retries and timeout, and the
documented 502 / 504 answers when the upstream is unreachable, drops the connection or is too slow.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2

from app.main import create_app
from app.storage import Stores
from tests.fakes.app_support import make_settings
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import wait_until
from tests.fakes.servers import closed_port


@asynccontextmanager
async def served_app(stores: Stores, **overrides: Any) -> AsyncIterator[httpx2.AsyncClient]:
    """Our app with the OpenAI client it builds from its settings (retries off: one attempt per call)."""
    app = create_app(make_settings(openai_max_retries=0, **overrides), stores=stores)
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def until_assistant_was_read(fake: FakeOpenAI) -> None:
    """The start-up look at the assistant is one upstream request of its own; wait until it was made."""
    await wait_until(lambda: bool(fake.requests_to("GET", "/assistants/asst_test")), "the start-up check")


async def test_chat_makes_one_upstream_request_with_the_service_client(
    fake: FakeOpenAI, live_fake: str, mongo_stores
) -> None:
    thread_id = fake.add_thread()
    async with served_app(mongo_stores, openai_base_url=live_fake) as client:
        await until_assistant_was_read(fake)
        before = len(fake.requests)
        response = await client.post("/chat", json={"content": "Hello!", "threadId": thread_id})
        sent = [(r.method, r.path) for r in fake.requests[before:]]

    assert response.status_code == 200, response.text
    assert sent == [("POST", f"/v1/threads/{thread_id}/runs")]
    assert [run["id"] for run in fake.runs[thread_id]] == [response.json()["run_id"]]


async def test_unreachable_upstream_is_502_with_the_service_client(mongo_stores) -> None:
    async with served_app(mongo_stores, openai_base_url=f"http://127.0.0.1:{closed_port()}/v1") as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": "thread_abc"})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unreachable"


async def test_upstream_dropping_the_connection_is_502_with_the_service_client(mongo_stores) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, served_app(mongo_stores, openai_base_url=f"http://127.0.0.1:{port}/v1") as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": "thread_abc"})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unreachable"


async def test_slow_upstream_is_504_with_the_service_client(fake: FakeOpenAI, live_fake: str, mongo_stores) -> None:
    thread_id = fake.add_thread()
    fake.fail_next(500, hang_s=1.0, path_contains="/runs")
    async with served_app(mongo_stores, openai_base_url=live_fake, openai_timeout_s=0.3) as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


async def test_configured_retries_are_applied_to_upstream_5xx(upstream_app, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    fake.fail_next(500, path_contains="/runs", times=2, method="POST")
    async with upstream_app(openai_max_retries=2) as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
    assert response.status_code == 200
    assert len(fake.requests_to("POST", f"/threads/{thread_id}/runs")) == 3
    assert len(fake.runs[thread_id]) == 1


async def test_an_upstream_hanging_past_the_configured_timeout_is_504(upstream_app, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    fake.fail_next(500, hang_s=1.5, path_contains="/runs")
    async with upstream_app(openai_timeout_s=0.3) as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
    assert 'endpoint="/v1/threads/{thread_id}/runs",method="POST",outcome="timeout"' in metrics


async def test_an_upstream_refusing_connections_is_502(app_client) -> None:
    base_url = f"http://127.0.0.1:{closed_port()}/v1"
    async with app_client(client_from_settings=True, openai_base_url=base_url, openai_max_retries=0) as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": "thread_abc"})
        health = await client.get("/")
        metrics = (await client.get("/metrics")).text
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unreachable"
    assert health.status_code == 200
    assert 'outcome="connection_error"' in metrics
