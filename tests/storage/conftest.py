"""Fixtures for the storage tests: every store, on mongomock and in memory."""

from __future__ import annotations

import pytest
from mongomock_motor import AsyncMongoMockClient

from app.storage import Stores, memory_stores, mongo_stores


@pytest.fixture(params=["mongomock", "memory"])
def store(request: pytest.FixtureRequest) -> Stores:
    if request.param == "memory":
        return memory_stores()
    return mongo_stores(AsyncMongoMockClient(tz_aware=True)["chat_test"])
