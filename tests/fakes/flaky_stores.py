"""Conversation stores that fail on purpose: writes that raise for a while, a ping that fails, a list that is down."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from app.errors import StorageUnavailable
from app.storage import Stores
from app.storage.sqlite.conversations import SqliteConversationStore
from app.storage.sqlite.database import SqliteDatabase
from tests.fakes.embedded_stores import IN_MEMORY, embedded_stores


class FlakyStore(SqliteConversationStore):
    """The embedded store, but conversation writes raise PyMongoError while `failures_left` > 0."""

    def __init__(self, failures: int = 0) -> None:
        super().__init__(SqliteDatabase(IN_MEMORY))
        self.failures_left = failures
        self.ping_fails = False
        self.write_attempts = 0

    async def touch_conversation(self, user_id: str, thread_id: str, at: datetime | None = None) -> bool:
        self.write_attempts += 1
        if self.failures_left > 0:
            self.failures_left -= 1
            raise AutoReconnect("connection pool paused")
        return await super().touch_conversation(user_id, thread_id, at)

    async def ping(self) -> None:
        if self.ping_fails:
            raise ServerSelectionTimeoutError("no servers")


class DownStore(SqliteConversationStore):
    """The embedded store, but listing conversations fails as the MongoDB store does when pymongo raises."""

    def __init__(self) -> None:
        super().__init__(SqliteDatabase(IN_MEMORY))

    async def list_conversations(self, *args: Any, **kwargs: Any) -> Any:
        raise StorageUnavailable() from AutoReconnect("connection pool paused")


def stores_with(conversations: SqliteConversationStore) -> Stores:
    """The embedded stores, with these conversations (and their ping, if they have one)."""
    ping = getattr(conversations, "ping", None)
    stores = replace(embedded_stores(), conversations=conversations)
    return replace(stores, ping=ping) if ping is not None else stores
