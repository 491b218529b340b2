"""Idempotency keys in process memory, expiring as MongoDB's TTL index makes them expire."""

from __future__ import annotations

import heapq
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from app.clock import utc_now
from app.storage.idempotency_keys import IdempotencyRecord


class MemoryIdempotencyKeyStore:
    """(user, key) -> record, with a heap of expiry times."""

    def __init__(self) -> None:
        self._idempotency: dict[tuple[str, str], IdempotencyRecord] = {}
        self._idempotency_expiry: list[tuple[datetime, str, str]] = []

    async def ensure_indexes(self) -> None:
        return None

    # Idempotency keys: no await between the check and the write, so a claim is atomic in the event loop.
    async def claim(self, user_id: str, key: str, fingerprint: str, *, lease_s: float) -> IdempotencyRecord | None:
        now = utc_now()
        self._expire_idempotency_keys(now)
        existing = self._idempotency.get((user_id, key))
        if existing is not None and existing.expires_at > now:
            return existing
        self._set_idempotency(
            IdempotencyRecord(user_id, key, fingerprint, "in_progress", now + timedelta(seconds=lease_s))
        )
        return None

    async def complete(
        self, user_id: str, key: str, status_code: int, response: dict[str, Any], *, ttl_s: float
    ) -> None:
        existing = self._idempotency.get((user_id, key))
        if existing is None:
            return
        expires_at = utc_now() + timedelta(seconds=ttl_s)
        self._set_idempotency(
            replace(existing, state="completed", expires_at=expires_at, status_code=status_code, response=response)
        )

    async def release(self, user_id: str, key: str) -> None:
        self._idempotency.pop((user_id, key), None)

    def _set_idempotency(self, record: IdempotencyRecord) -> None:
        self._idempotency[(record.user_id, record.key)] = record
        heapq.heappush(self._idempotency_expiry, (record.expires_at, record.user_id, record.key))

    def _expire_idempotency_keys(self, now: datetime) -> None:
        """What MongoDB's TTL index does: drop records past their expiry (heap entries may be stale)."""
        while self._idempotency_expiry and self._idempotency_expiry[0][0] <= now:
            _, user_id, key = heapq.heappop(self._idempotency_expiry)
            record = self._idempotency.get((user_id, key))
            if record is not None and record.expires_at <= now:
                del self._idempotency[(user_id, key)]
