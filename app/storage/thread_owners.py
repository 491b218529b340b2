"""Thread owners: which user a thread belongs to. The protocol."""

from __future__ import annotations

from typing import Protocol


class ThreadOwnerStore(Protocol):
    """One owner per thread, recorded once (a unique index keeps two first claims from both winning)."""

    async def ensure_indexes(self) -> None:
        """Create the indexes the queries rely on (idempotent)."""

    async def claim_owner(self, user_id: str, thread_id: str) -> str:
        """Record the user as the thread's owner unless it has one; return the owner."""

    async def owner_of(self, thread_id: str) -> str | None:
        """The user who owns the thread, or None when no one has claimed it."""

    async def release_owner(self, user_id: str, thread_id: str) -> None:
        """Forget the user's claim on the thread (a thread that turned out not to exist)."""
