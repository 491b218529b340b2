"""Upstream files and vector stores in the embedded SQLite store: table `upstream_objects`, JSON beside the keys."""

from __future__ import annotations

from typing import Any

from app.storage.sqlite.database import SqliteStore, committed, from_doc, from_ms, to_doc, to_ms
from app.storage.upstream_objects import Key, ObjectKind, UpstreamObjectRecord

_COLUMNS = "id, user_id, kind, purpose, created_at, doc"
_IN_COLUMNS = ("id", "owner", "kind", "purpose", "created_at")


def _record(row: tuple[Any, ...]) -> UpstreamObjectRecord:
    object_id, owner, kind, purpose, created_at, doc = row
    return from_doc(
        UpstreamObjectRecord, doc, id=object_id, owner=owner, kind=kind, purpose=purpose, created_at=from_ms(created_at)
    )


class SqliteUpstreamObjectStore(SqliteStore):
    @committed
    async def put(self, record: UpstreamObjectRecord) -> None:
        self._db.execute(
            f"INSERT INTO upstream_objects ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
            "user_id = excluded.user_id, kind = excluded.kind, purpose = excluded.purpose, "
            "created_at = excluded.created_at, doc = excluded.doc",
            (
                record.id,
                record.owner,
                record.kind,
                record.purpose,
                to_ms(record.created_at),
                to_doc(record, *_IN_COLUMNS),
            ),
        )

    async def get(self, object_id: str) -> UpstreamObjectRecord | None:
        row = self._db.one(f"SELECT {_COLUMNS} FROM upstream_objects WHERE id = ?", (object_id,))
        return _record(row) if row else None

    @committed
    async def delete(self, object_id: str) -> bool:
        return bool(self._db.execute("DELETE FROM upstream_objects WHERE id = ?", (object_id,)).rowcount)

    async def page(
        self,
        owner: str,
        kind: ObjectKind,
        *,
        purpose: str | None,
        key_after: Key | None,
        key_before: Key | None,
        ascending: bool,
        limit: int,
    ) -> list[UpstreamObjectRecord]:
        after, before = ((to_ms(key[0]), key[1]) if key else None for key in (key_after, key_before))
        select = f"SELECT {_COLUMNS} FROM upstream_objects WHERE user_id = ? AND kind = ?"
        parameters: tuple[Any, ...] = (owner, kind)
        if purpose is not None:
            select, parameters = select + " AND purpose = ?", (*parameters, purpose)
        rows = self._db.page(
            select, parameters, "created_at, id", after=after, before=before, ascending=ascending, limit=limit
        )
        return [_record(row) for row in rows]
