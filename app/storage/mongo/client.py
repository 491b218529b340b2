"""The one MongoDB client of a process, opened in the lifespan and shared by every store."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

from pymongo import AsyncMongoClient

from app.config import Settings

# Enough pooled connections for 1,000 requests in flight: each holds one only for a single operation.
MAX_POOL_SIZE = 200


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncGenerator[Any, None]:
    """Connect to MONGODB_URI and yield the database the settings name; close on exit."""
    assert settings.mongodb_uri is not None
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        settings.mongodb_uri.get_secret_value(),
        tz_aware=True,
        maxPoolSize=MAX_POOL_SIZE,
        serverSelectionTimeoutMS=5000,
        appname="chat-backend",
    )
    try:
        yield client[settings.database_name]
    finally:
        await client.close()
