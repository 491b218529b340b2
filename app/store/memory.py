"""Embedded in-memory conversation storage, for trying the service without MongoDB.

Nothing survives a restart. Lookups are dictionary lookups and each user's conversations are
kept sorted newest first, so the cost of a request stays flat however many there are.
"""

from __future__ import annotations

import bisect
from dataclasses import replace

from app.store.base import Conversation, PageCursor, conversation_name, utc_now


def _sort_key(created_at_ts: float, thread_id: str) -> tuple[float, tuple[int, ...]]:
    # Newest first, then thread id descending, as MongoDB sorts: negate both (the id through its
    # code points; the trailing 1 puts "ba" before its prefix "b").
    return (-created_at_ts, (*(-ord(c) for c in thread_id), 1))


class MemoryConversationStore:
    """Conversations in process memory, keyed like the MongoDB unique index."""

    kind = "memory"

    def __init__(self) -> None:
        self._conversations: dict[tuple[str, str], Conversation] = {}
        self._newest_first: dict[str, list[tuple[tuple[float, tuple[int, ...]], str]]] = {}

    async def ensure_indexes(self) -> None:
        return None

    async def ping(self) -> None:
        return None

    async def touch_conversation(self, user_id: str, thread_id: str) -> bool:
        now = utc_now()
        key = (user_id, thread_id)
        existing = self._conversations.get(key)
        if existing is not None:
            self._conversations[key] = replace(existing, updated_at=now)
            return False
        self._conversations[key] = Conversation(
            user_id=user_id,
            thread_id=thread_id,
            name=conversation_name(now),
            is_group=False,
            created_at=now,
            updated_at=now,
        )
        bisect.insort(self._newest_first.setdefault(user_id, []), (_sort_key(now.timestamp(), thread_id), thread_id))
        return True

    async def get_conversation(self, user_id: str, thread_id: str) -> Conversation | None:
        return self._conversations.get((user_id, thread_id))

    async def delete_conversation(self, user_id: str, thread_id: str) -> bool:
        removed = self._conversations.pop((user_id, thread_id), None)
        if removed is None:
            return False
        order = self._newest_first[user_id]
        entry = (_sort_key(removed.created_at.timestamp(), thread_id), thread_id)
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
        order = self._newest_first.get(user_id, [])
        start = 0
        if after is not None:
            start = bisect.bisect_right(order, (_sort_key(after.created_at.timestamp(), after.thread_id), "\U0010ffff"))
        return [self._conversations[(user_id, thread_id)] for _, thread_id in order[start : start + limit]]
