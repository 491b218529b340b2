"""Conversation storage: the Next.js schema, upsert semantics, races; on mongomock, a real MongoDB and SQLite."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from app.storage import Stores
from app.storage.conversations import PageCursor
from app.storage.mongo.conversations import MongoConversationStore


async def test_first_touch_creates_the_conversation_with_the_nextjs_fields(store: Stores) -> None:
    await store.ensure_indexes(threads=False)
    created = await store.conversations.touch_conversation("default-user", "thread_abc")
    conversation = await store.conversations.get_conversation("default-user", "thread_abc")

    assert created is True
    assert conversation is not None
    assert conversation.user_id == "default-user"
    assert conversation.thread_id == "thread_abc"
    assert conversation.is_group is False
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", conversation.name)
    assert isinstance(conversation.created_at, datetime)
    assert conversation.created_at.tzinfo is not None
    assert conversation.created_at == conversation.updated_at
    assert conversation.name == conversation.created_at.strftime("%Y-%m-%d %H:%M:%S")


async def test_later_touch_moves_updated_at_only(store: Stores) -> None:
    await store.conversations.touch_conversation("u1", "thread_abc")
    first = await store.conversations.get_conversation("u1", "thread_abc")
    await asyncio.sleep(0.01)
    created_again = await store.conversations.touch_conversation("u1", "thread_abc")
    second = await store.conversations.get_conversation("u1", "thread_abc")

    assert created_again is False
    assert first is not None
    assert second is not None
    assert second.created_at == first.created_at
    assert second.name == first.name
    assert second.updated_at > first.updated_at


async def test_concurrent_first_touches_leave_one_conversation(store: Stores) -> None:
    await store.ensure_indexes(threads=False)
    results = await asyncio.gather(*(store.conversations.touch_conversation("u1", "thread_race") for _ in range(20)))
    assert results.count(True) == 1
    assert await store.conversations.get_conversation("u1", "thread_race") is not None


async def test_listing_is_newest_first_with_ties_by_thread_id_across_pages_and_deletes(
    store: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.storage.mongo import conversations as mongo
    from app.storage.sqlite import conversations as sqlite

    clock = iter([datetime(2026, 1, 1, 12, 0, second) for second in (1, 2, 2, 2, 3, 3)])
    for module in (sqlite, mongo):
        monkeypatch.setattr(module, "utc_now", lambda: next(clock).replace(tzinfo=UTC))
    for thread_id in ("thread_a", "thread_b", "thread_ba", "thread_c", "thread_x", "thread_d"):
        await store.conversations.touch_conversation("u1", thread_id)
    await store.conversations.delete_conversation("u1", "thread_c")

    order, cursor = [], None
    for _ in range(5):
        page = await store.conversations.list_conversations("u1", limit=2, after=cursor)
        if not page:
            break
        order += [c.thread_id for c in page]
        cursor = PageCursor.after(page[-1])
    assert order == ["thread_x", "thread_d", "thread_ba", "thread_b", "thread_a"]


async def test_users_have_separate_conversations(store: Stores) -> None:
    await store.conversations.touch_conversation("alice", "thread_abc")
    assert await store.conversations.get_conversation("bob", "thread_abc") is None
    assert await store.conversations.delete_conversation("bob", "thread_abc") is False
    assert await store.conversations.delete_conversation("alice", "thread_abc") is True
    assert await store.conversations.get_conversation("alice", "thread_abc") is None


async def test_mongo_document_has_exactly_the_nextjs_schema(real_mongo_database: Any) -> None:
    database = real_mongo_database
    store = MongoConversationStore(database)
    await store.touch_conversation("default-user", "thread_abc")
    doc = await database["conversations"].find_one({"threadId": "thread_abc"})
    assert set(doc) == {"_id", "userId", "threadId", "name", "isGroup", "createdAt", "updatedAt"}
    assert doc["userId"] == "default-user"
    assert doc["isGroup"] is False
    assert isinstance(doc["createdAt"], datetime)
    assert isinstance(doc["updatedAt"], datetime)
    assert isinstance(doc["name"], str)


async def test_unique_index_on_user_and_thread_is_created(real_mongo_database: Any) -> None:
    database = real_mongo_database
    await MongoConversationStore(database).ensure_indexes()
    info = await database["conversations"].index_information()
    unique = [spec for spec in info.values() if spec.get("unique")]
    assert [spec["key"] for spec in unique] == [[("userId", 1), ("threadId", 1)]]


@pytest.mark.mongodb
async def test_real_mongodb_upsert_race_leaves_one_document(real_mongo_database: Any) -> None:
    database = real_mongo_database
    store = MongoConversationStore(database)
    await store.ensure_indexes()
    results = await asyncio.gather(*(store.touch_conversation("u1", "thread_race") for _ in range(20)))
    assert results.count(True) == 1
    assert await database["conversations"].count_documents({"threadId": "thread_race"}) == 1


async def test_touch_at_a_given_time_never_moves_updated_at_back(store: Stores) -> None:
    from datetime import timedelta

    from app.clock import utc_now

    now = utc_now()
    assert await store.conversations.touch_conversation("u1", "thread_late", at=now) is True
    assert await store.conversations.touch_conversation("u1", "thread_late", at=now - timedelta(seconds=30)) is False
    conversation = await store.conversations.get_conversation("u1", "thread_late")
    assert conversation is not None
    assert conversation.created_at == conversation.updated_at == now
