"""What the routes and engines need from storage, independent of the backend."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol


@dataclass(frozen=True)
class Conversation:
    """A user's conversation: the Next.js app's `conversations` document."""

    user_id: str
    thread_id: str
    name: str
    is_group: bool
    created_at: datetime
    updated_at: datetime


def utc_now() -> datetime:
    """Now, in UTC, at MongoDB's millisecond precision (so stored and read values match)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def conversation_name(created_at: datetime) -> str:
    """The default name the Next.js app gives a conversation: `YYYY-MM-DD HH:MM:SS` (UTC)."""
    return created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


class ConversationStore(Protocol):
    """Storage for conversations. Implemented on MongoDB and in memory."""

    kind: str

    async def ensure_indexes(self) -> None:
        """Create the indexes the queries rely on (idempotent)."""

    async def ping(self) -> None:
        """Raise if the storage cannot be reached."""

    async def touch_conversation(self, user_id: str, thread_id: str) -> bool:
        """Create the conversation or move its `updatedAt`; True when it was created."""

    async def get_conversation(self, user_id: str, thread_id: str) -> Conversation | None:
        """The conversation, or None."""

    async def delete_conversation(self, user_id: str, thread_id: str) -> bool:
        """Delete it; True when something was deleted."""
