"""Which user owns which thread, so one user can never reach another user's threads.

A thread belongs to the user who created it here or first posted to it; threads made elsewhere
belong to the default user (everyone, while API keys are off). Another user's thread is answered
like an unknown one (404). MAX_THREADS_PER_USER (embedded store) caps a user's threads: 429.
"""

from __future__ import annotations

from collections import OrderedDict

from app.errors import ThreadLimitReached, ThreadNotFound
from app.storage.thread_owners import CountingThreadOwnerStore, ThreadOwnerStore

_REMEMBERED_OWNERS = 100_000


class ThreadAccess:
    """Checks and records thread ownership; recorded owners never change, so they are cached."""

    def __init__(
        self, store: ThreadOwnerStore, default_user_id: str, *, max_threads_per_user: int | None = None
    ) -> None:
        """`max_threads_per_user`: None for no limit; else `store` must count threads (the embedded store)."""
        self._store = store
        self._default_user_id = default_user_id
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._cap: tuple[CountingThreadOwnerStore, int] | None = None
        if max_threads_per_user is not None:
            if not isinstance(store, CountingThreadOwnerStore):
                raise TypeError(f"{type(store).__name__} does not count threads per user: it cannot cap them")
            self._cap = (store, max_threads_per_user)

    async def _owner(self, thread_id: str) -> str | None:
        owner = self._owners.get(thread_id)
        if owner is not None:
            self._owners.move_to_end(thread_id)
            return owner
        owner = await self._store.owner_of(thread_id)
        if owner is not None:
            self._remember(thread_id, owner)
        return owner

    def _remember(self, thread_id: str, owner: str) -> None:
        self._owners[thread_id] = owner
        while len(self._owners) > _REMEMBERED_OWNERS:
            self._owners.popitem(last=False)

    async def check(self, user_id: str, thread_id: str) -> None:
        """Raise ThreadNotFound unless the user may use the thread."""
        owner = await self._owner(thread_id)
        if owner != user_id and not (owner is None and user_id == self._default_user_id):
            raise ThreadNotFound(thread_id)

    async def ensure_room_for_a_thread(self, user_id: str) -> None:
        """ThreadLimitReached if the user already owns as many threads as they may (checked before creating one)."""
        if self._cap is not None and await self._cap[0].thread_count(user_id) >= self._cap[1]:
            raise ThreadLimitReached(self._cap[1])

    async def record_new_thread(self, user_id: str, thread_id: str) -> None:
        """The user just created this thread: it is theirs (ThreadLimitReached if they own too many)."""
        owner = await self._claim(user_id, thread_id)
        self._remember(thread_id, owner)

    async def claim_for_posting(self, user_id: str, thread_id: str) -> bool:
        """Check access before posting; an unowned thread becomes the (default) user's. True when claimed now."""
        owner = await self._owner(thread_id)
        claimed = owner is None and user_id == self._default_user_id
        if claimed:
            owner = await self._claim(user_id, thread_id)  # may lose a race against another user's claim
        if owner != user_id:
            raise ThreadNotFound(thread_id)
        self._remember(thread_id, user_id)
        return claimed

    async def _claim(self, user_id: str, thread_id: str) -> str:
        """Record the user as the owner unless the thread has one; within the user's limit, if any."""
        if self._cap is None:
            return await self._store.claim_owner(user_id, thread_id)
        counting, limit = self._cap
        owner = await counting.claim_owner_within_limit(user_id, thread_id, limit)
        if owner is None:
            raise ThreadLimitReached(limit)
        return owner

    async def release(self, user_id: str, thread_id: str) -> None:
        """Undo a claim made for a thread that turned out not to exist."""
        self._owners.pop(thread_id, None)
        await self._store.release_owner(user_id, thread_id)
