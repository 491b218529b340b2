"""Every MongoDB index the service relies on, as the real server reports it (keys, unique, TTL)."""

from __future__ import annotations

from typing import Any

from app.storage import mongo_stores

# collection -> index name -> (keys, unique, expireAfterSeconds)
EXPECTED: dict[str, dict[str, tuple[list[tuple[str, int]], bool, int | None]]] = {
    "conversations": {
        "user_thread_unique": ([("userId", 1), ("threadId", 1)], True, None),
        "user_newest": ([("userId", 1), ("createdAt", -1), ("threadId", -1)], False, None),
    },
    "thread_owners": {"thread_unique": ([("threadId", 1)], True, None)},
    "idempotency_keys": {
        "user_key_unique": ([("userId", 1), ("key", 1)], True, None),
        "expires_ttl": ([("expiresAt", 1)], False, 0),
    },
    "messages": {
        "thread_position_unique": ([("threadId", 1), ("seq", 1)], True, None),
        # Partial: only messages posted with an Idempotency-Key carry a marker, only replies a run id.
        "thread_marker_unique": ([("threadId", 1), ("marker", 1)], True, None),
        "run_messages": ([("runId", 1), ("threadId", 1), ("seq", 1)], False, None),
    },
    "runs": {
        "thread_created": ([("threadId", 1), ("createdAt", 1), ("_id", 1)], False, None),
        "status_lease": ([("status", 1), ("leaseExpiresAt", 1)], False, None),
    },
    "run_steps": {"run_position": ([("runId", 1), ("seq", 1)], False, None)},
    "assistants": {"user_newest": ([("userId", 1), ("createdAt", -1), ("_id", -1)], False, None)},
    "upstream_objects": {
        "user_newest": ([("userId", 1), ("kind", 1), ("createdAt", -1), ("_id", -1)], False, None),
        "user_purpose_newest": (
            [("userId", 1), ("kind", 1), ("purpose", 1), ("createdAt", -1), ("_id", -1)],
            False,
            None,
        ),
    },
}


def _described(spec: dict[str, Any]) -> tuple[list[tuple[str, int]], bool, int | None]:
    keys = [(field, int(direction)) for field, direction in spec["key"]]
    return keys, bool(spec.get("unique", False)), spec.get("expireAfterSeconds")


async def test_start_up_creates_every_index_with_its_unique_and_ttl_options(real_mongo_database: Any) -> None:
    stores = mongo_stores(real_mongo_database)
    await stores.ensure_indexes(threads=True)
    await stores.ensure_indexes(threads=True)  # every start-up does it again: no error, no second index

    for collection, expected in EXPECTED.items():
        info = await real_mongo_database[collection].index_information()
        found = {name: _described(spec) for name, spec in info.items() if name != "_id_"}
        assert found == expected, collection
