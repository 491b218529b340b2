"""Embedded in-memory conversation storage, for trying the service without MongoDB.

Nothing survives a restart. Lookups are dictionary lookups and each user's conversations are
kept sorted oldest first, so a new conversation is appended at the end (sorting newest first
would insert at the front and move the whole list on every new conversation); pages are read
from the end. The cost of a request stays flat however many conversations there are.
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from app.storage.base import Conversation, IdempotencyRecord, PageCursor, conversation_name, utc_now


class MemoryConversationStore:
    """Conversations in process memory, keyed like the MongoDB unique index."""

    kind = "memory"

    def __init__(self) -> None:
        self._conversations: dict[tuple[str, str], Conversation] = {}
        # Per user: (created_at timestamp, thread_id), ascending; newest first is this list reversed,
        # which is MongoDB's order (createdAt descending, then threadId descending).
        self._oldest_first: dict[str, list[tuple[float, str]]] = {}
        self._thread_owners: dict[str, str] = {}
        self._idempotency: dict[tuple[str, str], IdempotencyRecord] = {}
        self._idempotency_expiry: list[tuple[datetime, str, str]] = []

    async def ensure_indexes(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def touch_conversation(self, user_id: str, thread_id: str, at: datetime | None = None) -> bool:
        now = at or utc_now()
        key = (user_id, thread_id)
        existing = self._conversations.get(key)
        if existing is not None:
            self._conversations[key] = replace(existing, updated_at=max(existing.updated_at, now))
            return False
        self._conversations[key] = Conversation(
            user_id=user_id,
            thread_id=thread_id,
            name=conversation_name(now),
            is_group=False,
            created_at=now,
            updated_at=now,
        )
        bisect.insort(self._oldest_first.setdefault(user_id, []), (now.timestamp(), thread_id))
        return True

    async def get_conversation(self, user_id: str, thread_id: str) -> Conversation | None:
        return self._conversations.get((user_id, thread_id))

    async def delete_conversation(self, user_id: str, thread_id: str) -> bool:
        removed = self._conversations.pop((user_id, thread_id), None)
        if removed is None:
            return False
        order = self._oldest_first[user_id]
        entry = (removed.created_at.timestamp(), thread_id)
        index = bisect.bisect_left(order, entry)
        if index < len(order) and order[index] == entry:
            del order[index]
        return True

    async def rename_conversation(self, user_id: str, thread_id: str, name: str) -> Conversation | None:
        existing = self._conversations.get((user_id, thread_id))
        if existing is None:
            return None
        renamed = replace(existing, name=name)
        self._conversations[(user_id, thread_id)] = renamed
        return renamed

    async def list_conversations(
        self, user_id: str, *, limit: int, after: PageCursor | None = None
    ) -> list[Conversation]:
        order = self._oldest_first.get(user_id, [])
        end = len(order)
        if after is not None:
            end = bisect.bisect_left(order, (after.created_at.timestamp(), after.thread_id))
        page = order[max(0, end - limit) : end]
        return [self._conversations[(user_id, thread_id)] for _, thread_id in reversed(page)]

    async def claim_thread(self, user_id: str, thread_id: str) -> str:
        return self._thread_owners.setdefault(thread_id, user_id)

    async def thread_owner(self, thread_id: str) -> str | None:
        return self._thread_owners.get(thread_id)

    async def release_thread(self, user_id: str, thread_id: str) -> None:
        if self._thread_owners.get(thread_id) == user_id:
            del self._thread_owners[thread_id]

    # Idempotency keys: no await between the check and the write, so a claim is atomic in the event loop.
    async def claim_idempotency_key(
        self, user_id: str, key: str, fingerprint: str, *, lease_s: float
    ) -> IdempotencyRecord | None:
        now = utc_now()
        self._expire_idempotency_keys(now)
        existing = self._idempotency.get((user_id, key))
        if existing is not None and existing.expires_at > now:
            return existing
        self._set_idempotency(
            IdempotencyRecord(user_id, key, fingerprint, "in_progress", now + timedelta(seconds=lease_s))
        )
        return None

    async def complete_idempotency_key(
        self, user_id: str, key: str, status_code: int, response: dict[str, Any], *, ttl_s: float
    ) -> None:
        existing = self._idempotency.get((user_id, key))
        if existing is None:
            return
        expires_at = utc_now() + timedelta(seconds=ttl_s)
        self._set_idempotency(
            replace(existing, state="completed", expires_at=expires_at, status_code=status_code, response=response)
        )

    async def release_idempotency_key(self, user_id: str, key: str) -> None:
        self._idempotency.pop((user_id, key), None)

    def _set_idempotency(self, record: IdempotencyRecord) -> None:
        self._idempotency[(record.user_id, record.key)] = record
        heapq.heappush(self._idempotency_expiry, (record.expires_at, record.user_id, record.key))

    def _expire_idempotency_keys(self, now: datetime) -> None:
        """What MongoDB's TTL index does: drop records past their expiry (heap entries may be stale)."""
        while self._idempotency_expiry and self._idempotency_expiry[0][0] <= now:
            _, user_id, key = heapq.heappop(self._idempotency_expiry)
            record = self._idempotency.get((user_id, key))
            if record is not None and record.expires_at <= now:
                del self._idempotency[(user_id, key)]
