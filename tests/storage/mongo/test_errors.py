"""pymongo's errors reach the services as StorageUnavailable, from every MongoDB store."""

from __future__ import annotations

import pytest
from mongomock_motor import AsyncMongoMockClient

from app.storage import mongo_stores


async def test_a_database_failure_leaves_the_mongo_stores_as_storage_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pymongo.errors import AutoReconnect

    from app.errors import StorageUnavailable

    database = AsyncMongoMockClient(tz_aware=True)["chat_test"]
    stores = mongo_stores(database)

    def down(*args: object, **kwargs: object) -> None:
        raise AutoReconnect("connection pool paused")

    collection_class = type(database["conversations"])
    for method in ("find_one", "find_one_and_update", "insert_one"):
        monkeypatch.setattr(collection_class, method, down)
    calls = [
        stores.conversations.get_conversation("u1", "thread_x"),
        stores.thread_owners.owner_of("thread_x"),
        stores.idempotency_keys.claim("u1", "k", "fp", lease_s=60),
    ]
    for call in calls:
        with pytest.raises(StorageUnavailable) as raised:
            await call
        assert isinstance(raised.value.__cause__, AutoReconnect)
