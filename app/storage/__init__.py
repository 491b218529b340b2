"""Storage: every store of a process, on MongoDB (MONGODB_URI) or embedded in the process.

One folder per backend (`mongo/`, `memory/`), one module per collection, each implementing the
protocol of the module of the same name here (`conversations`, `thread_owners`,
`idempotency_keys`, `threads`). Stores raise `StorageUnavailable` when their backend fails.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Literal

from app.config import Settings
from app.storage.conversations import ConversationStore
from app.storage.idempotency_keys import IdempotencyKeyStore
from app.storage.memory.conversations import MemoryConversationStore
from app.storage.memory.idempotency_keys import MemoryIdempotencyKeyStore
from app.storage.memory.thread_owners import MemoryThreadOwnerStore
from app.storage.memory.threads import MemoryThreadStore
from app.storage.thread_owners import ThreadOwnerStore
from app.storage.threads import ThreadStore

logger = logging.getLogger(__name__)

StorageKind = Literal["memory", "mongodb"]


async def _always_up() -> None:
    return None


@dataclass(frozen=True)
class Stores:
    """The stores the services and engines use, and how to check that their backend answers."""

    kind: StorageKind
    conversations: ConversationStore
    thread_owners: ThreadOwnerStore
    idempotency_keys: IdempotencyKeyStore
    threads: ThreadStore
    ping: Callable[[], Awaitable[None]] = _always_up

    async def ensure_indexes(self, *, threads: bool) -> None:
        """Create every store's indexes; the hosted engine's (`threads`) only when it runs."""
        for store in (self.conversations, self.thread_owners, self.idempotency_keys):
            await store.ensure_indexes()
        if threads:
            await self.threads.ensure_indexes()


def memory_stores() -> Stores:
    """Every store in process memory: nothing survives a restart."""
    return Stores(
        kind="memory",
        conversations=MemoryConversationStore(),
        thread_owners=MemoryThreadOwnerStore(),
        idempotency_keys=MemoryIdempotencyKeyStore(),
        threads=MemoryThreadStore(),
    )


def mongo_stores(database: Any) -> Stores:
    """Every store in one MongoDB database (pymongo's async database, or mongomock-motor's)."""
    # Imported here: pymongo adds about 6 MB to the idle process, and only MONGODB_URI needs it.
    from app.storage.mongo.conversations import MongoConversationStore
    from app.storage.mongo.idempotency_keys import MongoIdempotencyKeyStore
    from app.storage.mongo.thread_owners import MongoThreadOwnerStore
    from app.storage.mongo.threads import MongoThreadStore

    async def ping() -> None:
        await database.command("ping")

    return Stores(
        kind="mongodb",
        conversations=MongoConversationStore(database),
        thread_owners=MongoThreadOwnerStore(database),
        idempotency_keys=MongoIdempotencyKeyStore(database),
        threads=MongoThreadStore(database),
        ping=ping,
    )


async def open_stores(settings: Settings, stack: AsyncExitStack) -> Stores:
    """The stores the settings ask for; a MongoDB client is closed by `stack`."""
    if settings.mongodb_uri is None:
        logger.warning("MONGODB_URI is not set: using the embedded in-memory store; nothing survives a restart")
        return memory_stores()
    from app.storage.mongo.client import open_database  # pymongo: see mongo_stores

    database = await stack.enter_async_context(open_database(settings))
    return mongo_stores(database)
