"""What the hosted engine needs from storage. Implemented on MongoDB and in memory.

Every method that changes a run or a thread's active run is conditional, and atomic on
its own: the engine composes them into the one-active-run rule without transactions.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, Protocol

from app.engines.hosted.records import ClaimResult, MessageRecord, RunRecord, ThreadRecord


class HostedStore(Protocol):
    """Threads, messages and runs of the hosted engine."""

    kind: str

    async def ensure_indexes(self) -> None:
        """Create the indexes the queries rely on (idempotent)."""

    async def create_thread(self, thread: ThreadRecord) -> None: ...

    async def get_thread(self, thread_id: str) -> ThreadRecord | None: ...

    async def claim_thread(
        self, thread_id: str, run_id: str, *, holder: str | None, claim_expires_at: datetime
    ) -> ClaimResult:
        """Atomically: if the thread's active run is `holder` (None: no active run), make `run_id`
        the active run and count one more message (the user's, at position `message_count`)."""

    async def release_thread(self, thread_id: str, run_id: str) -> bool:
        """Clear the thread's active run if it is still `run_id`."""

    async def next_message_seq(self, thread_id: str, run_id: str) -> int | None:
        """The next message position, if `run_id` still holds the thread; else None."""

    async def insert_message(self, message: MessageRecord) -> None: ...

    async def get_message(self, message_id: str) -> MessageRecord | None: ...

    async def delete_message(self, message_id: str) -> None: ...

    async def messages_page(
        self,
        thread_id: str,
        *,
        seq_after: int | None,
        seq_before: int | None,
        ascending: bool,
        limit: int,
    ) -> list[MessageRecord]:
        """Up to `limit` messages with seq_after < seq < seq_before, sorted by position (an index scan)."""

    async def insert_run(self, run: RunRecord) -> None: ...

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def update_active_run(
        self, run_id: str, changes: dict[str, Any], *, lapsed_before: datetime | None = None
    ) -> RunRecord | None:
        """Apply `changes` (RunRecord field names) if the run is still active (and, with
        `lapsed_before`, its lease ended before then); the updated run, or None."""

    async def renew_leases(self, run_ids: Collection[str], lease_expires_at: datetime) -> set[str]:
        """Extend the leases of those runs that are still active; return their ids."""

    async def lapsed_runs(self, now: datetime, limit: int) -> list[RunRecord]:
        """Active runs whose lease ended before `now` (their process died or stalled)."""
