"""Idempotency keys on MongoDB: collection `idempotency_keys`, unique per (user, key), removed by a TTL index."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from app.clock import utc_now
from app.storage.idempotency_keys import IdempotencyRecord, lease_lapsed
from app.storage.mongo.database import (
    create_unique_index,
    from_doc,
    once_more_if_reply_lost,
    storage_errors_translated,
)


@storage_errors_translated
class MongoIdempotencyKeyStore:
    """`{userId, key, fingerprint, state, attempt, createdAt, expiresAt, leaseExpiresAt, statusCode, response}`."""

    def __init__(self, database: Any) -> None:
        self._idempotency = database["idempotency_keys"]

    async def ensure_indexes(self) -> None:
        await create_unique_index(self._idempotency, [("userId", ASCENDING), ("key", ASCENDING)], "user_key_unique")
        # MongoDB's TTL monitor deletes records once `expiresAt` has passed (checked about once a minute;
        # `claim` treats a record past its expiry as gone in the meantime).
        await self._idempotency.create_index([("expiresAt", ASCENDING)], expireAfterSeconds=0, name="expires_ttl")

    async def claim(
        self, user_id: str, key: str, fingerprint: str, *, lease_s: float, ttl_s: float | None = None
    ) -> IdempotencyRecord | None:
        held = {"userId": user_id, "key": key}
        # This reservation's marker: a write retried after its reply was lost finds its own first attempt by it.
        attempt = secrets.token_hex(8)
        for _ in range(3):
            now = utc_now()
            lease_end = now + timedelta(seconds=lease_s)
            expires_at = now + timedelta(seconds=max(lease_s, ttl_s or 0.0))
            doc: dict[str, Any] = {**held, "fingerprint": fingerprint, "state": "in_progress", "attempt": attempt}
            doc |= {"createdAt": now, "expiresAt": expires_at, "leaseExpiresAt": lease_end}
            try:
                await once_more_if_reply_lost(self._idempotency.insert_one, dict(doc))
                return None
            except DuplicateKeyError:
                existing = await self._idempotency.find_one(held)
            if existing is None:
                continue  # expired and deleted in between: try the insert again
            if existing.get("attempt") == attempt:
                return None  # ours: the first attempt was applied and its reply lost
            record = from_doc(IdempotencyRecord, existing)
            assert record is not None
            if existing["expiresAt"] > now:
                if not lease_lapsed(record, fingerprint, now):
                    return record
                # The same request's first attempt never settled: take the key over, unless someone else just did.
                lease = {"_id": existing["_id"], "leaseExpiresAt": existing["leaseExpiresAt"]}
                taken = await self._idempotency.update_one(lease, {"$set": {"leaseExpiresAt": lease_end}})
                if taken.modified_count == 1:
                    return replace(record, state="unsettled", lease_expires_at=lease_end)
                continue
            # Past its expiry but not yet removed by the TTL monitor: take it over, unless someone else just did.
            stale = {"_id": existing["_id"], "expiresAt": existing["expiresAt"]}
            taken = await once_more_if_reply_lost(self._idempotency.replace_one, stale, doc)
            if taken.modified_count == 1:
                return None
        raise RuntimeError("idempotency key is contended")

    async def complete(
        self, user_id: str, key: str, status_code: int, response: dict[str, Any], *, ttl_s: float
    ) -> None:
        expires_at = utc_now() + timedelta(seconds=ttl_s)
        update = {
            "$set": {"state": "completed", "statusCode": status_code, "response": response, "expiresAt": expires_at},
            "$unset": {"leaseExpiresAt": ""},
        }
        await self._idempotency.update_one({"userId": user_id, "key": key}, update)

    async def release(self, user_id: str, key: str) -> None:
        await self._idempotency.delete_one({"userId": user_id, "key": key})

    async def abandon(self, user_id: str, key: str) -> None:
        query = {"userId": user_id, "key": key, "state": "in_progress"}
        await self._idempotency.update_one(query, {"$set": {"leaseExpiresAt": utc_now()}})
