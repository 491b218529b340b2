"""Conversation storage: MongoDB when MONGODB_URI is set, else an embedded in-memory store."""

from typing import Any

from app.storage.base import Conversation, ConversationStore, IdempotencyRecord, conversation_name, utc_now
from app.storage.memory.conversations import MemoryConversationStore

__all__ = [
    "Conversation",
    "ConversationStore",
    "IdempotencyRecord",
    "MemoryConversationStore",
    "MongoConversationStore",
    "conversation_name",
    "utc_now",
]


def __getattr__(name: str) -> Any:
    # pymongo (about 6 MB) is imported only when the MongoDB store is asked for.
    if name == "MongoConversationStore":
        from app.storage.mongo.conversations import MongoConversationStore

        return MongoConversationStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
