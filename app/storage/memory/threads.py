"""The hosted engine's embedded in-memory storage (no MONGODB_URI): nothing survives a restart.

Every lookup is a dict access or a binary search in a thread's message list, so the cost of a
request stays flat however many threads and messages there are. Each method runs without
awaiting, so on the one event loop it is atomic, like a conditional update in MongoDB.
"""

from __future__ import annotations

import bisect
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime
from typing import Any

from app.storage.threads import ClaimResult, MessageRecord, RunRecord, ThreadRecord, is_active


class MemoryThreadStore:
    """Threads, messages and runs in process memory, indexed like the MongoDB collections."""

    def __init__(self) -> None:
        self._threads: dict[str, ThreadRecord] = {}
        self._messages: dict[str, MessageRecord] = {}
        self._thread_messages: dict[str, list[MessageRecord]] = {}  # sorted by seq
        self._runs: dict[str, RunRecord] = {}
        self._active_runs: set[str] = set()

    async def ensure_indexes(self) -> None:
        return None

    # ---- threads ---------------------------------------------------------------------
    async def create_thread(self, thread: ThreadRecord) -> None:
        self._threads[thread.id] = thread
        self._thread_messages[thread.id] = []

    async def get_thread(self, thread_id: str) -> ThreadRecord | None:
        return self._threads.get(thread_id)

    async def claim_active_run(
        self, thread_id: str, run_id: str, *, holder: str | None, claim_expires_at: datetime
    ) -> ClaimResult:
        thread = self._threads.get(thread_id)
        if thread is None or thread.active_run_id != holder:
            return ClaimResult(granted=False, thread=thread)
        thread = replace(
            thread,
            active_run_id=run_id,
            claim_expires_at=claim_expires_at,
            message_count=thread.message_count + 1,
        )
        self._threads[thread_id] = thread
        return ClaimResult(granted=True, thread=thread)

    async def release_active_run(self, thread_id: str, run_id: str) -> bool:
        thread = self._threads.get(thread_id)
        if thread is None or thread.active_run_id != run_id:
            return False
        self._threads[thread_id] = replace(thread, active_run_id=None, claim_expires_at=None)
        return True

    async def next_message_seq(self, thread_id: str, run_id: str) -> int | None:
        thread = self._threads.get(thread_id)
        if thread is None or thread.active_run_id != run_id:
            return None
        thread = replace(thread, message_count=thread.message_count + 1)
        self._threads[thread_id] = thread
        return thread.message_count

    # ---- messages ----------------------------------------------------------------------
    async def insert_message(self, message: MessageRecord) -> None:
        self._messages[message.id] = message
        bisect.insort(self._thread_messages.setdefault(message.thread_id, []), message, key=_seq)

    async def get_message(self, message_id: str) -> MessageRecord | None:
        return self._messages.get(message_id)

    async def delete_message(self, message_id: str) -> None:
        message = self._messages.pop(message_id, None)
        if message is not None:
            messages = self._thread_messages.get(message.thread_id, [])
            index = bisect.bisect_left(messages, message.seq, key=_seq)
            if index < len(messages) and messages[index].id == message_id:
                del messages[index]

    async def messages_page(
        self,
        thread_id: str,
        *,
        seq_after: int | None,
        seq_before: int | None,
        ascending: bool,
        limit: int,
    ) -> list[MessageRecord]:
        messages = self._thread_messages.get(thread_id, [])
        start = 0 if seq_after is None else bisect.bisect_right(messages, seq_after, key=_seq)
        end = len(messages) if seq_before is None else bisect.bisect_left(messages, seq_before, key=_seq)
        if ascending:
            return messages[start : min(end, start + limit)]
        return messages[max(start, end - limit) : end][::-1]

    # ---- runs --------------------------------------------------------------------------
    async def insert_run(self, run: RunRecord) -> None:
        self._runs[run.id] = run
        if is_active(run.status):
            self._active_runs.add(run.id)

    async def get_run(self, run_id: str) -> RunRecord | None:
        return self._runs.get(run_id)

    async def update_active_run(
        self, run_id: str, changes: dict[str, Any], *, lapsed_before: datetime | None = None
    ) -> RunRecord | None:
        run = self._runs.get(run_id)
        if run is None or not is_active(run.status):
            return None
        if lapsed_before is not None and (run.lease_expires_at is None or run.lease_expires_at >= lapsed_before):
            return None
        run = replace(run, **changes)
        self._runs[run_id] = run
        if not is_active(run.status):
            self._active_runs.discard(run_id)
        return run

    async def renew_leases(self, run_ids: Collection[str], lease_expires_at: datetime) -> set[str]:
        renewed = set()
        for run_id in run_ids:
            if run_id in self._active_runs:
                self._runs[run_id] = replace(self._runs[run_id], lease_expires_at=lease_expires_at)
                renewed.add(run_id)
        return renewed

    async def lapsed_runs(self, now: datetime, limit: int) -> list[RunRecord]:
        lapsed = []
        for run_id in self._active_runs:
            run = self._runs[run_id]
            if run.lease_expires_at is not None and run.lease_expires_at < now:
                lapsed.append(run)
                if len(lapsed) >= limit:
                    break
        return lapsed


def _seq(message: MessageRecord) -> int:
    return message.seq
