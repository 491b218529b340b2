"""What the routes and engines need from storage, independent of the backend."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class Conversation:
    """A user's conversation: the Next.js app's `conversations` document."""

    user_id: str
    thread_id: str
    name: str
    is_group: bool
    created_at: datetime
    updated_at: datetime


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
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            millis, thread_id = json.loads(raw)
            if not isinstance(millis, int) or not isinstance(thread_id, str):
                raise ValueError("bad cursor")
            return cls(datetime.fromtimestamp(millis / 1000, UTC), thread_id)
        except (ValueError, TypeError, binascii.Error, OverflowError, OSError) as exc:
            raise ValueError("not a cursor from this service") from exc


@dataclass(frozen=True)
class IdempotencyRecord:
    """A request made with an Idempotency-Key: in flight, or completed with the answer to replay."""

    user_id: str
    key: str
    fingerprint: str
    state: Literal["in_progress", "completed"]
    expires_at: datetime
    status_code: int | None = None
    response: dict[str, Any] | None = None


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

    async def touch_conversation(self, user_id: str, thread_id: str, at: datetime | None = None) -> bool:
        """Create the conversation or move its `updatedAt` (to `at`, default now; never back); True when created."""

    async def get_conversation(self, user_id: str, thread_id: str) -> Conversation | None:
        """The conversation, or None."""

    async def delete_conversation(self, user_id: str, thread_id: str) -> bool:
        """Delete it; True when something was deleted."""

    async def rename_conversation(self, user_id: str, thread_id: str, name: str) -> Conversation | None:
        """Set its name (updatedAt is left alone); None when there is no such conversation."""

    async def list_conversations(
        self, user_id: str, *, limit: int, after: PageCursor | None = None
    ) -> list[Conversation]:
        """The user's conversations, newest (by createdAt, then threadId) first, after the cursor."""

    async def claim_thread(self, user_id: str, thread_id: str) -> str:
        """Record the user as the thread's owner unless it has one; return the owner."""

    async def thread_owner(self, thread_id: str) -> str | None:
        """The user who owns the thread, or None when no one has claimed it."""

    async def release_thread(self, user_id: str, thread_id: str) -> None:
        """Forget the user's claim on the thread (a thread that turned out not to exist)."""

    async def claim_idempotency_key(
        self, user_id: str, key: str, fingerprint: str, *, lease_s: float
    ) -> IdempotencyRecord | None:
        """Reserve the key for a request now in flight (for `lease_s` at most).

        Returns None when the caller now holds the key, else the live record that holds it
        (expired records are taken over).
        """

    async def complete_idempotency_key(
        self, user_id: str, key: str, status_code: int, response: dict[str, Any], *, ttl_s: float
    ) -> None:
        """Store the answer to replay for this key for `ttl_s` seconds."""

    async def release_idempotency_key(self, user_id: str, key: str) -> None:
        """Drop the key (the request did not take effect; a retry may run it again)."""
