"""Conversations in the embedded SQLite store (table `conversations`, keyed like MongoDB's unique index)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.clock import utc_now
from app.storage.conversations import Conversation, PageCursor, conversation_name
from app.storage.sqlite.database import SqliteDatabase, from_ms, to_ms

_COLUMNS = "user_id, thread_id, name, is_group, created_at, updated_at"


def _conversation(row: tuple[Any, ...] | None) -> Conversation | None:
    if row is None:
        return None
    user_id, thread_id, name, is_group, created_at, updated_at = row
    return Conversation(user_id, thread_id, name, bool(is_group), from_ms(created_at), from_ms(updated_at))


class SqliteConversationStore:
    """Upsert by (user, thread); newest-first pages read an index, so cost stays flat as data grows."""

    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def ensure_indexes(self) -> None:
        return None  # created with the schema

    async def touch_conversation(self, user_id: str, thread_id: str, at: datetime | None = None) -> bool:
        now = at or utc_now()
        millis = to_ms(now)
        with self._db.transaction():
            inserted = self._db.execute(
                "INSERT INTO conversations (user_id, thread_id, name, is_group, created_at, updated_at) "
                "VALUES (?, ?, ?, 0, ?, ?) ON CONFLICT (user_id, thread_id) DO NOTHING",
                (user_id, thread_id, conversation_name(now), millis, millis),
            ).rowcount
            if not inserted:
                self._db.execute(
                    "UPDATE conversations SET updated_at = MAX(updated_at, ?) WHERE user_id = ? AND thread_id = ?",
                    (millis, user_id, thread_id),
                )
        return bool(inserted)

    async def get_conversation(self, user_id: str, thread_id: str) -> Conversation | None:
        return _conversation(
            self._db.one(
                f"SELECT {_COLUMNS} FROM conversations WHERE user_id = ? AND thread_id = ?", (user_id, thread_id)
            )
        )

    async def delete_conversation(self, user_id: str, thread_id: str) -> bool:
        deleted = self._db.execute(
            "DELETE FROM conversations WHERE user_id = ? AND thread_id = ?", (user_id, thread_id)
        ).rowcount
        return bool(deleted)

    async def rename_conversation(self, user_id: str, thread_id: str, name: str) -> Conversation | None:
        return _conversation(
            self._db.one(
                f"UPDATE conversations SET name = ? WHERE user_id = ? AND thread_id = ? RETURNING {_COLUMNS}",
                (name, user_id, thread_id),
            )
        )

    async def list_conversations(
        self, user_id: str, *, limit: int, after: PageCursor | None = None
    ) -> list[Conversation]:
        if after is None:
            rows = self._db.all(
                f"SELECT {_COLUMNS} FROM conversations WHERE user_id = ? "
                "ORDER BY created_at DESC, thread_id DESC LIMIT ?",
                (user_id, limit),
            )
        else:
            # A row value: the index seeks straight to the cursor (an OR of the two cases would make
            # SQLite walk the user's index from the newest entry, so later pages would cost more).
            rows = self._db.all(
                f"SELECT {_COLUMNS} FROM conversations WHERE user_id = ? AND (created_at, thread_id) < (?, ?) "
                "ORDER BY created_at DESC, thread_id DESC LIMIT ?",
                (user_id, to_ms(after.created_at), after.thread_id, limit),
            )
        return [conversation for row in rows if (conversation := _conversation(row)) is not None]
