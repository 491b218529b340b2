"""Conversations: a user's threads, as the Next.js app's `conversations` documents. The protocol and its records."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from pydantic import StrictInt, StrictStr, TypeAdapter

from app.storage.records import IndexedStore


@dataclass(frozen=True)
class Conversation:
    """A user's conversation: the Next.js app's `conversations` document."""

    user_id: str
    thread_id: str
    name: str
    is_group: bool
    created_at: datetime
    updated_at: datetime


_CURSOR = TypeAdapter(tuple[StrictInt, StrictStr])


@dataclass(frozen=True)
class PageCursor:
    """Where a conversations page ended: the last item's creation time and thread id."""

    created_at: datetime
    thread_id: str

    @classmethod
    def after(cls, conversation: Conversation) -> PageCursor:
        return cls(conversation.created_at, conversation.thread_id)

    def encode(self) -> str:
        raw = json.dumps([int(self.created_at.timestamp() * 1000), self.thread_id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> PageCursor:
        """Raise ValueError for a token this service did not make."""
        try:  # a ValidationError and binascii.Error are ValueErrors
            millis, thread_id = _CURSOR.validate_json(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            return cls(datetime.fromtimestamp(millis / 1000, UTC), thread_id)
        except (ValueError, OverflowError, OSError) as exc:
            raise ValueError("not a cursor from this service") from exc


def conversation_name(created_at: datetime) -> str:
    """The default name the Next.js app gives a conversation: `YYYY-MM-DD HH:MM:SS` (UTC)."""
    return created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


class ConversationStore(IndexedStore, Protocol):
    async def touch_conversation(self, user_id: str, thread_id: str, at: datetime | None = None) -> bool:
        """Create the conversation or move its `updatedAt` (to `at`, default now; never back); True when created."""

    async def get_conversation(self, user_id: str, thread_id: str) -> Conversation | None: ...

    async def delete_conversation(self, user_id: str, thread_id: str) -> bool:
        """Delete it; True when something was deleted."""

    async def rename_conversation(self, user_id: str, thread_id: str, name: str) -> Conversation | None:
        """Set its name (updatedAt is left alone); None when there is no such conversation."""

    async def list_conversations(
        self, user_id: str, *, limit: int, after: PageCursor | None = None
    ) -> list[Conversation]:
        """The user's conversations, newest (by createdAt, then threadId) first, after the cursor."""
