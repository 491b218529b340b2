"""Idempotency-Key on POST /chat: retries get the first answer, the message is posted once."""

from __future__ import annotations

import asyncio

from tests.fakes.access import ALICE, API_KEYS, BOB
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.node_decoder import decode_like_chat_tsx


def _user_messages(fake: FakeOpenAI, thread_id: str) -> list[str]:
    return [m["content"][0]["text"]["value"] for m in fake.messages[thread_id] if m["role"] == "user"]


async def test_a_retry_returns_the_first_answer_without_posting_again(app_client, fake: FakeOpenAI) -> None:
    fake.run_seconds = 0  # even once the run is over, the retry must not start another
    thread_id = fake.add_thread()
    body = {"content": "Hello!", "threadId": thread_id}
    async with app_client() as client:
        first = await client.post("/chat", json=body, headers={"Idempotency-Key": "order-42"})
        retry = await client.post("/chat", json=body, headers={"Idempotency-Key": "order-42"})
        other = await client.post("/chat", json=body, headers={"Idempotency-Key": "order-43"})
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert other.json()["run_id"] != first.json()["run_id"]
    assert _user_messages(fake, thread_id) == ["Hello!", "Hello!"]
    assert len(fake.runs[thread_id]) == 2


async def test_a_concurrent_duplicate_is_refused_while_the_first_is_in_flight(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    body = {"content": "once", "threadId": thread_id}
    async with app_client() as client:
        fake.latency_s = 0.3
        responses = await asyncio.gather(
            *(client.post("/chat", json=body, headers={"Idempotency-Key": "dup"}) for _ in range(5))
        )
        fake.latency_s = 0
        after = await client.post("/chat", json=body, headers={"Idempotency-Key": "dup"})
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409, 409, 409, 409]
    busy = next(r for r in responses if r.status_code == 409)
    assert busy.json()["error"]["code"] == "idempotency_in_progress"
    assert busy.headers["retry-after"] == "1"
    winner = next(r for r in responses if r.status_code == 200)
    assert after.status_code == 200
    assert after.json() == winner.json()
    assert _user_messages(fake, thread_id) == ["once"]


async def test_the_same_key_with_another_body_is_refused(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    async with app_client() as client:
        first = await client.post(
            "/chat", json={"content": "a", "threadId": thread_id}, headers={"Idempotency-Key": "k"}
        )
        changed = await client.post(
            "/chat", json={"content": "b", "threadId": thread_id}, headers={"Idempotency-Key": "k"}
        )
    assert first.status_code == 200
    assert changed.status_code == 422
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    assert _user_messages(fake, thread_id) == ["a"]


async def test_keys_are_per_user(app_client, fake: FakeOpenAI) -> None:
    async with app_client(api_keys=API_KEYS) as client:
        alice_thread = (await client.post("/threads", headers=ALICE)).json()["thread_id"]
        bob_thread = (await client.post("/threads", headers=BOB)).json()["thread_id"]
        alice = await client.post(
            "/chat", json={"content": "a", "threadId": alice_thread}, headers={**ALICE, "Idempotency-Key": "same"}
        )
        bob = await client.post(
            "/chat", json={"content": "b", "threadId": bob_thread}, headers={**BOB, "Idempotency-Key": "same"}
        )
    assert alice.status_code == bob.status_code == 200
    assert "idempotent-replayed" not in bob.headers


async def test_a_request_that_certainly_posted_nothing_frees_its_key(app_client, fake: FakeOpenAI) -> None:
    body = {"content": "hi", "threadId": "thread_later"}
    async with app_client() as client:
        unknown = await client.post("/chat", json=body, headers={"Idempotency-Key": "k1"})
        fake.add_thread("thread_later")
        retried = await client.post("/chat", json=body, headers={"Idempotency-Key": "k1"})
    assert unknown.status_code == 404
    assert retried.status_code == 200
    assert "idempotent-replayed" not in retried.headers


async def test_a_5xx_before_the_run_was_created_says_not_posted_and_frees_the_key(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    fake.fail_next(500, "boom", path_contains="/runs")
    body = {"content": "maybe posted", "threadId": thread_id}
    async with app_client() as client:
        failed = await client.post("/chat", json=body, headers={"Idempotency-Key": "k2"})
        retried = await client.post("/chat", json=body, headers={"Idempotency-Key": "k2"})
    assert failed.status_code == 502
    assert failed.json()["error"]["posted"] is False
    assert "The message was not posted." in failed.json()["error"]["message"]
    assert retried.status_code == 200, "the key was freed: nothing had been posted"
    assert "idempotent-replayed" not in retried.headers
    assert [m["content"][0]["text"]["value"] for m in fake.messages[thread_id] if m["role"] == "user"] == [
        "maybe posted"
    ]


async def test_an_unknown_outcome_is_kept_and_a_replay_looks_again(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    fake.fail_next(500, "boom", path_contains="/runs", mode="after")  # the run is created, the answer is a 500
    fake.fail_next(503, "lookup down", path_contains="/runs")  # and the check that would find it fails
    body = {"content": "posted after all", "threadId": thread_id}
    async with app_client() as client:
        unknown = await client.post("/chat", json=body, headers={"Idempotency-Key": "k3"})
        replayed = await client.post("/chat", json=body, headers={"Idempotency-Key": "k3"})
        again = await client.post("/chat", json=body, headers={"Idempotency-Key": "k3"})
    assert unknown.status_code == 502
    assert unknown.json()["error"]["posted"] is None
    assert replayed.status_code == 200, "the replay found the run the first attempt created"
    assert replayed.json()["run_id"] == fake.runs[thread_id][0]["id"]
    assert replayed.headers["idempotent-replayed"] == "true"
    assert again.json() == replayed.json()
    assert len(fake.requests_to("POST", f"/threads/{thread_id}/runs")) == 1
    assert len(fake.runs[thread_id]) == 1


async def test_streaming_routes_refuse_an_idempotency_key(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    async with app_client() as client:
        sse = await client.post(
            "/chat/stream", json={"content": "hi", "threadId": thread_id}, headers={"Idempotency-Key": "s"}
        )
        nextjs = await client.post(
            f"/api/assistants/threads/{thread_id}/messages",
            content=b'{"content": "hi"}',
            headers={"Idempotency-Key": "s"},
        )
    assert sse.status_code == 422
    assert sse.json()["error"]["code"] == "idempotency_not_supported"
    assert nextjs.status_code == 422
    assert "Idempotency-Key" in decode_like_chat_tsx(nextjs.content)["messages"][-1]["text"]
    assert fake.runs[thread_id] == []


async def test_malformed_keys_are_a_validation_error(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    async with app_client() as client:
        long_key = await client.post(
            "/chat", json={"content": "hi", "threadId": thread_id}, headers={"Idempotency-Key": "k" * 256}
        )
        spaced = await client.post(
            "/chat", json={"content": "hi", "threadId": thread_id}, headers={"Idempotency-Key": "two words"}
        )
    for response in (long_key, spaced):
        assert response.status_code == 422
        assert response.json()["error"]["fields"][0]["field"] == "Idempotency-Key"
    assert fake.runs[thread_id] == []
