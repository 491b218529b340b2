"""Fixtures for the storage tests: every store, on mongomock, on a real MongoDB server and on SQLite (a file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mongomock_motor import AsyncMongoMockClient

from app.storage import Stores, mongo_stores, sqlite_stores
from app.storage.sqlite.database import SqliteDatabase


@pytest.fixture(params=["mongomock", "mongodb", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    if request.param == "mongomock":
        yield mongo_stores(AsyncMongoMockClient(tz_aware=True)["chat_test"])
        return
    if request.param == "mongodb":
        yield mongo_stores(request.getfixturevalue("real_mongo_database"))
        return
    database = SqliteDatabase(str(tmp_path / "store.sqlite3"))
    yield sqlite_stores(database)
    database.close()
