"""Engine `hosted`: threads, messages and runs in this service's storage; each run is one model call.

Modules, one job each: `records` (what is stored, and its API view), `store` (the storage
interface) with `store_mongo` and `store_memory`, `claims` (one active run per thread, leases),
`model_client` (Responses and Chat Completions adapters), `events` (Assistants-shaped stream
events), `runner` (the background run tasks) and `engine` (the AssistantEngine methods).
"""

from typing import Any

from app.engines.hosted.engine import HostedEngine
from app.engines.hosted.model_client import build_model_client
from app.storage.memory.threads import MemoryHostedStore
from app.storage.threads import HostedStore

__all__ = ["HostedEngine", "HostedStore", "MemoryHostedStore", "MongoHostedStore", "build_model_client"]


def __getattr__(name: str) -> Any:
    # pymongo is imported only when the MongoDB store is asked for.
    if name == "MongoHostedStore":
        from app.storage.mongo.threads import MongoHostedStore

        return MongoHostedStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
