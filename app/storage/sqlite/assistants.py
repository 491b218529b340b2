"""The hosted engine's assistants in the embedded SQLite store: table `assistants`, JSON beside the sort columns."""

from __future__ import annotations

from typing import Any

from app.storage.assistants import AssistantRecord, Key, with_vector_store
from app.storage.sqlite.database import SqliteStore, committed, from_doc, from_ms, to_doc, to_ms

_COLUMNS = "id, user_id, created_at, doc"
_IN_COLUMNS = ("id", "owner", "created_at")


def _assistant(row: tuple[Any, ...]) -> AssistantRecord:
    assistant_id, owner, created_at, doc = row
    return from_doc(AssistantRecord, doc, id=assistant_id, owner=owner, created_at=from_ms(created_at))


class SqliteAssistantStore(SqliteStore):
    @committed
    async def put(self, assistant: AssistantRecord) -> None:
        self._db.execute(
            f"INSERT INTO assistants ({_COLUMNS}) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "user_id = excluded.user_id, created_at = excluded.created_at, doc = excluded.doc",
            (assistant.id, assistant.owner, to_ms(assistant.created_at), to_doc(assistant, *_IN_COLUMNS)),
        )

    def _get(self, assistant_id: str) -> AssistantRecord | None:
        row = self._db.one(f"SELECT {_COLUMNS} FROM assistants WHERE id = ?", (assistant_id,))
        return _assistant(row) if row else None

    async def get(self, assistant_id: str) -> AssistantRecord | None:
        return self._get(assistant_id)

    @committed
    async def delete(self, assistant_id: str) -> bool:
        return bool(self._db.execute("DELETE FROM assistants WHERE id = ?", (assistant_id,)).rowcount)

    async def page(
        self, owner: str, *, key_after: Key | None, key_before: Key | None, ascending: bool, limit: int
    ) -> list[AssistantRecord]:
        after, before = ((to_ms(key[0]), key[1]) if key else None for key in (key_after, key_before))
        rows = self._db.page(
            f"SELECT {_COLUMNS} FROM assistants WHERE user_id = ?",
            (owner,),
            "created_at, id",
            after=after,
            before=before,
            ascending=ascending,
            limit=limit,
        )
        return [_assistant(row) for row in rows]

    @committed
    async def attach_vector_store(self, assistant_id: str, store_id: str) -> AssistantRecord | None:
        with self._db.transaction():
            assistant = self._get(assistant_id)
            if assistant is None or assistant.vector_store_ids:
                return assistant
            attached = with_vector_store(assistant, store_id)
            self._db.execute(
                "UPDATE assistants SET doc = ? WHERE id = ?", (to_doc(attached, *_IN_COLUMNS), assistant_id)
            )
        return attached
