"""Request dependencies: the objects the lifespan built, handed to the routes."""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from app.config import Settings
from app.engines.base import AssistantEngine
from app.observability.metrics import Metrics
from app.services.assistants import AssistantService
from app.services.chat import ChatService
from app.services.conversation_retry import UpsertRetryQueue
from app.services.files import FileService
from app.services.idempotency import IdempotentRequests
from app.services.thread_owners import ThreadAccess
from app.services.upstream_objects import UpstreamObjects
from app.storage import Stores
from app.storage.conversations import ConversationStore

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"


def request_marker(user_id: str, idempotency_key: str | None) -> str | None:
    """What identifies a request on what it wrote (a hosted message and run, an upstream run's metadata): the same
    for every retry with one Idempotency-Key; None without a key (the engine marks its own upstream runs)."""
    if idempotency_key is not None:
        return hashlib.sha256(f"{user_id}\0{idempotency_key}".encode()).hexdigest()[:32]
    return None


def _from_state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency answering `app.state.<name>` (a dotted path), which the lifespan built."""

    async def dependency(request: Request) -> Any:
        return operator.attrgetter(name)(request.app.state)

    return dependency


get_chat_service = _from_state("chat_service")


async def get_user_id(request: Request) -> str:
    """The user the request acts for: set from its API key by the access dependency (`app/api/security.py`)."""
    settings: Settings = request.app.state.settings
    user_id: str | None = getattr(request.state, "user_id", None)
    return settings.default_user_id if user_id is None else user_id


SettingsDep = Annotated[Settings, Depends(_from_state("settings"))]
EngineDep = Annotated[AssistantEngine, Depends(_from_state("engine"))]
StoresDep = Annotated[Stores, Depends(_from_state("stores"))]
ConversationsDep = Annotated[ConversationStore, Depends(_from_state("stores.conversations"))]
ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]
UserIdDep = Annotated[str, Depends(get_user_id)]
FilesDep = Annotated[FileService, Depends(_from_state("files"))]
AssistantsDep = Annotated[AssistantService, Depends(_from_state("assistants"))]
UpstreamObjectsDep = Annotated[UpstreamObjects, Depends(_from_state("upstream_objects"))]
ThreadAccessDep = Annotated[ThreadAccess, Depends(_from_state("thread_access"))]
IdempotencyDep = Annotated[IdempotentRequests, Depends(_from_state("idempotency"))]
MetricsDep = Annotated[Metrics, Depends(_from_state("metrics"))]
UpsertRetriesDep = Annotated[UpsertRetryQueue, Depends(_from_state("upsert_retries"))]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Any unique string (1-255 visible ASCII characters, e.g. a UUID): a retry with the same "
        "key and body returns the first answer instead of posting the message again.",
    ),
]
