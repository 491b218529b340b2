"""Users kept apart: another user's thread is answered like an unknown one, and nothing of it reaches the upstream."""

from __future__ import annotations

import pytest

from app.errors import ThreadLimitReached
from app.services.thread_owners import ThreadAccess
from tests.fakes.access import ALICE, API_KEYS, APP_ROUTES, BOB, DEFAULT_USER, SHARED, error_code, request_for
from tests.fakes.embedded_stores import embedded_stores
from tests.fakes.fake_openai import FakeOpenAI

THREAD_ROUTES = [(m, p) for m, p in APP_ROUTES if "{thread_id}" in p or p in ("/chat", "/chat/stream")]


@pytest.mark.parametrize(("method", "path"), THREAD_ROUTES)
async def test_another_users_thread_is_answered_like_an_unknown_one(
    app_client, fake: FakeOpenAI, mongo_stores, method: str, path: str
) -> None:
    fake.run_seconds = 60
    async with app_client(api_keys=API_KEYS) as client:
        thread_id = (await client.post("/threads", headers=ALICE)).json()["thread_id"]
        started = await client.post("/chat", json={"content": "alice's", "threadId": thread_id}, headers=ALICE)
        run_id = started.json()["run_id"]
        upstream_before = len(fake.requests)
        m, url, kwargs = request_for(method, path, thread_id, run_id)
        response = await client.request(m, url, headers=BOB, **kwargs)
        alice_still_sees = await client.get(f"/conversations/{thread_id}", headers=ALICE)

    assert started.status_code == 200
    assert response.status_code == 404
    expected = "conversation_not_found" if path.startswith("/conversations") else "thread_not_found"
    assert error_code(response) == expected
    assert len(fake.requests) == upstream_before, "nothing of bob's reached the upstream"
    assert [m["role"] for m in fake.messages[thread_id]] == ["user"]
    assert alice_still_sees.status_code == 200
    assert alice_still_sees.json()["name"] != "mine now"
    assert await mongo_stores.conversations.get_conversation("bob", thread_id) is None


async def test_users_list_only_their_own_conversations(app_client, fake: FakeOpenAI) -> None:
    fake.run_seconds = 0
    async with app_client(api_keys=API_KEYS) as client:
        alice_thread = (await client.post("/api/assistants/threads", headers=ALICE)).json()["threadId"]
        bob_thread = (await client.post("/threads", headers=BOB)).json()["thread_id"]
        await client.post("/chat", json={"content": "a", "threadId": alice_thread}, headers=ALICE)
        await client.post("/chat", json={"content": "b", "threadId": bob_thread}, headers=BOB)
        alice = (await client.get("/conversations", headers=ALICE)).json()
        bob = (await client.get("/conversations", headers=BOB)).json()
    assert [(c["threadId"], c["userId"]) for c in alice["data"]] == [(alice_thread, "alice")]
    assert [(c["threadId"], c["userId"]) for c in bob["data"]] == [(bob_thread, "bob")]


async def test_threads_made_elsewhere_belong_to_the_default_user(app_client, fake: FakeOpenAI, mongo_stores) -> None:
    legacy = fake.add_thread()  # created upstream, never seen by this service
    async with app_client(api_keys=API_KEYS) as client:
        alice = await client.post("/chat", json={"content": "hi", "threadId": legacy}, headers=ALICE)
        shared = await client.post("/chat", json={"content": "hi", "threadId": legacy}, headers=DEFAULT_USER)
        alice_after = await client.get(f"/threads/{legacy}/messages", headers=ALICE)
    assert alice.status_code == 404
    assert shared.status_code == 200
    assert alice_after.status_code == 404
    assert await mongo_stores.thread_owners.owner_of(legacy) == "default-user"
    assert await mongo_stores.conversations.get_conversation("default-user", legacy) is not None


async def test_posting_to_an_unknown_thread_leaves_no_claim(app_client, mongo_stores) -> None:
    async with app_client(api_keys=API_KEYS) as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": "thread_ghost"}, headers=SHARED)
    assert response.status_code == 404
    assert await mongo_stores.thread_owners.owner_of("thread_ghost") is None


async def test_a_thread_limit_needs_a_store_that_counts_threads(mongo_stores) -> None:
    with pytest.raises(TypeError, match="does not count threads"):
        ThreadAccess(mongo_stores.thread_owners, "default-user", max_threads_per_user=5)
    access = ThreadAccess(embedded_stores().thread_owners, "default-user", max_threads_per_user=1)
    await access.record_new_thread("alice", "thread_1")
    with pytest.raises(ThreadLimitReached) as refused:
        await access.record_new_thread("alice", "thread_2")
    assert await access.claim_for_posting("alice", "thread_1") is False  # her own thread: no new claim
    assert (refused.value.status_code, refused.value.code, refused.value.extra) == (
        429,
        "thread_limit_reached",
        {"limit": 1},
    )
