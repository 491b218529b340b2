"""The hosted engine's storage on MongoDB: the indexes its reads use."""

from __future__ import annotations


async def test_mongo_store_reads_a_threads_messages_through_an_index() -> None:
    from mongomock_motor import AsyncMongoMockClient

    from app.storage.mongo.threads import MongoThreadStore

    database = AsyncMongoMockClient(tz_aware=True)["hosted"]
    await MongoThreadStore(database).ensure_indexes()
    indexes = await database["messages"].index_information()
    assert indexes["thread_position_unique"]["key"] == [("threadId", 1), ("seq", 1)]
    assert indexes["thread_position_unique"]["unique"] is True
    run_indexes = await database["runs"].index_information()
    assert run_indexes["status_lease"]["key"] == [("status", 1), ("leaseExpiresAt", 1)]
