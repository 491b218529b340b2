"""The hosted engine's assistants in the embedded SQLite store: table `assistants`.

The record is kept as JSON beside the columns the queries filter and sort on (owner, creation time).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from app.storage.assistants import AssistantRecord, with_vector_store
from app.storage.sqlite.database import SqliteDatabase, from_ms, to_ms


def _doc(assistant: AssistantRecord) -> str:
    values = {
        "model": assistant.model,
        "name": assistant.name,
        "description": assistant.description,
        "instructions": assistant.instructions,
        "tools": list(assistant.tools),
        "tool_resources": assistant.tool_resources,
        "metadata": assistant.metadata,
        "temperature": assistant.temperature,
        "top_p": assistant.top_p,
        "response_format": assistant.response_format,
    }
    return json.dumps(values, separators=(",", ":"))


def _assistant(row: tuple[Any, ...] | None) -> AssistantRecord | None:
    if row is None:
        return None
    assistant_id, owner, created_at, doc = row
    values = json.loads(doc)
    return AssistantRecord(
        id=assistant_id,
        owner=owner,
        created_at=from_ms(created_at),
        model=values["model"],
        name=values.get("name"),
        description=values.get("description"),
        instructions=values.get("instructions"),
        tools=tuple(values.get("tools") or ()),
        tool_resources=dict(values.get("tool_resources") or {}),
        metadata=dict(values.get("metadata") or {}),
        temperature=values.get("temperature"),
        top_p=values.get("top_p"),
        response_format=values.get("response_format"),
    )


_COLUMNS = "id, user_id, created_at, doc"


class SqliteAssistantStore:
    """Assistants in the SQLite file."""

    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def ensure_indexes(self) -> None:
        return None  # created with the schema

    async def put(self, assistant: AssistantRecord) -> None:
        self._db.execute(
            f"INSERT INTO assistants ({_COLUMNS}) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "user_id = excluded.user_id, created_at = excluded.created_at, doc = excluded.doc",
            (assistant.id, assistant.owner, to_ms(assistant.created_at), _doc(assistant)),
        )

    def _get(self, assistant_id: str) -> AssistantRecord | None:
        return _assistant(self._db.one(f"SELECT {_COLUMNS} FROM assistants WHERE id = ?", (assistant_id,)))

    async def get(self, assistant_id: str) -> AssistantRecord | None:
        return self._get(assistant_id)

    async def delete(self, assistant_id: str) -> bool:
        return bool(self._db.execute("DELETE FROM assistants WHERE id = ?", (assistant_id,)).rowcount)

    async def page(
        self,
        owner: str,
        *,
        key_after: tuple[datetime, str] | None,
        key_before: tuple[datetime, str] | None,
        ascending: bool,
        limit: int,
    ) -> list[AssistantRecord]:
        sql = f"SELECT {_COLUMNS} FROM assistants WHERE user_id = ?"
        parameters: list[Any] = [owner]
        if key_after is not None:
            sql += " AND (created_at, id) > (?, ?)"
            parameters += [to_ms(key_after[0]), key_after[1]]
        if key_before is not None:
            sql += " AND (created_at, id) < (?, ?)"
            parameters += [to_ms(key_before[0]), key_before[1]]
        order = "ASC" if ascending else "DESC"
        sql += f" ORDER BY created_at {order}, id {order} LIMIT ?"
        rows = self._db.all(sql, (*parameters, limit))
        return [assistant for row in rows if (assistant := _assistant(row)) is not None]

    async def attach_vector_store(self, assistant_id: str, store_id: str) -> AssistantRecord | None:
        with self._db.transaction():
            assistant = self._get(assistant_id)
            if assistant is None or assistant.vector_store_ids:
                return assistant
            attached = with_vector_store(assistant, store_id)
            self._db.execute("UPDATE assistants SET doc = ? WHERE id = ?", (_doc(attached), assistant_id))
        return attached
