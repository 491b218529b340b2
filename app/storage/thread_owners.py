"""Thread owners: which user a thread belongs to. The protocol, and the embedded store's counting one."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from app.storage.records import IndexedStore


class ThreadOwnerStore(IndexedStore, Protocol):
    """One owner per thread, recorded once (a unique index keeps two first claims from both winning)."""

    async def claim_owner(self, user_id: str, thread_id: str) -> str:
        """Record the user as the thread's owner unless it has one; return the owner."""

    async def owner_of(self, thread_id: str) -> str | None:
        """The user who owns the thread, or None when no one has claimed it."""

    async def release_owner(self, user_id: str, thread_id: str) -> None:
        """Forget the user's claim on the thread (a thread that turned out not to exist)."""


@runtime_checkable
class CountingThreadOwnerStore(ThreadOwnerStore, Protocol):
    """An owner store that counts each user's threads (the embedded store), so it can cap them."""

    async def thread_count(self, user_id: str) -> int: ...

    async def claim_owner_within_limit(self, user_id: str, thread_id: str, max_threads: int) -> str | None:
        """Like `claim_owner`; but None, with nothing recorded, when the thread has no owner yet and
        the user already owns `max_threads` threads (checked and claimed atomically)."""
