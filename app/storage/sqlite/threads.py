"""The hosted engine's threads, messages and runs in the embedded SQLite store.

Tables `threads`, `messages`, `runs` and `run_steps`. A message is a row of columns (a run reads its
thread's last few, so they are cheap to decode); a run is JSON beside the columns the queries filter on.
Every conditional change is one statement or transaction, so the rules hold across processes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from app.storage.sqlite.database import SqliteStore, column_names, committed, from_doc, from_row, to_doc, to_json, to_ms
from app.storage.threads import (
    ACTIVE_RUN_STATUSES,
    RUNNING_RUN_STATUSES,
    ClaimResult,
    MessageRecord,
    RunKey,
    RunRecord,
    RunStepRecord,
    ThreadRecord,
    is_active,
)

T = TypeVar("T")
_MESSAGE_COLUMNS = column_names(MessageRecord)
_THREAD_COLUMNS = column_names(ThreadRecord)
_ACTIVE_SQL = ", ".join(f"'{status}'" for status in sorted(ACTIVE_RUN_STATUSES))  # our constants as SQL literals
_RUNNING_SQL = ", ".join(f"'{status}'" for status in sorted(RUNNING_RUN_STATUSES))


class SqliteThreadStore(SqliteStore):
    @committed
    async def create_thread(self, thread: ThreadRecord) -> None:
        self._insert("threads", thread)

    def _get_thread(self, thread_id: str) -> ThreadRecord | None:
        row = self._db.one(f"SELECT {_THREAD_COLUMNS} FROM threads WHERE id = ?", (thread_id,))
        return from_row(ThreadRecord, row) if row else None

    async def get_thread(self, thread_id: str) -> ThreadRecord | None:
        return self._get_thread(thread_id)

    @committed
    async def set_thread_metadata(self, thread_id: str, metadata: dict[str, str]) -> ThreadRecord | None:
        return self._set_json(ThreadRecord, "threads", thread_id, "metadata", metadata)

    @committed
    async def set_thread_tool_resources(self, thread_id: str, resources: dict[str, Any]) -> ThreadRecord | None:
        return self._set_json(ThreadRecord, "threads", thread_id, "tool_resources", resources)

    @committed
    async def swap_thread_tool_resources(
        self, thread_id: str, resources: dict[str, Any], *, expected: dict[str, Any] | None
    ) -> bool:
        with self._db.transaction():
            thread = self._get_thread(thread_id)
            if thread is None or (thread.tool_resources or None) != (expected or None):
                return False
            self._db.execute(
                "UPDATE threads SET tool_resources = ? WHERE id = ?", (to_json(resources, "tool_resources"), thread_id)
            )
            return True

    def _set_json(self, cls: type[T], table: str, record_id: str, column: str, value: dict[str, Any]) -> T | None:
        """Replace a JSON column; the record afterwards, or None when there is no such row."""
        row = self._db.one(
            f"UPDATE {table} SET {column} = ? WHERE id = ? RETURNING {column_names(cls)}",
            (to_json(value, column), record_id),
        )
        return from_row(cls, row) if row else None

    @committed
    async def delete_thread(self, thread_id: str) -> bool:
        with self._db.transaction():
            if not self._db.execute("DELETE FROM threads WHERE id = ?", (thread_id,)).rowcount:
                return False
            self._db.execute("DELETE FROM messages WHERE thread_id = ?", (thread_id,))
            self._db.execute(
                "DELETE FROM run_steps WHERE run_id IN (SELECT id FROM runs WHERE thread_id = ?)", (thread_id,)
            )
            self._db.execute("DELETE FROM runs WHERE thread_id = ?", (thread_id,))
        return True

    @committed
    async def claim_active_run(
        self, thread_id: str, run_id: str, *, holder: str | None, claim_expires_at: datetime
    ) -> ClaimResult:
        with self._db.transaction():
            claimed = self._db.execute(
                "UPDATE threads SET active_run_id = ?, claim_expires_at = ?, message_count = message_count + 1 "
                "WHERE id = ? AND active_run_id IS ?",
                (run_id, to_ms(claim_expires_at), thread_id, holder),
            ).rowcount
            thread = self._get_thread(thread_id)
        return ClaimResult(granted=bool(claimed), thread=thread)

    @committed
    async def release_active_run(self, thread_id: str, run_id: str) -> bool:
        sql = "UPDATE threads SET active_run_id = NULL, claim_expires_at = NULL WHERE id = ? AND active_run_id = ?"
        return bool(self._db.execute(sql, (thread_id, run_id)).rowcount)

    @committed
    async def next_message_seq(self, thread_id: str, run_id: str) -> int | None:
        row = self._db.one(
            "UPDATE threads SET message_count = message_count + 1 WHERE id = ? AND active_run_id = ? "
            "RETURNING message_count",
            (thread_id, run_id),
        )
        return int(row[0]) if row else None

    @committed
    async def insert_message(self, message: MessageRecord) -> None:
        self._insert("messages", message)

    async def get_message(self, message_id: str) -> MessageRecord | None:
        row = self._db.one(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,))
        return from_row(MessageRecord, row) if row else None

    @committed
    async def set_message_metadata(self, message_id: str, metadata: dict[str, str]) -> MessageRecord | None:
        return self._set_json(MessageRecord, "messages", message_id, "metadata", metadata)

    @committed
    async def delete_message(self, message_id: str) -> bool:
        return bool(self._db.execute("DELETE FROM messages WHERE id = ?", (message_id,)).rowcount)

    async def messages_page(
        self,
        thread_id: str,
        *,
        seq_after: int | None,
        seq_before: int | None,
        ascending: bool,
        limit: int,
        run_id: str | None = None,
    ) -> list[MessageRecord]:
        select = f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE thread_id = ?"
        rows = self._db.page(
            select if run_id is None else select + " AND run_id = ?",
            (thread_id,) if run_id is None else (thread_id, run_id),
            "seq",
            after=None if seq_after is None else (seq_after,),
            before=None if seq_before is None else (seq_before,),
            ascending=ascending,
            limit=limit,
        )
        return [from_row(MessageRecord, row) for row in rows]

    async def marked_message(self, thread_id: str, marker: str) -> MessageRecord | None:
        sql = f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE thread_id = ? AND marker = ?"
        row = self._db.one(sql, (thread_id, marker))
        return from_row(MessageRecord, row) if row else None

    @committed
    async def insert_run(self, run: RunRecord) -> None:
        self._db.execute(
            "INSERT INTO runs (id, thread_id, status, created_at, lease_expires_at, doc) VALUES (?, ?, ?, ?, ?, ?)",
            (run.id, run.thread_id, run.status, to_ms(run.created_at), to_ms(run.lease_expires_at), to_doc(run)),
        )

    def _get_run(self, run_id: str) -> RunRecord | None:
        row = self._db.one("SELECT doc FROM runs WHERE id = ?", (run_id,))
        return from_doc(RunRecord, row[0]) if row else None

    async def get_run(self, run_id: str) -> RunRecord | None:
        return self._get_run(run_id)

    async def runs_page(
        self, thread_id: str, *, key_after: RunKey | None, key_before: RunKey | None, ascending: bool, limit: int
    ) -> list[RunRecord]:
        after, before = ((to_ms(key[0]), key[1]) if key else None for key in (key_after, key_before))
        rows = self._db.page(
            "SELECT doc FROM runs WHERE thread_id = ?",
            (thread_id,),
            "created_at, id",
            after=after,
            before=before,
            ascending=ascending,
            limit=limit,
        )
        return [from_doc(RunRecord, row[0]) for row in rows]

    @committed
    async def set_run_metadata(self, run_id: str, metadata: dict[str, str]) -> RunRecord | None:
        sql = "UPDATE runs SET doc = json_set(doc, '$.metadata', json(?)) WHERE id = ? RETURNING doc"
        row = self._db.one(sql, (to_json(metadata, "metadata"), run_id))
        return from_doc(RunRecord, row[0]) if row else None

    @committed
    async def update_active_run(
        self, run_id: str, changes: dict[str, Any], *, lapsed_before: datetime | None = None, status: str | None = None
    ) -> RunRecord | None:
        with self._db.transaction():
            run = self._get_run(run_id)
            if run is None or not is_active(run.status) or status not in (None, run.status):
                return None
            if lapsed_before is not None and (run.lease_expires_at is None or run.lease_expires_at >= lapsed_before):
                return None
            run = replace(run, **changes)
            self._db.execute(
                "UPDATE runs SET status = ?, lease_expires_at = ?, doc = ? WHERE id = ?",
                (run.status, to_ms(run.lease_expires_at), to_doc(run), run_id),
            )
        return run

    @committed
    async def renew_leases(self, run_ids: Collection[str], lease_expires_at: datetime) -> set[str]:
        ids, millis = list(run_ids), to_ms(lease_expires_at)
        rows = self._db.all(
            "UPDATE runs SET lease_expires_at = ?, doc = json_set(doc, '$.lease_expires_at', ?) "
            f"WHERE id IN ({', '.join('?' * len(ids))}) AND status IN ({_RUNNING_SQL}) RETURNING id",
            (millis, millis, *ids),
        )
        return {row[0] for row in rows}

    async def lapsed_runs(self, now: datetime, limit: int) -> list[RunRecord]:
        sql = f"SELECT doc FROM runs WHERE status IN ({_ACTIVE_SQL}) AND lease_expires_at < ? LIMIT ?"
        return [from_doc(RunRecord, row[0]) for row in self._db.all(sql, (to_ms(now), limit))]

    @committed
    async def save_run_step(self, step: RunStepRecord) -> None:
        self._db.execute(
            "INSERT INTO run_steps (id, run_id, seq, doc) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, doc = excluded.doc",
            (step.id, step.run_id, step.seq, to_doc(step)),
        )

    async def run_steps(self, run_id: str) -> list[RunStepRecord]:
        rows = self._db.all("SELECT doc FROM run_steps WHERE run_id = ? ORDER BY seq", (run_id,))
        return [from_doc(RunStepRecord, row[0]) for row in rows]

    async def get_run_step(self, step_id: str) -> RunStepRecord | None:
        row = self._db.one("SELECT doc FROM run_steps WHERE id = ?", (step_id,))
        return from_doc(RunStepRecord, row[0]) if row else None

    async def steps_page(
        self, run_id: str, *, seq_after: int | None, seq_before: int | None, ascending: bool, limit: int
    ) -> list[RunStepRecord]:
        rows = self._db.page(
            "SELECT doc FROM run_steps WHERE run_id = ?",
            (run_id,),
            "seq",
            after=None if seq_after is None else (seq_after,),
            before=None if seq_before is None else (seq_before,),
            ascending=ascending,
            limit=limit,
        )
        return [from_doc(RunStepRecord, row[0]) for row in rows]
