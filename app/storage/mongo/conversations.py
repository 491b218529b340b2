"""Conversation storage on MongoDB (PyMongo's asyncio API, or mongomock-motor in tests)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from app.storage.base import Conversation, IdempotencyRecord, PageCursor, conversation_name, utc_now

logger = logging.getLogger(__name__)

CONVERSATIONS = "conversations"
THREAD_OWNERS = "thread_owners"
IDEMPOTENCY_KEYS = "idempotency_keys"


def _to_conversation(doc: dict[str, Any]) -> Conversation:
    return Conversation(
        user_id=doc["userId"],
        thread_id=doc["threadId"],
        name=doc["name"],
        is_group=bool(doc.get("isGroup", False)),
        created_at=doc["createdAt"],
        updated_at=doc["updatedAt"],
    )


def _to_idempotency_record(doc: dict[str, Any]) -> IdempotencyRecord:
    return IdempotencyRecord(
        user_id=doc["userId"],
        key=doc["key"],
        fingerprint=doc["fingerprint"],
        state=doc["state"],
        expires_at=doc["expiresAt"],
        status_code=doc.get("statusCode"),
        response=doc.get("response"),
    )


class MongoConversationStore:
    """Conversations in a MongoDB database, same schema as the Next.js app."""

    kind = "mongodb"

    def __init__(self, database: Any) -> None:
        self._db = database
        self._conversations = database[CONVERSATIONS]
        self._thread_owners = database[THREAD_OWNERS]
        self._idempotency = database[IDEMPOTENCY_KEYS]

    async def ensure_indexes(self) -> None:
        await self._conversations.create_index(
            [("userId", ASCENDING), ("threadId", ASCENDING)], unique=True, name="user_thread_unique"
        )
        await self._conversations.create_index(
            [("userId", ASCENDING), ("createdAt", DESCENDING), ("threadId", DESCENDING)], name="user_newest"
        )
        await self._thread_owners.create_index([("threadId", ASCENDING)], unique=True, name="thread_unique")
        await self._idempotency.create_index(
            [("userId", ASCENDING), ("key", ASCENDING)], unique=True, name="user_key_unique"
        )
        # MongoDB's TTL monitor deletes records once `expiresAt` has passed (checked about once a minute;
        # claim_idempotency_key treats a record past its expiry as gone in the meantime).
        await self._idempotency.create_index([("expiresAt", ASCENDING)], expireAfterSeconds=0, name="expires_ttl")

    async def ping(self) -> None:
        await self._db.command("ping")

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
        return result.deleted_count > 0

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

    async def claim_thread(self, user_id: str, thread_id: str) -> str:
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

    async def thread_owner(self, thread_id: str) -> str | None:
        doc = await self._thread_owners.find_one({"threadId": thread_id}, {"userId": 1})
        return str(doc["userId"]) if doc else None

    async def release_thread(self, user_id: str, thread_id: str) -> None:
        await self._thread_owners.delete_one({"threadId": thread_id, "userId": user_id})

    async def claim_idempotency_key(
        self, user_id: str, key: str, fingerprint: str, *, lease_s: float
    ) -> IdempotencyRecord | None:
        for _ in range(3):
            now = utc_now()
            doc = {
                "userId": user_id,
                "key": key,
                "fingerprint": fingerprint,
                "state": "in_progress",
                "createdAt": now,
                "expiresAt": now + timedelta(seconds=lease_s),
            }
            try:
                await self._idempotency.insert_one(dict(doc))
                return None
            except DuplicateKeyError:
                existing = await self._idempotency.find_one({"userId": user_id, "key": key})
            if existing is None:
                continue  # expired and deleted in between: try the insert again
            if existing["expiresAt"] > now:
                return _to_idempotency_record(existing)
            # Past its expiry but not yet removed by the TTL monitor: take it over, unless someone else just did.
            taken = await self._idempotency.replace_one(
                {"_id": existing["_id"], "expiresAt": existing["expiresAt"]}, doc
            )
            if taken.modified_count == 1:
                return None
        raise RuntimeError("idempotency key is contended")

    async def complete_idempotency_key(
        self, user_id: str, key: str, status_code: int, response: dict[str, Any], *, ttl_s: float
    ) -> None:
        await self._idempotency.update_one(
            {"userId": user_id, "key": key},
            {
                "$set": {
                    "state": "completed",
                    "statusCode": status_code,
                    "response": response,
                    "expiresAt": utc_now() + timedelta(seconds=ttl_s),
                }
            },
        )

    async def release_idempotency_key(self, user_id: str, key: str) -> None:
        await self._idempotency.delete_one({"userId": user_id, "key": key})
