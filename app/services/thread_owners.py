"""Which user owns which thread, so one user can never reach another user's threads.

A thread belongs to the user who created it here (POST /threads, POST /api/assistants/threads)
or who first posted to it. Threads made elsewhere (no owner recorded) belong to the default
user, which is everyone while API keys are off, so the service then behaves as before.
Another user's thread is answered exactly like an unknown one (404 thread_not_found).
"""

from __future__ import annotations

from collections import OrderedDict

from app.errors import ThreadNotFound
from app.storage.thread_owners import ThreadOwnerStore

_REMEMBERED_OWNERS = 100_000


class ThreadAccess:
    """Checks and records thread ownership; recorded owners never change, so they are cached."""

    def __init__(self, store: ThreadOwnerStore, default_user_id: str) -> None:
        self._store = store
        self._default_user_id = default_user_id
        self._owners: OrderedDict[str, str] = OrderedDict()

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

    async def record_new_thread(self, user_id: str, thread_id: str) -> None:
        """The user just created this thread: it is theirs."""
        owner = await self._store.claim_owner(user_id, thread_id)
        self._remember(thread_id, owner)

    async def claim_for_posting(self, user_id: str, thread_id: str) -> bool:
        """Check access before posting; an unowned thread becomes the (default) user's. True when claimed now."""
        owner = await self._owner(thread_id)
        if owner is not None:
            if owner != user_id:
                raise ThreadNotFound(thread_id)
            return False
        if user_id != self._default_user_id:
            raise ThreadNotFound(thread_id)
        owner = await self._store.claim_owner(user_id, thread_id)
        if owner != user_id:  # lost a race against another user's claim
            raise ThreadNotFound(thread_id)
        self._remember(thread_id, owner)
        return True

    async def release(self, user_id: str, thread_id: str) -> None:
        """Undo a claim made for a thread that turned out not to exist."""
        self._owners.pop(thread_id, None)
        await self._store.release_owner(user_id, thread_id)
