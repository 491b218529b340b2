"""Posting a message records the conversation (POST /chat and the Next.js route): created once, then updated."""

from __future__ import annotations

import asyncio

from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.nextjs_client import post_text_plain


async def test_chat_records_the_conversation_and_a_second_message_moves_updated_at(
    app_client, fake: FakeOpenAI, mongo_database
) -> None:
    fake.run_seconds = 0
    thread_id = fake.add_thread()
    async with app_client() as client:
        first = await client.post("/chat", json={"content": "one", "threadId": thread_id})
        doc1 = await mongo_database["conversations"].find_one({"threadId": thread_id})
        await asyncio.sleep(0.01)
        second = await client.post("/chat", json={"content": "two", "threadId": thread_id})
        doc2 = await mongo_database["conversations"].find_one({"threadId": thread_id})

    assert first.status_code == second.status_code == 200
    assert doc1["userId"] == "default-user"
    assert doc1["isGroup"] is False
    assert doc2["createdAt"] == doc1["createdAt"]
    assert doc2["name"] == doc1["name"]
    assert doc2["updatedAt"] > doc1["updatedAt"]
    assert await mongo_database["conversations"].count_documents({}) == 1


async def test_message_route_records_the_conversation(app_client, fake: FakeOpenAI, mongo_stores) -> None:
    thread_id = fake.add_thread()
    async with app_client() as client:
        await post_text_plain(client, thread_id, "hi")
    assert await mongo_stores.conversations.get_conversation("default-user", thread_id) is not None
