"""Idempotency keys: a request made with an `Idempotency-Key`, in flight or answered. The protocol and its record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from app.storage.records import IndexedStore


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


class IdempotencyKeyStore(IndexedStore, Protocol):
    """Keys per user, reserved atomically (across processes), expiring on their own."""

    async def claim(self, user_id: str, key: str, fingerprint: str, *, lease_s: float) -> IdempotencyRecord | None:
        """Reserve the key for a request in flight (`lease_s` at most): None when the caller now holds it,
        else the live record that holds it (expired records are taken over)."""

    async def complete(
        self, user_id: str, key: str, status_code: int, response: dict[str, Any], *, ttl_s: float
    ) -> None:
        """Store the answer to replay for this key for `ttl_s` seconds."""

    async def release(self, user_id: str, key: str) -> None:
        """Drop the key (the request did not take effect; a retry may run it again)."""
