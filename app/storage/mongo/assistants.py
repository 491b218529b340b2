"""The hosted engine's assistants on MongoDB: collection `assistants` (camelCase fields, `userId` the owner)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING

from app.storage.assistants import FILE_SEARCH_TOOL, AssistantRecord, Key
from app.storage.mongo.database import from_doc, from_docs, keyset_page, storage_errors_translated, to_doc, updated


@storage_errors_translated
class MongoAssistantStore:
    def __init__(self, database: Any) -> None:
        self._assistants = database["assistants"]

    async def ensure_indexes(self) -> None:
        await self._assistants.create_index(
            [("userId", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING)], name="user_newest"
        )

    async def put(self, assistant: AssistantRecord) -> None:
        await self._assistants.replace_one({"_id": assistant.id}, to_doc(assistant), upsert=True)

    async def get(self, assistant_id: str) -> AssistantRecord | None:
        return from_doc(AssistantRecord, await self._assistants.find_one({"_id": assistant_id}))

    async def delete(self, assistant_id: str) -> bool:
        return bool((await self._assistants.delete_one({"_id": assistant_id})).deleted_count)

    async def page(
        self, owner: str, *, key_after: Key | None, key_before: Key | None, ascending: bool, limit: int
    ) -> list[AssistantRecord]:
        docs = await keyset_page(
            self._assistants,
            {"userId": owner},
            ("createdAt", "_id"),
            after=key_after,
            before=key_before,
            ascending=ascending,
            limit=limit,
        )
        return from_docs(AssistantRecord, docs)

    async def attach_vector_store(self, assistant_id: str, store_id: str) -> AssistantRecord | None:
        unattached = {"_id": assistant_id, "toolResources.file_search.vector_store_ids.0": {"$exists": False}}
        update = {
            "$set": {"toolResources.file_search.vector_store_ids": [store_id]},
            "$addToSet": {"tools": dict(FILE_SEARCH_TOOL)},
        }
        return await updated(self._assistants, AssistantRecord, unattached, update) or await self.get(assistant_id)
