"""Fixtures for the storage tests: every store, on mongomock and on SQLite (a temporary file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mongomock_motor import AsyncMongoMockClient

from app.storage import Stores, mongo_stores, sqlite_stores
from app.storage.sqlite.database import SqliteDatabase


@pytest.fixture(params=["mongomock", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    if request.param == "mongomock":
        yield mongo_stores(AsyncMongoMockClient(tz_aware=True)["chat_test"])
        return
    database = SqliteDatabase(str(tmp_path / "store.sqlite3"))
    yield sqlite_stores(database)
    database.close()
