"""Embedded in-memory conversation storage, for trying the service without MongoDB.

Nothing survives a restart. Lookups are dictionary lookups, so the cost of a
request stays flat however many conversations there are.
"""

from __future__ import annotations

from dataclasses import replace

from app.store.base import Conversation, conversation_name, utc_now


class MemoryConversationStore:
    """Conversations in process memory, keyed like the MongoDB unique index."""

    kind = "memory"

    def __init__(self) -> None:
        self._conversations: dict[tuple[str, str], Conversation] = {}

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
        return True

    async def get_conversation(self, user_id: str, thread_id: str) -> Conversation | None:
        return self._conversations.get((user_id, thread_id))

    async def delete_conversation(self, user_id: str, thread_id: str) -> bool:
        return self._conversations.pop((user_id, thread_id), None) is not None
