"""Idempotency keys in the embedded SQLite store (table `idempotency_keys`); expired keys are taken over."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from app.clock import utc_now
from app.storage.idempotency_keys import IdempotencyRecord, lease_lapsed
from app.storage.sqlite.database import SqliteStore, column_names, committed, from_row, to_json, to_ms


class SqliteIdempotencyKeyStore(SqliteStore):
    """(user, key) -> record; a claim is one transaction, so one request holds a key across processes."""

    @committed
    async def claim(
        self, user_id: str, key: str, fingerprint: str, *, lease_s: float, ttl_s: float | None = None
    ) -> IdempotencyRecord | None:
        now = utc_now()
        lease_end = now + timedelta(seconds=lease_s)
        with self._db.transaction():
            self._db.execute("DELETE FROM idempotency_keys WHERE expires_at <= ?", (to_ms(now),))
            row = self._db.one(
                f"SELECT {column_names(IdempotencyRecord)} FROM idempotency_keys WHERE user_id = ? AND key = ?",
                (user_id, key),
            )
            if row is None:
                expires = now + timedelta(seconds=max(lease_s, ttl_s or 0.0))
                record = IdempotencyRecord(
                    user_id, key, fingerprint, "in_progress", expires, lease_expires_at=lease_end
                )
                self._insert("idempotency_keys", record)
                return None
            held = from_row(IdempotencyRecord, row)
            if not lease_lapsed(held, fingerprint, now):
                return held
            self._db.execute(
                "UPDATE idempotency_keys SET lease_expires_at = ? WHERE user_id = ? AND key = ?",
                (to_ms(lease_end), user_id, key),
            )
        return replace(held, state="unsettled", lease_expires_at=lease_end)

    @committed
    async def complete(
        self, user_id: str, key: str, status_code: int, response: dict[str, Any], *, ttl_s: float
    ) -> None:
        self._db.execute(
            "UPDATE idempotency_keys SET state = 'completed', status_code = ?, response = ?, expires_at = ?, "
            "lease_expires_at = NULL WHERE user_id = ? AND key = ?",
            (status_code, to_json(response, "response"), to_ms(utc_now() + timedelta(seconds=ttl_s)), user_id, key),
        )

    @committed
    async def release(self, user_id: str, key: str) -> None:
        self._db.execute("DELETE FROM idempotency_keys WHERE user_id = ? AND key = ?", (user_id, key))

    @committed
    async def abandon(self, user_id: str, key: str) -> None:
        self._db.execute(
            "UPDATE idempotency_keys SET lease_expires_at = ? WHERE user_id = ? AND key = ? AND state = 'in_progress'",
            (to_ms(utc_now()), user_id, key),
        )
