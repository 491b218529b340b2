"""The hosted engine's storage on MongoDB: collections `threads`, `messages`, `runs` and `run_steps`.

Every change to a thread's active run or to a run's status is a single conditional update, so the
rules hold across any number of processes sharing the database.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument

from app.storage.mongo.database import (
    create_unique_index,
    doc_name,
    from_doc,
    from_docs,
    keyset_page,
    once_more_if_reply_lost,
    storage_errors_translated,
    to_doc,
    updated,
)
from app.storage.threads import (
    ACTIVE_RUN_STATUSES,
    RUNNING_RUN_STATUSES,
    ClaimResult,
    MessageRecord,
    RunKey,
    RunRecord,
    RunStepRecord,
    ThreadRecord,
)

_ACTIVE = {"$in": sorted(ACTIVE_RUN_STATUSES)}
_RUNNING = {"$in": sorted(RUNNING_RUN_STATUSES)}


@storage_errors_translated
class MongoThreadStore:
    def __init__(self, database: Any) -> None:
        self._threads = database["threads"]
        self._messages = database["messages"]
        self._runs = database["runs"]
        self._steps = database["run_steps"]

    async def ensure_indexes(self) -> None:
        await create_unique_index(
            self._messages, [("threadId", ASCENDING), ("seq", ASCENDING)], "thread_position_unique"
        )
        await self._messages.create_index(
            [("threadId", ASCENDING), ("marker", ASCENDING)],
            unique=True,
            partialFilterExpression={"marker": {"$type": "string"}},
            name="thread_marker_unique",
        )
        await self._messages.create_index(
            [("runId", ASCENDING), ("threadId", ASCENDING), ("seq", ASCENDING)],
            partialFilterExpression={"runId": {"$type": "string"}},
            name="run_messages",
        )
        await self._runs.create_index(
            [("threadId", ASCENDING), ("createdAt", ASCENDING), ("_id", ASCENDING)], name="thread_created"
        )
        await self._runs.create_index([("status", ASCENDING), ("leaseExpiresAt", ASCENDING)], name="status_lease")
        await self._steps.create_index([("runId", ASCENDING), ("seq", ASCENDING)], name="run_position")

    async def create_thread(self, thread: ThreadRecord) -> None:
        await self._threads.insert_one(to_doc(thread))

    async def get_thread(self, thread_id: str) -> ThreadRecord | None:
        return from_doc(ThreadRecord, await self._threads.find_one({"_id": thread_id}))

    async def set_thread_metadata(self, thread_id: str, metadata: dict[str, str]) -> ThreadRecord | None:
        return await updated(self._threads, ThreadRecord, {"_id": thread_id}, {"$set": {"metadata": dict(metadata)}})

    async def set_thread_tool_resources(self, thread_id: str, resources: dict[str, Any]) -> ThreadRecord | None:
        update = {"$set": {"toolResources": dict(resources)}}
        return await updated(self._threads, ThreadRecord, {"_id": thread_id}, update)

    async def swap_thread_tool_resources(
        self, thread_id: str, resources: dict[str, Any], *, expected: dict[str, Any] | None
    ) -> bool:
        # Documents compare field by field, in order: `expected` is what was read, in the stored order.
        unset: list[dict[str, Any]] = [{"toolResources": None}, {"toolResources": {}}]
        condition = {"$or": unset} if not expected else {"toolResources": expected}
        update = {"$set": {"toolResources": dict(resources)}}
        return bool((await self._threads.update_one({"_id": thread_id, **condition}, update)).matched_count)

    async def delete_thread(self, thread_id: str) -> bool:
        if not (await self._threads.delete_one({"_id": thread_id})).deleted_count:
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
        update = {"$set": {"activeRunId": run_id, "claimExpiresAt": claim_expires_at}, "$inc": {"messageCount": 1}}
        query = {"_id": thread_id, "activeRunId": holder}
        claimed = await once_more_if_reply_lost(updated, self._threads, ThreadRecord, query, update)
        thread = claimed or await self.get_thread(thread_id)
        # The run id is this claim's marker: a first attempt applied before its reply was lost made it ours.
        granted = claimed is not None or (thread is not None and thread.active_run_id == run_id)
        return ClaimResult(granted=granted, thread=thread)

    async def release_active_run(self, thread_id: str, run_id: str) -> bool:
        update = {"$set": {"activeRunId": None, "claimExpiresAt": None}}
        return bool((await self._threads.update_one({"_id": thread_id, "activeRunId": run_id}, update)).modified_count)

    async def next_message_seq(self, thread_id: str, run_id: str) -> int | None:
        doc = await self._threads.find_one_and_update(
            {"_id": thread_id, "activeRunId": run_id},
            {"$inc": {"messageCount": 1}},
            projection={"messageCount": True},
            return_document=ReturnDocument.AFTER,
        )
        return int(doc["messageCount"]) if doc else None

    async def insert_message(self, message: MessageRecord) -> None:
        await self._messages.insert_one(to_doc(message))

    async def get_message(self, message_id: str) -> MessageRecord | None:
        return from_doc(MessageRecord, await self._messages.find_one({"_id": message_id}))

    async def set_message_metadata(self, message_id: str, metadata: dict[str, str]) -> MessageRecord | None:
        return await updated(self._messages, MessageRecord, {"_id": message_id}, {"$set": {"metadata": dict(metadata)}})

    async def delete_message(self, message_id: str) -> bool:
        return bool((await self._messages.delete_one({"_id": message_id})).deleted_count)

    async def messages_page(
        self,
        thread_id: str,
        *,
        seq_after: int | None,
        seq_before: int | None,
        ascending: bool,
        limit: int,
        run_id: str | None = None,
    ) -> list[MessageRecord]:
        query = {"threadId": thread_id} if run_id is None else {"runId": run_id, "threadId": thread_id}
        docs = await _seq_page(self._messages, query, seq_after, seq_before, ascending, limit)
        return from_docs(MessageRecord, docs)

    async def marked_message(self, thread_id: str, marker: str) -> MessageRecord | None:
        return from_doc(MessageRecord, await self._messages.find_one({"threadId": thread_id, "marker": marker}))

    async def insert_run(self, run: RunRecord) -> None:
        await self._runs.insert_one(to_doc(run))

    async def get_run(self, run_id: str) -> RunRecord | None:
        return from_doc(RunRecord, await self._runs.find_one({"_id": run_id}))

    async def runs_page(
        self, thread_id: str, *, key_after: RunKey | None, key_before: RunKey | None, ascending: bool, limit: int
    ) -> list[RunRecord]:
        docs = await keyset_page(
            self._runs,
            {"threadId": thread_id},
            ("createdAt", "_id"),
            after=key_after,
            before=key_before,
            ascending=ascending,
            limit=limit,
        )
        return from_docs(RunRecord, docs)

    async def set_run_metadata(self, run_id: str, metadata: dict[str, str]) -> RunRecord | None:
        return await updated(self._runs, RunRecord, {"_id": run_id}, {"$set": {"metadata": dict(metadata)}})

    async def update_active_run(
        self, run_id: str, changes: dict[str, Any], *, lapsed_before: datetime | None = None, status: str | None = None
    ) -> RunRecord | None:
        query: dict[str, Any] = {"_id": run_id, "status": _ACTIVE if status is None else status}
        if status is not None and status not in ACTIVE_RUN_STATUSES:
            return None
        if lapsed_before is not None:
            query["leaseExpiresAt"] = {"$lt": lapsed_before}
        update = {doc_name(name): list(value) if name == "tools" else value for name, value in changes.items()}
        return await updated(self._runs, RunRecord, query, {"$set": update})

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

    async def save_run_step(self, step: RunStepRecord) -> None:
        await self._steps.replace_one({"_id": step.id}, to_doc(step), upsert=True)

    async def run_steps(self, run_id: str) -> list[RunStepRecord]:
        cursor = self._steps.find({"runId": run_id}).sort("seq", ASCENDING)
        return from_docs(RunStepRecord, await cursor.to_list(None))

    async def get_run_step(self, step_id: str) -> RunStepRecord | None:
        return from_doc(RunStepRecord, await self._steps.find_one({"_id": step_id}))

    async def steps_page(
        self, run_id: str, *, seq_after: int | None, seq_before: int | None, ascending: bool, limit: int
    ) -> list[RunStepRecord]:
        docs = await _seq_page(self._steps, {"runId": run_id}, seq_after, seq_before, ascending, limit)
        return from_docs(RunStepRecord, docs)


async def _seq_page(
    collection: Any, query: dict[str, Any], after: int | None, before: int | None, ascending: bool, limit: int
) -> list[dict[str, Any]]:
    """Up to `limit` documents of `query` with after < seq < before, sorted by `seq` (an index on the query, seq)."""
    bounds = {operator: seq for operator, seq in (("$gt", after), ("$lt", before)) if seq is not None}
    cursor = collection.find({**query, "seq": bounds} if bounds else query)
    docs: list[dict[str, Any]] = (
        await cursor.sort("seq", ASCENDING if ascending else DESCENDING).limit(limit).to_list(None)
    )
    return docs
