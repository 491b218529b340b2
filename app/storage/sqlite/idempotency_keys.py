"""Idempotency keys in the embedded SQLite store (table `idempotency_keys`); expired keys are taken over."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from app.clock import utc_now
from app.storage.idempotency_keys import IdempotencyRecord
from app.storage.sqlite.database import SqliteDatabase, from_ms, to_ms


class SqliteIdempotencyKeyStore:
    """(user, key) -> record; a claim is one transaction, so one request holds a key across processes."""

    def __init__(self, database: SqliteDatabase) -> None:
        self._db = database

    async def ensure_indexes(self) -> None:
        return None  # created with the schema

    async def claim(self, user_id: str, key: str, fingerprint: str, *, lease_s: float) -> IdempotencyRecord | None:
        now = utc_now()
        with self._db.transaction():
            self._db.execute("DELETE FROM idempotency_keys WHERE expires_at <= ?", (to_ms(now),))
            row = self._db.one(
                "SELECT fingerprint, state, expires_at, status_code, response FROM idempotency_keys "
                "WHERE user_id = ? AND key = ?",
                (user_id, key),
            )
            if row is not None:
                held_fingerprint, state, expires_at, status_code, response = row
                return IdempotencyRecord(
                    user_id,
                    key,
                    held_fingerprint,
                    state,
                    from_ms(expires_at),
                    status_code,
                    json.loads(response) if response is not None else None,
                )
            self._db.execute(
                "INSERT INTO idempotency_keys (user_id, key, fingerprint, state, expires_at) "
                "VALUES (?, ?, ?, 'in_progress', ?)",
                (user_id, key, fingerprint, to_ms(now + timedelta(seconds=lease_s))),
            )
        return None

    async def complete(
        self, user_id: str, key: str, status_code: int, response: dict[str, Any], *, ttl_s: float
    ) -> None:
        self._db.execute(
            "UPDATE idempotency_keys SET state = 'completed', status_code = ?, response = ?, expires_at = ? "
            "WHERE user_id = ? AND key = ?",
            (status_code, json.dumps(response), to_ms(utc_now() + timedelta(seconds=ttl_s)), user_id, key),
        )

    async def release(self, user_id: str, key: str) -> None:
        self._db.execute("DELETE FROM idempotency_keys WHERE user_id = ? AND key = ?", (user_id, key))
