"""Conversation storage: MongoDB when MONGODB_URI is set, else an embedded in-memory store."""

from app.store.base import Conversation, ConversationStore, IdempotencyRecord, conversation_name, utc_now
from app.store.memory import MemoryConversationStore
from app.store.mongo import MongoConversationStore

__all__ = [
    "Conversation",
    "ConversationStore",
    "IdempotencyRecord",
    "MemoryConversationStore",
    "MongoConversationStore",
    "conversation_name",
    "utc_now",
]
