"""The hosted engine's threads, messages and runs: the stored records and the store protocol.

Implemented on MongoDB and on SQLite. Every method that changes a run or a thread's active run
is conditional, and atomic on its own: the engine composes them into the one-active-run rule
without transactions.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

# A thread is busy while one of its runs has one of these statuses.
ACTIVE_RUN_STATUSES = frozenset({"queued", "in_progress", "requires_action", "cancelling"})


def is_active(status: str) -> bool:
    return status in ACTIVE_RUN_STATUSES


@dataclass(frozen=True)
class ThreadRecord:
    """A thread. `active_run_id` is the run holding it: one active run per thread.

    `claim_expires_at` only matters while the holder's run document does not exist yet (or
    never will, if the process died right after claiming); after that the run's own lease counts.
    `message_count` hands out message positions (`seq`) in the thread.
    """

    id: str
    created_at: datetime
    active_run_id: str | None = None
    claim_expires_at: datetime | None = None
    message_count: int = 0


@dataclass(frozen=True)
class MessageRecord:
    id: str
    thread_id: str
    seq: int
    role: str
    text: str
    created_at: datetime
    run_id: str | None = None


@dataclass(frozen=True)
class RunRecord:
    """A run: one model call over the thread's last messages, executed in the background."""

    id: str
    thread_id: str
    status: str
    created_at: datetime
    model: str
    instructions: str
    tools: tuple[str, ...]
    max_completion_tokens: int
    truncation_last_messages: int
    lease_expires_at: datetime | None
    expires_at: datetime | None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    failed_at: datetime | None = None
    last_error: dict[str, str] | None = None
    usage: dict[str, int] | None = None
    reply: str | None = None
    reply_message_id: str | None = None


@dataclass(frozen=True)
class ClaimResult:
    """The outcome of trying to make a run the thread's active run.

    `thread` is the thread after the claim when `granted`, else as it is now (None: no such thread).
    """

    granted: bool
    thread: ThreadRecord | None


class ThreadStore(Protocol):
    """Threads, messages and runs of the hosted engine."""

    async def ensure_indexes(self) -> None:
        """Create the indexes the queries rely on (idempotent)."""

    async def create_thread(self, thread: ThreadRecord) -> None: ...

    async def get_thread(self, thread_id: str) -> ThreadRecord | None: ...

    async def claim_active_run(
        self, thread_id: str, run_id: str, *, holder: str | None, claim_expires_at: datetime
    ) -> ClaimResult:
        """Atomically: if the thread's active run is `holder` (None: no active run), make `run_id`
        the active run and count one more message (the user's, at position `message_count`)."""

    async def release_active_run(self, thread_id: str, run_id: str) -> bool:
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
