"""Conversation storage on MongoDB (PyMongo's asyncio API, or mongomock-motor in tests)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.clock import utc_now
from app.storage.conversations import Conversation, PageCursor, conversation_name
from app.storage.mongo.database import create_unique_index, from_doc, keyset_page, storage_errors_translated, to_doc


def _conversation(doc: dict[str, Any] | None) -> Conversation | None:
    return from_doc(Conversation, doc and {"isGroup": False, **doc})  # the Next.js app's may lack `isGroup`


@storage_errors_translated
class MongoConversationStore:
    """Conversations in a MongoDB database, same schema as the Next.js app."""

    def __init__(self, database: Any) -> None:
        self._conversations = database["conversations"]

    async def ensure_indexes(self) -> None:
        await create_unique_index(
            self._conversations, [("userId", ASCENDING), ("threadId", ASCENDING)], "user_thread_unique"
        )
        await self._conversations.create_index(
            [("userId", ASCENDING), ("createdAt", DESCENDING), ("threadId", DESCENDING)], name="user_newest"
        )

    async def touch_conversation(self, user_id: str, thread_id: str, at: datetime | None = None) -> bool:
        now = at or utc_now()
        created = to_doc(Conversation(user_id, thread_id, conversation_name(now), False, now, now))
        update = {"$max": {"updatedAt": created.pop("updatedAt")}, "$setOnInsert": created}
        key = {"userId": user_id, "threadId": thread_id}
        try:
            result = await self._conversations.update_one(key, update, upsert=True)
        except DuplicateKeyError:
            # Two first messages raced; the unique index let one insert win. Ours is an update now.
            await self._conversations.update_one(key, {"$max": {"updatedAt": now}})
            return False
        return result.upserted_id is not None

    async def get_conversation(self, user_id: str, thread_id: str) -> Conversation | None:
        return _conversation(await self._conversations.find_one({"userId": user_id, "threadId": thread_id}))

    async def delete_conversation(self, user_id: str, thread_id: str) -> bool:
        return bool((await self._conversations.delete_one({"userId": user_id, "threadId": thread_id})).deleted_count)

    async def rename_conversation(self, user_id: str, thread_id: str, name: str) -> Conversation | None:
        doc = await self._conversations.find_one_and_update(
            {"userId": user_id, "threadId": thread_id}, {"$set": {"name": name}}, return_document=ReturnDocument.AFTER
        )
        return _conversation(doc)

    async def list_conversations(
        self, user_id: str, *, limit: int, after: PageCursor | None = None
    ) -> list[Conversation]:
        docs = await keyset_page(
            self._conversations,
            {"userId": user_id},
            ("createdAt", "threadId"),
            after=None,
            before=None if after is None else (after.created_at, after.thread_id),
            ascending=False,
            limit=limit,
        )
        return [conversation for doc in docs if (conversation := _conversation(doc))]
