"""Conversations in the embedded SQLite store (table `conversations`, keyed like MongoDB's unique index)."""

from __future__ import annotations

from datetime import datetime

from app.clock import utc_now
from app.storage.conversations import Conversation, PageCursor, conversation_name
from app.storage.sqlite.database import SqliteStore, column_names, committed, from_row, to_ms

_COLUMNS = column_names(Conversation)


class SqliteConversationStore(SqliteStore):
    """Upsert by (user, thread); newest-first pages read an index, so cost stays flat as data grows."""

    @committed
    async def touch_conversation(self, user_id: str, thread_id: str, at: datetime | None = None) -> bool:
        now = at or utc_now()
        millis = to_ms(now)
        with self._db.transaction():
            inserted = self._db.execute(
                f"INSERT INTO conversations ({_COLUMNS}) VALUES (?, ?, ?, 0, ?, ?) "
                "ON CONFLICT (user_id, thread_id) DO NOTHING",
                (user_id, thread_id, conversation_name(now), millis, millis),
            ).rowcount
            if not inserted:
                self._db.execute(
                    "UPDATE conversations SET updated_at = MAX(updated_at, ?) WHERE user_id = ? AND thread_id = ?",
                    (millis, user_id, thread_id),
                )
        return bool(inserted)

    async def get_conversation(self, user_id: str, thread_id: str) -> Conversation | None:
        row = self._db.one(
            f"SELECT {_COLUMNS} FROM conversations WHERE user_id = ? AND thread_id = ?", (user_id, thread_id)
        )
        return from_row(Conversation, row) if row else None

    @committed
    async def delete_conversation(self, user_id: str, thread_id: str) -> bool:
        sql = "DELETE FROM conversations WHERE user_id = ? AND thread_id = ?"
        return bool(self._db.execute(sql, (user_id, thread_id)).rowcount)

    @committed
    async def rename_conversation(self, user_id: str, thread_id: str, name: str) -> Conversation | None:
        row = self._db.one(
            f"UPDATE conversations SET name = ? WHERE user_id = ? AND thread_id = ? RETURNING {_COLUMNS}",
            (name, user_id, thread_id),
        )
        return from_row(Conversation, row) if row else None

    async def list_conversations(
        self, user_id: str, *, limit: int, after: PageCursor | None = None
    ) -> list[Conversation]:
        rows = self._db.page(
            f"SELECT {_COLUMNS} FROM conversations WHERE user_id = ?",
            (user_id,),
            "created_at, thread_id",
            after=None,
            before=None if after is None else (to_ms(after.created_at), after.thread_id),
            ascending=False,
            limit=limit,
        )
        return [from_row(Conversation, row) for row in rows]
