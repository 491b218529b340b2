"""The hosted engine's assistants on MongoDB: collection `assistants` (camelCase fields, `userId` the owner)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument

from app.storage.assistants import FILE_SEARCH_TOOL, AssistantRecord
from app.storage.mongo.errors import storage_errors_translated

ASSISTANTS = "assistants"


def _to_doc(assistant: AssistantRecord) -> dict[str, Any]:
    return {
        "_id": assistant.id,
        "userId": assistant.owner,
        "createdAt": assistant.created_at,
        "model": assistant.model,
        "name": assistant.name,
        "description": assistant.description,
        "instructions": assistant.instructions,
        "tools": [dict(tool) for tool in assistant.tools],
        "toolResources": dict(assistant.tool_resources),
        "metadata": dict(assistant.metadata),
        "temperature": assistant.temperature,
        "topP": assistant.top_p,
        "responseFormat": assistant.response_format,
    }


def _from_doc(doc: dict[str, Any] | None) -> AssistantRecord | None:
    if not doc:
        return None
    return AssistantRecord(
        id=doc["_id"],
        owner=doc["userId"],
        created_at=doc["createdAt"],
        model=doc["model"],
        name=doc.get("name"),
        description=doc.get("description"),
        instructions=doc.get("instructions"),
        tools=tuple(doc.get("tools") or ()),
        tool_resources=dict(doc.get("toolResources") or {}),
        metadata=dict(doc.get("metadata") or {}),
        temperature=doc.get("temperature"),
        top_p=doc.get("topP"),
        response_format=doc.get("responseFormat"),
    )


def _beyond(key: tuple[datetime, str], operator: str) -> dict[str, Any]:
    created_at, assistant_id = key
    return {"$or": [{"createdAt": {operator: created_at}}, {"createdAt": created_at, "_id": {operator: assistant_id}}]}


@storage_errors_translated
class MongoAssistantStore:
    """Assistants in a MongoDB database (pymongo async, or mongomock-motor in tests)."""

    def __init__(self, database: Any) -> None:
        self._assistants = database[ASSISTANTS]

    async def ensure_indexes(self) -> None:
        await self._assistants.create_index(
            [("userId", ASCENDING), ("createdAt", DESCENDING), ("_id", DESCENDING)], name="user_newest"
        )

    async def put(self, assistant: AssistantRecord) -> None:
        await self._assistants.replace_one({"_id": assistant.id}, _to_doc(assistant), upsert=True)

    async def get(self, assistant_id: str) -> AssistantRecord | None:
        return _from_doc(await self._assistants.find_one({"_id": assistant_id}))

    async def delete(self, assistant_id: str) -> bool:
        result = await self._assistants.delete_one({"_id": assistant_id})
        return bool(result.deleted_count > 0)

    async def page(
        self,
        owner: str,
        *,
        key_after: tuple[datetime, str] | None,
        key_before: tuple[datetime, str] | None,
        ascending: bool,
        limit: int,
    ) -> list[AssistantRecord]:
        conditions: list[dict[str, Any]] = [{"userId": owner}]
        if key_after is not None:
            conditions.append(_beyond(key_after, "$gt"))
        if key_before is not None:
            conditions.append(_beyond(key_before, "$lt"))
        direction = ASCENDING if ascending else DESCENDING
        cursor = self._assistants.find({"$and": conditions}).sort([("createdAt", direction), ("_id", direction)])
        docs = await cursor.limit(limit).to_list(None)
        return [assistant for doc in docs if (assistant := _from_doc(doc)) is not None]

    async def attach_vector_store(self, assistant_id: str, store_id: str) -> AssistantRecord | None:
        doc = await self._assistants.find_one_and_update(
            {"_id": assistant_id, "toolResources.file_search.vector_store_ids.0": {"$exists": False}},
            {
                "$set": {"toolResources.file_search.vector_store_ids": [store_id]},
                "$addToSet": {"tools": dict(FILE_SEARCH_TOOL)},
            },
            return_document=ReturnDocument.AFTER,
        )
        return _from_doc(doc) or await self.get(assistant_id)
