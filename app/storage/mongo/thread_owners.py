"""Thread owners on MongoDB: collection `thread_owners`, one document per thread (unique index)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.clock import utc_now
from app.storage.mongo.database import create_unique_index, storage_errors_translated


@storage_errors_translated
class MongoThreadOwnerStore:
    """`{threadId, userId, createdAt}`; the first claim wins."""

    def __init__(self, database: Any) -> None:
        self._thread_owners = database["thread_owners"]

    async def ensure_indexes(self) -> None:
        await create_unique_index(self._thread_owners, [("threadId", ASCENDING)], "thread_unique")

    async def claim_owner(self, user_id: str, thread_id: str) -> str:
        try:
            doc = await self._thread_owners.find_one_and_update(
                {"threadId": thread_id},
                {"$setOnInsert": {"threadId": thread_id, "userId": user_id, "createdAt": utc_now()}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            # Two first claims raced; the unique index let the other one win.
            doc = await self._thread_owners.find_one({"threadId": thread_id})
        return str(doc["userId"])

    async def owner_of(self, thread_id: str) -> str | None:
        doc = await self._thread_owners.find_one({"threadId": thread_id}, {"userId": 1})
        return str(doc["userId"]) if doc else None

    async def release_owner(self, user_id: str, thread_id: str) -> None:
        await self._thread_owners.delete_one({"threadId": thread_id, "userId": user_id})
