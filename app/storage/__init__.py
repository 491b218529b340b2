"""Storage: every store of a process, on MongoDB (MONGODB_URI) or embedded in a SQLite file (DATA_DIR).

One folder per backend (`mongo/`, `sqlite/`), one module per collection, each implementing the protocol of
the module of the same name here. Stores raise `StorageUnavailable` when their backend fails.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Literal

from app.config import Settings
from app.storage.assistants import AssistantStore
from app.storage.conversations import ConversationStore
from app.storage.idempotency_keys import IdempotencyKeyStore
from app.storage.sqlite.assistants import SqliteAssistantStore
from app.storage.sqlite.conversations import SqliteConversationStore
from app.storage.sqlite.database import SqliteDatabase
from app.storage.sqlite.idempotency_keys import SqliteIdempotencyKeyStore
from app.storage.sqlite.thread_owners import SqliteThreadOwnerStore
from app.storage.sqlite.threads import SqliteThreadStore
from app.storage.sqlite.upstream_objects import SqliteUpstreamObjectStore
from app.storage.thread_owners import ThreadOwnerStore
from app.storage.threads import ThreadStore
from app.storage.upstream_objects import UpstreamObjectStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stores:
    """The stores the services and engines use, and how to check that their backend answers."""

    kind: Literal["sqlite", "mongodb"]
    conversations: ConversationStore
    thread_owners: ThreadOwnerStore
    idempotency_keys: IdempotencyKeyStore
    threads: ThreadStore
    assistants: AssistantStore
    upstream_objects: UpstreamObjectStore
    ping: Callable[[], Awaitable[None]]

    async def ensure_indexes(self, *, threads: bool) -> None:
        """Create every store's indexes; the hosted engine's (`threads`, `assistants`, `upstream_objects`: /v1's)
        only when it runs."""
        for store in (self.conversations, self.thread_owners, self.idempotency_keys):
            await store.ensure_indexes()
        if threads:
            await self.threads.ensure_indexes()
            await self.assistants.ensure_indexes()
            await self.upstream_objects.ensure_indexes()


def sqlite_stores(database: SqliteDatabase) -> Stores:
    """Every store in one SQLite database (a file, or `:memory:` in tests); the caller closes it."""

    async def ping() -> None:
        database.one("SELECT 1")

    return Stores(
        kind="sqlite",
        conversations=SqliteConversationStore(database),
        thread_owners=SqliteThreadOwnerStore(database),
        idempotency_keys=SqliteIdempotencyKeyStore(database),
        threads=SqliteThreadStore(database),
        assistants=SqliteAssistantStore(database),
        upstream_objects=SqliteUpstreamObjectStore(database),
        ping=ping,
    )


def mongo_stores(database: Any) -> Stores:
    """Every store in one MongoDB database (pymongo's async database, or mongomock-motor's)."""
    # Imported here: pymongo adds about 6 MB to the idle process, and only MONGODB_URI needs it.
    from app.storage.mongo.assistants import MongoAssistantStore
    from app.storage.mongo.conversations import MongoConversationStore
    from app.storage.mongo.idempotency_keys import MongoIdempotencyKeyStore
    from app.storage.mongo.thread_owners import MongoThreadOwnerStore
    from app.storage.mongo.threads import MongoThreadStore
    from app.storage.mongo.upstream_objects import MongoUpstreamObjectStore

    async def ping() -> None:
        await database.command("ping")

    return Stores(
        kind="mongodb",
        conversations=MongoConversationStore(database),
        thread_owners=MongoThreadOwnerStore(database),
        idempotency_keys=MongoIdempotencyKeyStore(database),
        threads=MongoThreadStore(database),
        assistants=MongoAssistantStore(database),
        upstream_objects=MongoUpstreamObjectStore(database),
        ping=ping,
    )


async def open_stores(settings: Settings, stack: AsyncExitStack) -> Stores:
    """The stores the settings ask for; the MongoDB client or the SQLite file is closed by `stack`."""
    if settings.mongodb_uri is None:
        database = SqliteDatabase.in_directory(settings.data_dir)
        stack.callback(database.close)
        logger.info(
            "MONGODB_URI is not set: using the embedded SQLite store %s (kept across restarts; "
            "shared only by processes on this machine)",
            database.path,
        )
        return sqlite_stores(database)
    from app.storage.mongo.database import open_database  # pymongo: see mongo_stores

    database = await stack.enter_async_context(open_database(settings))
    return mongo_stores(database)
