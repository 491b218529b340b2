"""Thread owners in process memory."""

from __future__ import annotations


class MemoryThreadOwnerStore:
    """thread id -> owner; `setdefault` makes the first claim win."""

    def __init__(self) -> None:
        self._thread_owners: dict[str, str] = {}

    async def ensure_indexes(self) -> None:
        return None

    async def claim_owner(self, user_id: str, thread_id: str) -> str:
        return self._thread_owners.setdefault(thread_id, user_id)

    async def owner_of(self, thread_id: str) -> str | None:
        return self._thread_owners.get(thread_id)

    async def release_owner(self, user_id: str, thread_id: str) -> None:
        if self._thread_owners.get(thread_id) == user_id:
            del self._thread_owners[thread_id]
