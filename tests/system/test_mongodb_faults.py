"""Faults the MongoDB driver hides, made by a TCP proxy between the service and a real server (tests/fakes/mongo_proxy).

On a replica set the driver retries a write once when its connection breaks (retryable writes: the server
recognises the retry); on a standalone server it does not, and the store's own second attempt recognises a first
one that was applied by the marker it carries (a claim's run id, a key reservation's `attempt`). Each case ends
with nothing posted twice and nothing held past its lease.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest
from pymongo import AsyncMongoClient

from app.storage import mongo_stores
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import engine_of, hosted_app, wait_for_run, wait_until
from tests.fakes.mongo_proxy import MongoProxy

pytestmark = pytest.mark.mongodb

RUN_LEASE_S = 0.5
CLAIM = (b"findAndModify\x00", b"threads\x00")
MESSAGE_INSERT = (b"insert\x00", b"messages\x00")
KEY_RESERVATION = (b"insert\x00", b"idempotency_keys\x00")


class Service:
    """The app (ENGINE=hosted) on a real server through the proxy, and a direct look at what the server holds."""

    def __init__(self, client: httpx2.AsyncClient, proxy: MongoProxy, database: Any) -> None:
        self.client = client
        self.proxy = proxy
        self.database = database

    async def user_messages(self, thread_id: str) -> list[str]:
        docs = await self.database["messages"].find({"threadId": thread_id, "role": "user"}).to_list(None)
        return [doc["text"] for doc in docs]

    async def thread(self, thread_id: str) -> dict[str, Any]:
        doc: dict[str, Any] = await self.database["threads"].find_one({"_id": thread_id})
        return doc

    def released(self, thread_id: str) -> Callable[[], Awaitable[bool]]:
        async def check() -> bool:
            return (await self.thread(thread_id))["activeRunId"] is None

        return check

    async def new_thread(self) -> str:
        return await engine_of(self.client).create_thread()

    async def chat(self, thread_id: str, content: str, key: str | None = None) -> httpx2.Response:
        headers = {"Idempotency-Key": key} if key else {}
        return await self.client.post("/chat", json={"content": content, "threadId": thread_id}, headers=headers)

    async def completed(self, thread_id: str, run_id: str) -> str:
        return (await wait_for_run(engine_of(self.client), thread_id, run_id)).status

    async def chat_completed(self, thread_id: str, content: str, key: str | None = None) -> httpx2.Response:
        """Post; the answer is 200 and its run completes."""
        response = await self.chat(thread_id, content, key)
        assert response.status_code == 200, response.text
        assert await self.completed(thread_id, response.json()["run_id"]) == "completed"
        return response


@asynccontextmanager
async def service_through_proxy(fake: FakeOpenAI, server_uri: str) -> AsyncIterator[Service]:
    target = urlsplit(server_uri.split(",")[0] if "," in server_uri else server_uri)
    proxy = MongoProxy(target.hostname or "127.0.0.1", target.port or 27017)
    await proxy.start()
    name = f"test_faults_{uuid.uuid4().hex[:12]}"
    # A short server selection: an outage outlasts the driver's retry in half a second.
    proxied: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(proxy.uri, tz_aware=True, serverSelectionTimeoutMS=500)
    direct: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server_uri, tz_aware=True)
    stores = mongo_stores(proxied[name])
    try:
        async with hosted_app(fake, stores=stores, hosted_store=stores.threads, run_lease_s=RUN_LEASE_S) as client:
            yield Service(client, proxy, direct[name])
    finally:
        await proxy.close()
        await direct.drop_database(name)
        await proxied.close()
        await direct.close()


@pytest.mark.parametrize(
    ("server", "fault", "needles"),
    [
        pytest.param("mongodb_uri", "lose_reply", MESSAGE_INSERT, id="replica set: a lost reply, driver retries"),
        pytest.param("mongodb_uri", "cut_write", MESSAGE_INSERT, id="replica set: a cut mid-write, driver retries"),
        pytest.param("standalone_mongodb_uri", "lose_reply", CLAIM, id="standalone: the claim's reply lost"),
    ],
)
async def test_a_write_whose_reply_is_lost_or_cut_posts_once_and_holds_nothing(
    fake: FakeOpenAI, request: pytest.FixtureRequest, server: str, fault: str, needles: tuple[bytes, ...]
) -> None:
    async with service_through_proxy(fake, request.getfixturevalue(server)) as service:
        thread_id = await service.new_thread()
        planned = getattr(service.proxy, fault)(*needles)
        await service.chat_completed(thread_id, "once")
        assert planned.happened.is_set()
        assert await service.user_messages(thread_id) == ["once"]
        await wait_until(service.released(thread_id), "the thread to be free")  # the run releases it as it ends


async def test_an_outage_longer_than_the_driver_s_retry_is_a_503_and_the_claim_ends_with_its_lease(
    fake: FakeOpenAI, mongodb_uri: str
) -> None:
    async with service_through_proxy(fake, mongodb_uri) as service:
        thread_id = await service.new_thread()
        # The claim is applied, its reply lost, and the database stays away past the driver's retry.
        lost = service.proxy.lose_reply(*CLAIM, then_down=True)
        refused = await service.chat(thread_id, "during the outage")
        service.proxy.up()
        held = await service.thread(thread_id)
        after: list[httpx2.Response] = []

        async def posted_after_the_lease() -> bool:
            after.append(await service.chat(thread_id, "after the outage"))
            return after[-1].status_code == 200

        await wait_until(posted_after_the_lease, "the claim's lease to end")
        assert await service.completed(thread_id, after[-1].json()["run_id"]) == "completed"
        messages = await service.user_messages(thread_id)
    assert lost.happened.is_set()
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "storage_unavailable"
    assert held["activeRunId"] is not None, "the lost claim was applied: held until its lease"
    assert {r.json()["error"]["code"] for r in after[:-1]} <= {"active_run"}
    assert messages == ["after the outage"]


async def test_on_a_standalone_server_a_lost_acknowledgement_on_a_key_reservation_is_recognised(
    fake: FakeOpenAI, standalone_mongodb_uri: str
) -> None:
    async with service_through_proxy(fake, standalone_mongodb_uri) as service:
        thread_id = await service.new_thread()
        lost = service.proxy.lose_reply(*KEY_RESERVATION)
        response = await service.chat_completed(thread_id, "once", key="key-lost-ack")
        replay = await service.chat(thread_id, "once", key="key-lost-ack")
        assert lost.happened.is_set()
        assert replay.status_code == 200, replay.text
        assert replay.json() == response.json()
        assert replay.headers.get("Idempotent-Replayed") == "true"
        assert await service.user_messages(thread_id) == ["once"]


async def test_on_a_standalone_server_a_lost_acknowledgement_on_a_message_is_undone_and_a_retry_posts_once(
    fake: FakeOpenAI, standalone_mongodb_uri: str
) -> None:
    async with service_through_proxy(fake, standalone_mongodb_uri) as service:
        thread_id = await service.new_thread()
        lost = service.proxy.lose_reply(*MESSAGE_INSERT)
        refused = await service.chat(thread_id, "once", key="key-lost-message")
        await service.chat_completed(thread_id, "once", key="key-lost-message")
        assert lost.happened.is_set()
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "storage_unavailable"
        assert await service.user_messages(thread_id) == ["once"]
