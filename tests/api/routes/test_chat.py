"""POST /chat: the run id at once, one run per thread, hostile ids and bad bodies refused before the upstream."""

from __future__ import annotations

import asyncio
import re

import pytest

from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import wait_until


async def test_chat_starts_run_and_answers_with_its_id(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    async with app_client() as client:
        response = await client.post("/chat", json={"content": "Hello!", "threadId": thread_id})

    assert response.status_code == 200
    body = response.json()
    assert body == {"success": True, "run_id": body["run_id"], "thread_id": thread_id}
    assert re.fullmatch(r"run_[A-Za-z0-9]{24}", body["run_id"])
    assert [run["id"] for run in fake.runs[thread_id]] == [body["run_id"]]


async def test_active_run_answers_400_with_code_and_run_id(app_client, fake: FakeOpenAI) -> None:
    fake.run_seconds = 60
    thread_id = fake.add_thread()
    async with app_client() as client:
        first = await client.post("/chat", json={"content": "one", "threadId": thread_id})
        second = await client.post("/chat", json={"content": "two", "threadId": thread_id})

    assert first.status_code == 200
    assert second.status_code == 400
    error = second.json()["error"]
    assert error["code"] == "active_run"
    assert error["run_id"] == first.json()["run_id"]
    assert error["thread_id"] == thread_id
    assert second.json()["success"] is False
    user_messages = [m for m in fake.messages[thread_id] if m["role"] == "user"]
    assert len(user_messages) == 1, "the refused message must not be posted"


async def test_requires_action_run_also_blocks(app_client, fake: FakeOpenAI) -> None:
    fake.run_seconds = 60
    thread_id = fake.add_thread()
    async with app_client() as client:
        first = await client.post("/chat", json={"content": "one", "threadId": thread_id})
        fake.runs[thread_id][0]["status"] = "requires_action"
        second = await client.post("/chat", json={"content": "two", "threadId": thread_id})
    assert second.status_code == 400
    assert second.json()["error"]["run_id"] == first.json()["run_id"]


async def test_unknown_thread_is_404_and_leaves_no_conversation(app_client, fake: FakeOpenAI, mongo_stores) -> None:
    async with app_client() as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": "thread_doesnotexist"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "thread_not_found"
    assert await mongo_stores.conversations.get_conversation("default-user", "thread_doesnotexist") is None


HOSTILE_THREAD_IDS = [
    "thread_a/../../x",
    "",
    "thread_" + "a" * 10_000,
    "thread_ünïcödé",
    "thread_abc?x=1",
    "thread_abc#frag",
    "thread_abc%2F..",
    "../v1/assistants",
    "thread_abc\n",
    "run_abc123",
    " thread_abc",
]


@pytest.mark.parametrize("thread_id", HOSTILE_THREAD_IDS)
async def test_hostile_thread_ids_never_reach_the_upstream(app_client, fake: FakeOpenAI, thread_id: str) -> None:
    async with app_client() as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [f["field"] for f in error["fields"]] == ["threadId"]
    assert [r for r in fake.requests if "/threads" in r.path] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"threadId": "thread_abc"}, "content"),
        ({"content": "", "threadId": "thread_abc"}, "content"),
        ({"content": "   \n\t", "threadId": "thread_abc"}, "content"),
        ({"content": "x" * 32_001, "threadId": "thread_abc"}, "content"),
        ({"content": 42, "threadId": "thread_abc"}, "content"),
        ({"content": "hi"}, "threadId"),
        ({"content": "hi", "threadId": 12}, "threadId"),
    ],
)
async def test_bad_bodies_answer_422_naming_the_field(app_client, fake: FakeOpenAI, body: dict, field: str) -> None:
    async with app_client() as client:
        response = await client.post("/chat", json=body)
    assert response.status_code == 422
    assert field in [f["field"] for f in response.json()["error"]["fields"]]
    assert field in response.json()["error"]["message"]
    assert [r for r in fake.requests if "/threads" in r.path] == []


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'"just a string"'])
async def test_malformed_json_answers_422_in_the_error_shape(app_client, raw: bytes) -> None:
    async with app_client() as client:
        response = await client.post("/chat", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == "validation_error"


async def test_concurrent_first_messages_give_one_run_and_one_conversation(
    app_client, fake: FakeOpenAI, mongo_database
) -> None:
    fake.run_seconds = 60
    thread_id = fake.add_thread()
    async with app_client() as client:
        responses = await asyncio.gather(
            *(client.post("/chat", json={"content": f"m{i}", "threadId": thread_id}) for i in range(8))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 7
    assert len(fake.runs[thread_id]) == 1
    docs = await mongo_database["conversations"].find({"threadId": thread_id}).to_list(None)
    assert len(docs) == 1


async def test_max_content_chars_limits_the_message_on_every_posting_route(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    async with app_client(max_content_chars=10) as client:
        fits = await client.post("/chat", json={"content": "x" * 10, "threadId": thread_id})
        run_path = f"/threads/{thread_id}/runs/{fits.json()['run_id']}"

        async def run_ended() -> bool:
            return (await client.get(run_path)).json()["status"] == "completed"

        await wait_until(run_ended, "the fake's run to end")
        too_long = await client.post("/chat", json={"content": "x" * 11, "threadId": thread_id})
        streamed = await client.post("/chat/stream", json={"content": "x" * 11, "threadId": thread_id})
        nextjs = await client.post(
            f"/api/assistants/threads/{thread_id}/messages", content='{"content": "xxxxxxxxxxx"}'
        )
        schema = (await client.get("/openapi.json")).json()

    assert fits.status_code == 200
    for refused in (too_long, streamed):
        assert refused.status_code == 422
        assert refused.json()["error"]["fields"] == [
            {"field": "content", "message": "String should have at most 10 characters"}
        ]
    assert nextjs.status_code == 422
    assert "content: String should have at most 10 characters" in nextjs.text
    assert len([m for m in fake.messages[thread_id] if m["role"] == "user"]) == 1
    assert schema["components"]["schemas"]["ChatRequest"]["properties"]["content"]["maxLength"] == 10
