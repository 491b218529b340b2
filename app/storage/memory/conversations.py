"""Embedded in-memory conversation storage, for trying the service without MongoDB.

Nothing survives a restart. Lookups are dictionary lookups and each user's conversations are
kept sorted oldest first, so a new conversation is appended at the end (sorting newest first
would insert at the front and move the whole list on every new conversation); pages are read
from the end. The cost of a request stays flat however many conversations there are.
"""

from __future__ import annotations

import bisect
from dataclasses import replace
from datetime import datetime

from app.clock import utc_now
from app.storage.conversations import Conversation, PageCursor, conversation_name


class MemoryConversationStore:
    """Conversations in process memory, keyed like the MongoDB unique index."""

    def __init__(self) -> None:
        self._conversations: dict[tuple[str, str], Conversation] = {}
        # Per user: (created_at timestamp, thread_id), ascending; newest first is this list reversed,
        # which is MongoDB's order (createdAt descending, then threadId descending).
        self._oldest_first: dict[str, list[tuple[float, str]]] = {}

    async def ensure_indexes(self) -> None:
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
