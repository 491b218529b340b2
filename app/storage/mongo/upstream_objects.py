"""Upstream files and vector stores on MongoDB: collection `upstream_objects` (`userId` the owner)."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING

from app.storage.mongo.database import from_doc, from_docs, keyset_page, storage_errors_translated, to_doc
from app.storage.upstream_objects import Key, ObjectKind, UpstreamObjectRecord


@storage_errors_translated
class MongoUpstreamObjectStore:
    def __init__(self, database: Any) -> None:
        self._objects = database["upstream_objects"]

    async def ensure_indexes(self) -> None:
        newest = [("createdAt", DESCENDING), ("_id", DESCENDING)]
        await self._objects.create_index([("userId", ASCENDING), ("kind", ASCENDING), *newest], name="user_newest")
        await self._objects.create_index(
            [("userId", ASCENDING), ("kind", ASCENDING), ("purpose", ASCENDING), *newest], name="user_purpose_newest"
        )

    async def put(self, record: UpstreamObjectRecord) -> None:
        await self._objects.replace_one({"_id": record.id}, to_doc(record), upsert=True)

    async def get(self, object_id: str) -> UpstreamObjectRecord | None:
        return from_doc(UpstreamObjectRecord, await self._objects.find_one({"_id": object_id}))

    async def delete(self, object_id: str) -> bool:
        return bool((await self._objects.delete_one({"_id": object_id})).deleted_count)

    async def page(
        self,
        owner: str,
        kind: ObjectKind,
        *,
        purpose: str | None,
        key_after: Key | None,
        key_before: Key | None,
        ascending: bool,
        limit: int,
    ) -> list[UpstreamObjectRecord]:
        query: dict[str, Any] = {"userId": owner, "kind": kind} | ({"purpose": purpose} if purpose is not None else {})
        docs = await keyset_page(
            self._objects,
            query,
            ("createdAt", "_id"),
            after=key_after,
            before=key_before,
            ascending=ascending,
            limit=limit,
        )
        return from_docs(UpstreamObjectRecord, docs)
