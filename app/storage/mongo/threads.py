"""The hosted engine's storage on MongoDB: collections `threads`, `messages`, `runs` and `run_steps`.

Documents use camelCase field names, like the `conversations` collection. Every change to a
thread's active run or to a run's status is a single conditional update, so the rules hold
across any number of processes sharing the database.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument

from app.storage.mongo.database import doc_name, from_doc, from_docs, storage_errors_translated, to_doc
from app.storage.threads import (
    ACTIVE_RUN_STATUSES,
    RUNNING_RUN_STATUSES,
    ClaimResult,
    MessageRecord,
    RunRecord,
    RunStepRecord,
    ThreadRecord,
)

_ACTIVE = {"$in": sorted(ACTIVE_RUN_STATUSES)}
_RUNNING = {"$in": sorted(RUNNING_RUN_STATUSES)}


@storage_errors_translated
class MongoThreadStore:
    """Threads, messages and runs in a MongoDB database (pymongo async, or mongomock-motor in tests)."""

    def __init__(self, database: Any) -> None:
        self._threads = database["threads"]
        self._messages = database["messages"]
        self._runs = database["runs"]
        self._steps = database["run_steps"]

    async def ensure_indexes(self) -> None:
        await self._messages.create_index(
            [("threadId", ASCENDING), ("seq", ASCENDING)], unique=True, name="thread_position_unique"
        )
        await self._runs.create_index([("threadId", ASCENDING), ("createdAt", DESCENDING)], name="thread_recent")
        await self._runs.create_index([("status", ASCENDING), ("leaseExpiresAt", ASCENDING)], name="status_lease")
        await self._steps.create_index([("runId", ASCENDING), ("seq", ASCENDING)], name="run_position")

    # ---- threads ---------------------------------------------------------------------
    async def create_thread(self, thread: ThreadRecord) -> None:
        await self._threads.insert_one(to_doc(thread))

    async def get_thread(self, thread_id: str) -> ThreadRecord | None:
        return from_doc(ThreadRecord, await self._threads.find_one({"_id": thread_id}))

    async def set_thread_metadata(self, thread_id: str, metadata: dict[str, str]) -> ThreadRecord | None:
        return await self._set_thread_field(thread_id, "metadata", dict(metadata))

    async def set_thread_tool_resources(self, thread_id: str, resources: dict[str, Any]) -> ThreadRecord | None:
        return await self._set_thread_field(thread_id, "toolResources", dict(resources))

    async def swap_thread_tool_resources(
        self, thread_id: str, resources: dict[str, Any], *, expected: dict[str, Any] | None
    ) -> bool:
        # Documents compare field by field, in order: `expected` is what was read, in the stored order.
        unset: list[dict[str, Any]] = [{"toolResources": None}, {"toolResources": {}}]
        condition = {"$or": unset} if not expected else {"toolResources": expected}
        result = await self._threads.update_one(
            {"_id": thread_id, **condition}, {"$set": {"toolResources": dict(resources)}}
        )
        return bool(result.matched_count)

    async def _set_thread_field(self, thread_id: str, field: str, value: Any) -> ThreadRecord | None:
        doc = await self._threads.find_one_and_update(
            {"_id": thread_id}, {"$set": {field: value}}, return_document=ReturnDocument.AFTER
        )
        return from_doc(ThreadRecord, doc)

    async def delete_thread(self, thread_id: str) -> bool:
        result = await self._threads.delete_one({"_id": thread_id})
        if not result.deleted_count:
            return False
        run_ids = [doc["_id"] for doc in await self._runs.find({"threadId": thread_id}, {"_id": True}).to_list(None)]
        await self._messages.delete_many({"threadId": thread_id})
        await self._runs.delete_many({"threadId": thread_id})
        if run_ids:
            await self._steps.delete_many({"runId": {"$in": run_ids}})
        return True

    async def claim_active_run(
        self, thread_id: str, run_id: str, *, holder: str | None, claim_expires_at: datetime
    ) -> ClaimResult:
        doc = await self._threads.find_one_and_update(
            {"_id": thread_id, "activeRunId": holder},
            {"$set": {"activeRunId": run_id, "claimExpiresAt": claim_expires_at}, "$inc": {"messageCount": 1}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None:
            return ClaimResult(granted=True, thread=from_doc(ThreadRecord, doc))
        return ClaimResult(granted=False, thread=await self.get_thread(thread_id))

    async def release_active_run(self, thread_id: str, run_id: str) -> bool:
        result = await self._threads.update_one(
            {"_id": thread_id, "activeRunId": run_id}, {"$set": {"activeRunId": None, "claimExpiresAt": None}}
        )
        return bool(result.modified_count > 0)

    async def next_message_seq(self, thread_id: str, run_id: str) -> int | None:
        doc = await self._threads.find_one_and_update(
            {"_id": thread_id, "activeRunId": run_id},
            {"$inc": {"messageCount": 1}},
            projection={"messageCount": True},
            return_document=ReturnDocument.AFTER,
        )
        return int(doc["messageCount"]) if doc else None

    # ---- messages ----------------------------------------------------------------------
    async def insert_message(self, message: MessageRecord) -> None:
        await self._messages.insert_one(to_doc(message))

    async def get_message(self, message_id: str) -> MessageRecord | None:
        doc = await self._messages.find_one({"_id": message_id})
        return from_doc(MessageRecord, doc)

    async def set_message_metadata(self, message_id: str, metadata: dict[str, str]) -> MessageRecord | None:
        doc = await self._messages.find_one_and_update(
            {"_id": message_id}, {"$set": {"metadata": dict(metadata)}}, return_document=ReturnDocument.AFTER
        )
        return from_doc(MessageRecord, doc)

    async def delete_message(self, message_id: str) -> bool:
        result = await self._messages.delete_one({"_id": message_id})
        return bool(result.deleted_count)

    async def messages_page(
        self,
        thread_id: str,
        *,
        seq_after: int | None,
        seq_before: int | None,
        ascending: bool,
        limit: int,
    ) -> list[MessageRecord]:
        bounds = {operator: seq for operator, seq in (("$gt", seq_after), ("$lt", seq_before)) if seq is not None}
        query = {"threadId": thread_id, "seq": bounds} if bounds else {"threadId": thread_id}
        cursor = self._messages.find(query).sort("seq", ASCENDING if ascending else DESCENDING).limit(limit)
        return from_docs(MessageRecord, await cursor.to_list(None))

    # ---- runs --------------------------------------------------------------------------
    async def insert_run(self, run: RunRecord) -> None:
        await self._runs.insert_one(to_doc(run))

    async def get_run(self, run_id: str) -> RunRecord | None:
        return from_doc(RunRecord, await self._runs.find_one({"_id": run_id}))

    async def thread_runs(self, thread_id: str) -> list[RunRecord]:
        cursor = self._runs.find({"threadId": thread_id}).sort([("createdAt", ASCENDING), ("_id", ASCENDING)])
        return from_docs(RunRecord, await cursor.to_list(None))

    async def set_run_metadata(self, run_id: str, metadata: dict[str, str]) -> RunRecord | None:
        doc = await self._runs.find_one_and_update(
            {"_id": run_id}, {"$set": {"metadata": dict(metadata)}}, return_document=ReturnDocument.AFTER
        )
        return from_doc(RunRecord, doc)

    async def update_active_run(
        self,
        run_id: str,
        changes: dict[str, Any],
        *,
        lapsed_before: datetime | None = None,
        status: str | None = None,
    ) -> RunRecord | None:
        query: dict[str, Any] = {"_id": run_id, "status": _ACTIVE if status is None else status}
        if status is not None and status not in ACTIVE_RUN_STATUSES:
            return None
        if lapsed_before is not None:
            query["leaseExpiresAt"] = {"$lt": lapsed_before}
        update = {doc_name(name): list(value) if name == "tools" else value for name, value in changes.items()}
        doc = await self._runs.find_one_and_update(query, {"$set": update}, return_document=ReturnDocument.AFTER)
        return from_doc(RunRecord, doc)

    async def renew_leases(self, run_ids: Collection[str], lease_expires_at: datetime) -> set[str]:
        ids = list(run_ids)
        if not ids:
            return set()
        query = {"_id": {"$in": ids}, "status": _RUNNING}
        await self._runs.update_many(query, {"$set": {"leaseExpiresAt": lease_expires_at}})
        # A run that went terminal between the two calls is simply not reported: it is no longer ours to run.
        docs = await self._runs.find(query, projection={"_id": True}).to_list(None)
        return {doc["_id"] for doc in docs}

    async def lapsed_runs(self, now: datetime, limit: int) -> list[RunRecord]:
        cursor = self._runs.find({"status": _ACTIVE, "leaseExpiresAt": {"$lt": now}}).limit(limit)
        return from_docs(RunRecord, await cursor.to_list(None))

    # ---- run steps ---------------------------------------------------------------------
    async def save_run_step(self, step: RunStepRecord) -> None:
        await self._steps.replace_one({"_id": step.id}, to_doc(step), upsert=True)

    async def run_steps(self, run_id: str) -> list[RunStepRecord]:
        cursor = self._steps.find({"runId": run_id}).sort("seq", ASCENDING)
        return from_docs(RunStepRecord, await cursor.to_list(None))
