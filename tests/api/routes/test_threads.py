"""Polling: create a thread, read a run to completion, list messages, cancel; the per-user thread cap."""

from __future__ import annotations

import pytest

from tests.fakes.access import ALICE, API_KEYS, BOB
from tests.fakes.embedded_stores import embedded_stores
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import wait_until


async def _poll_until_final(client, thread_id: str, run_id: str) -> dict:
    state: dict = {}

    async def finished() -> bool:
        state.update((await client.get(f"/threads/{thread_id}/runs/{run_id}")).json())
        return state["status"] not in ("queued", "in_progress", "cancelling")

    await wait_until(finished, f"run {run_id} to finish")
    return state


async def test_create_thread_then_chat_then_poll_to_the_reply(app_client, fake: FakeOpenAI) -> None:
    fake.run_seconds = 0.1
    async with app_client() as client:
        created = await client.post("/threads")
        thread_id = created.json()["thread_id"]
        started = await client.post("/chat", json={"content": "What is 2+2?", "threadId": thread_id})
        run_id = started.json()["run_id"]
        first = (await client.get(f"/threads/{thread_id}/runs/{run_id}")).json()
        final = await _poll_until_final(client, thread_id, run_id)

    assert created.status_code == 201
    assert thread_id in fake.threads
    assert first["status"] in ("queued", "in_progress")
    assert first["reply"] is None
    assert final["status"] == "completed"
    assert final["reply"] == "Echo: What is 2+2?"
    assert final["id"] == run_id
    assert final["thread_id"] == thread_id
    assert final["usage"]["total_tokens"] == 15


async def test_messages_are_listed_in_pages_both_orders(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    for n in range(5):
        fake.messages[thread_id].append(fake.new_message(thread_id, "user", f"m{n}"))
    async with app_client() as client:
        first = (await client.get(f"/threads/{thread_id}/messages", params={"limit": 2, "order": "asc"})).json()
        second = (
            await client.get(
                f"/threads/{thread_id}/messages", params={"limit": 2, "order": "asc", "after": first["last_id"]}
            )
        ).json()
        newest = (await client.get(f"/threads/{thread_id}/messages", params={"limit": 1})).json()

    assert [m["text"] for m in first["data"]] == ["m0", "m1"]
    assert first["has_more"] is True
    assert [m["text"] for m in second["data"]] == ["m2", "m3"]
    assert [m["text"] for m in newest["data"]] == ["m4"]
    assert newest["data"][0]["role"] == "user"
    assert newest["data"][0]["content"][0]["type"] == "text"


async def test_cancel_an_active_run_then_cancelling_again_is_409(app_client, fake: FakeOpenAI) -> None:
    fake.run_seconds = 60
    thread_id = fake.add_thread()
    async with app_client() as client:
        run_id = (await client.post("/chat", json={"content": "hi", "threadId": thread_id})).json()["run_id"]
        cancelled = await client.post(f"/threads/{thread_id}/runs/{run_id}/cancel")
        again = await client.post(f"/threads/{thread_id}/runs/{run_id}/cancel")
        after = await client.post("/chat", json={"content": "next", "threadId": thread_id})

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] in ("cancelling", "cancelled")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "run_not_active"
    assert after.status_code == 200, "a cancelled run no longer blocks the thread"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/threads/thread_nope/runs/run_nope", 404, "run_not_found"),
        ("/threads/thread_nope/messages", 404, "thread_not_found"),
        ("/threads/thread_a..b/messages", 422, "validation_error"),
        ("/threads/thread_abc/runs/not-a-run", 422, "validation_error"),
        ("/threads/thread_abc/messages?limit=0", 422, "validation_error"),
        ("/threads/thread_abc/messages?order=sideways", 422, "validation_error"),
        ("/threads/thread_abc/messages?after=../x", 422, "validation_error"),
    ],
)
async def test_polling_errors(app_client, fake: FakeOpenAI, path: str, status: int, code: str) -> None:
    async with app_client() as client:
        response = await client.get(path)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


async def test_the_embedded_store_caps_threads_per_user_with_a_429(app_client, fake: FakeOpenAI) -> None:
    unowned = fake.add_thread()  # made elsewhere: the default user's first post claims it
    async with app_client(stores=embedded_stores(), max_threads_per_user=2) as client:
        created = [await client.post("/threads") for _ in range(2)]
        refused = await client.post("/threads")
        claim_refused = await client.post("/chat", json={"content": "hi", "threadId": unowned})
        owned_still_works = await client.post(
            "/chat", json={"content": "hi", "threadId": created[0].json()["thread_id"]}
        )

    assert [r.status_code for r in created] == [201, 201]
    assert len(fake.requests_to("POST", "/v1/threads")) == 2, "no thread is created upstream above the limit"
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "thread_limit_reached"
    assert refused.json()["error"]["limit"] == 2
    assert "2 threads" in refused.json()["error"]["message"]
    assert "Retry-After" not in refused.headers
    assert claim_refused.status_code == 429
    assert claim_refused.json()["error"]["code"] == "thread_limit_reached"
    assert owned_still_works.status_code == 200, owned_still_works.text


async def test_the_thread_cap_is_per_user(app_client) -> None:
    async with app_client(stores=embedded_stores(), max_threads_per_user=1, api_keys=API_KEYS) as client:
        alice = [(await client.post("/threads", headers=ALICE)).status_code for _ in range(2)]
        bob = [(await client.post("/threads", headers=BOB)).status_code for _ in range(2)]
    assert alice == bob == [201, 429]


async def test_mongodb_deployments_have_no_thread_cap(app_client) -> None:
    async with app_client(max_threads_per_user=1) as client:  # the app_client's stores: mongomock
        statuses = [(await client.post("/threads")).status_code for _ in range(3)]
    assert statuses == [201, 201, 201]
