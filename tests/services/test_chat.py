"""Posting a message records the conversation (POST /chat and the Next.js route): created once, then updated."""

from __future__ import annotations

import asyncio

from tests.fakes.app_support import sdk_client_for
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


async def test_two_messages_racing_with_a_retried_failure_keep_their_conversation(
    app_client, fake: FakeOpenAI, mongo_stores
) -> None:
    """Whichever request created the record, the one that lost the race must not delete it."""
    fake.run_seconds = 60  # the winner's run stays active: the loser's retry meets it
    threads = [fake.add_thread() for _ in range(6)]
    async with app_client(openai_client=sdk_client_for(fake, max_retries=1)) as client:
        for thread_id in threads:
            fake.fail_next(500, path_contains=f"/threads/{thread_id}/runs", method="POST")
            answers = await asyncio.gather(
                *(client.post("/chat", json={"content": text, "threadId": thread_id}) for text in ("one", "two"))
            )
            assert sorted(a.status_code for a in answers) == [200, 400], [a.text for a in answers]
            conversation = await mongo_stores.conversations.get_conversation("default-user", thread_id)
            assert conversation is not None, "a message was posted: its conversation stays"
            assert len([m for m in fake.messages[thread_id] if m["role"] == "user"]) == 1
