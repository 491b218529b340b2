"""Idempotency keys: a request made with an `Idempotency-Key`, in flight or answered. The protocol and its record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from app.storage.records import IndexedStore


@dataclass(frozen=True)
class IdempotencyRecord:
    """A request made with an Idempotency-Key: in flight, or completed with the answer to replay.

    `unsettled` is never stored: `claim` answers it when the caller took the key over from a first attempt that
    never settled (its lease lapsed: its process died, or its outcome could not be told), so the caller looks
    for what that attempt wrote before doing anything.
    """

    user_id: str
    key: str
    fingerprint: str
    state: Literal["in_progress", "completed", "unsettled"]
    expires_at: datetime
    status_code: int | None = None
    response: dict[str, Any] | None = None
    # While in progress: until when the attempt holds the key (None: until `expires_at`).
    lease_expires_at: datetime | None = None


def lease_lapsed(held: IdempotencyRecord, fingerprint: str, now: datetime) -> bool:
    """The same request's first attempt, in progress with its lease lapsed: a claim takes the key over."""
    lease = held.lease_expires_at
    return held.state == "in_progress" and held.fingerprint == fingerprint and lease is not None and lease <= now


class IdempotencyKeyStore(IndexedStore, Protocol):
    """Keys per user, reserved atomically (across processes), expiring on their own."""

    async def claim(
        self, user_id: str, key: str, fingerprint: str, *, lease_s: float, ttl_s: float | None = None
    ) -> IdempotencyRecord | None:
        """Reserve the key for a request in flight (`lease_s` at most, the record kept `ttl_s`): None when the
        caller now holds it, else the live record that holds it (expired records are taken over). A record whose
        lease lapsed with the same fingerprint is taken over too, and answered `unsettled` (its record)."""

    async def complete(
        self, user_id: str, key: str, status_code: int, response: dict[str, Any], *, ttl_s: float
    ) -> None:
        """Store the answer to replay for this key for `ttl_s` seconds."""

    async def release(self, user_id: str, key: str) -> None:
        """Drop the key (the request did not take effect; a retry may run it again)."""

    async def abandon(self, user_id: str, key: str) -> None:
        """End the lease of the key's request in flight: its outcome is unknown, so a retry takes it over as
        `unsettled` (and looks for what it wrote) at once."""
