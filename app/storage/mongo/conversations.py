"""Conversation storage on MongoDB (PyMongo's asyncio API, or mongomock-motor in tests)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.clock import utc_now
from app.storage.conversations import Conversation, PageCursor, conversation_name
from app.storage.mongo.errors import storage_errors_translated

logger = logging.getLogger(__name__)

CONVERSATIONS = "conversations"


def _to_conversation(doc: dict[str, Any]) -> Conversation:
    return Conversation(
        user_id=doc["userId"],
        thread_id=doc["threadId"],
        name=doc["name"],
        is_group=bool(doc.get("isGroup", False)),
        created_at=doc["createdAt"],
        updated_at=doc["updatedAt"],
    )


@storage_errors_translated
class MongoConversationStore:
    """Conversations in a MongoDB database, same schema as the Next.js app."""

    def __init__(self, database: Any) -> None:
        self._conversations = database[CONVERSATIONS]

    async def ensure_indexes(self) -> None:
        await self._conversations.create_index(
            [("userId", ASCENDING), ("threadId", ASCENDING)], unique=True, name="user_thread_unique"
        )
        await self._conversations.create_index(
            [("userId", ASCENDING), ("createdAt", DESCENDING), ("threadId", DESCENDING)], name="user_newest"
        )

    async def touch_conversation(self, user_id: str, thread_id: str, at: datetime | None = None) -> bool:
        now = at or utc_now()
        update = {
            "$max": {"updatedAt": now},
            "$setOnInsert": {
                "userId": user_id,
                "threadId": thread_id,
                "name": conversation_name(now),
                "isGroup": False,
                "createdAt": now,
            },
        }
        key = {"userId": user_id, "threadId": thread_id}
        try:
            result = await self._conversations.update_one(key, update, upsert=True)
        except DuplicateKeyError:
            # Two first messages raced; the unique index let one insert win. Ours is an update now.
            result = await self._conversations.update_one(key, {"$max": {"updatedAt": now}})
            return False
        return result.upserted_id is not None

    async def get_conversation(self, user_id: str, thread_id: str) -> Conversation | None:
        doc = await self._conversations.find_one({"userId": user_id, "threadId": thread_id})
        return _to_conversation(doc) if doc else None

    async def delete_conversation(self, user_id: str, thread_id: str) -> bool:
        result = await self._conversations.delete_one({"userId": user_id, "threadId": thread_id})
        return bool(result.deleted_count > 0)

    async def rename_conversation(self, user_id: str, thread_id: str, name: str) -> Conversation | None:
        doc = await self._conversations.find_one_and_update(
            {"userId": user_id, "threadId": thread_id}, {"$set": {"name": name}}, return_document=ReturnDocument.AFTER
        )
        return _to_conversation(doc) if doc else None

    async def list_conversations(
        self, user_id: str, *, limit: int, after: PageCursor | None = None
    ) -> list[Conversation]:
        query: dict[str, Any] = {"userId": user_id}
        if after is not None:
            query["$or"] = [
                {"createdAt": {"$lt": after.created_at}},
                {"createdAt": after.created_at, "threadId": {"$lt": after.thread_id}},
            ]
        cursor = self._conversations.find(query).sort([("createdAt", DESCENDING), ("threadId", DESCENDING)])
        return [_to_conversation(doc) for doc in await cursor.limit(limit).to_list(limit)]
