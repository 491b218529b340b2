"""Idempotency keys: held, then replayed; per user; one claim wins a race; expired keys are taken over."""

from __future__ import annotations

import asyncio
from typing import Any

from app.storage import Stores
from app.storage.mongo.idempotency_keys import MongoIdempotencyKeyStore
from app.storage.mongo.thread_owners import MongoThreadOwnerStore


async def test_idempotency_key_is_held_then_replayed_and_is_per_user(store: Stores) -> None:
    await store.ensure_indexes(threads=False)
    assert await store.idempotency_keys.claim("u1", "key-1", "fp", lease_s=60) is None
    held = await store.idempotency_keys.claim("u1", "key-1", "fp", lease_s=60)
    assert held is not None
    assert held.state == "in_progress"
    assert held.fingerprint == "fp"
    assert await store.idempotency_keys.claim("u2", "key-1", "fp", lease_s=60) is None, "keys are per user"

    await store.idempotency_keys.complete("u1", "key-1", 200, {"run_id": "run_1"}, ttl_s=60)
    done = await store.idempotency_keys.claim("u1", "key-1", "other", lease_s=60)
    assert done is not None
    assert (done.state, done.status_code, done.response, done.fingerprint) == (
        "completed",
        200,
        {"run_id": "run_1"},
        "fp",
    )

    await store.idempotency_keys.release("u2", "key-1")
    assert await store.idempotency_keys.claim("u2", "key-1", "fp", lease_s=60) is None


async def test_concurrent_claims_of_one_idempotency_key_let_exactly_one_through(store: Stores) -> None:
    await store.ensure_indexes(threads=False)
    results = await asyncio.gather(*(store.idempotency_keys.claim("u1", "k", "fp", lease_s=60) for _ in range(10)))
    assert sum(r is None for r in results) == 1


async def test_expired_idempotency_keys_are_taken_over(store: Stores) -> None:
    await store.ensure_indexes(threads=False)
    assert await store.idempotency_keys.claim("u1", "stale", "fp", lease_s=0.01) is None
    await asyncio.sleep(0.03)
    assert await store.idempotency_keys.claim("u1", "stale", "fp2", lease_s=60) is None
    held = await store.idempotency_keys.claim("u1", "stale", "fp2", lease_s=60)
    assert held is not None
    assert held.fingerprint == "fp2"


async def test_idempotency_keys_expire_through_a_ttl_index(real_mongo_database: Any) -> None:
    database = real_mongo_database
    await MongoIdempotencyKeyStore(database).ensure_indexes()
    await MongoThreadOwnerStore(database).ensure_indexes()
    info = await database["idempotency_keys"].index_information()
    ttl = [spec for spec in info.values() if "expireAfterSeconds" in spec]
    assert [(spec["key"], spec["expireAfterSeconds"]) for spec in ttl] == [([("expiresAt", 1)], 0)]
    owners = await database["thread_owners"].index_information()
    assert [spec["key"] for spec in owners.values() if spec.get("unique")] == [[("threadId", 1)]]


async def test_a_key_whose_lease_lapsed_is_taken_over_unsettled_by_the_same_request_only(store: Stores) -> None:
    keys = store.idempotency_keys
    await store.ensure_indexes(threads=False)
    assert await keys.claim("u1", "k", "fp", lease_s=0, ttl_s=60) is None
    other = await keys.claim("u1", "k", "another body", lease_s=60, ttl_s=60)
    assert other is not None
    assert (other.state, other.fingerprint) == ("in_progress", "fp"), "another request is refused the key"
    retaken = await keys.claim("u1", "k", "fp", lease_s=60, ttl_s=60)
    assert retaken is not None
    assert retaken.state == "unsettled"
    held = await keys.claim("u1", "k", "fp", lease_s=60, ttl_s=60)
    assert held is not None
    assert held.state == "in_progress", "the retry now holds it"
    await keys.abandon("u1", "k")
    abandoned = await keys.claim("u1", "k", "fp", lease_s=60, ttl_s=60)
    assert abandoned is not None
    assert abandoned.state == "unsettled"
    await keys.complete("u1", "k", 200, {"run_id": "run_1"}, ttl_s=60)
    await keys.abandon("u1", "k")
    done = await keys.claim("u1", "k", "fp", lease_s=60, ttl_s=60)
    assert done is not None
    assert (done.state, done.response) == ("completed", {"run_id": "run_1"}), "an answered key stays answered"
