"""Request dependencies: the objects the lifespan built, handed to the routes."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated

from fastapi import Depends, Header, Request

from app.config import Settings
from app.engines.base import AssistantEngine
from app.observability.metrics import Metrics
from app.observability.request_ids import request_id_var
from app.services.assistants import AssistantService
from app.services.chat import ChatService
from app.services.conversation_retry import UpsertRetryQueue
from app.services.files import FileService
from app.services.idempotency import IdempotentRequests
from app.services.thread_owners import ThreadAccess
from app.storage import Stores
from app.storage.conversations import ConversationStore

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"


def request_marker(user_id: str, idempotency_key: str | None) -> str:
    """What identifies a request upstream (run metadata): the same for every retry with one Idempotency-Key."""
    if idempotency_key is not None:
        return hashlib.sha256(f"{user_id}\0{idempotency_key}".encode()).hexdigest()[:32]
    return request_id_var.get() or uuid.uuid4().hex


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_engine(request: Request) -> AssistantEngine:
    engine: AssistantEngine = request.app.state.engine
    return engine


async def get_stores(request: Request) -> Stores:
    stores: Stores = request.app.state.stores
    return stores


async def get_conversations(request: Request) -> ConversationStore:
    stores: Stores = request.app.state.stores
    return stores.conversations


async def get_chat_service(request: Request) -> ChatService:
    chat_service: ChatService = request.app.state.chat_service
    return chat_service


async def get_files(request: Request) -> FileService:
    files: FileService = request.app.state.files
    return files


async def get_assistants(request: Request) -> AssistantService:
    assistants: AssistantService = request.app.state.assistants
    return assistants


async def get_user_id(request: Request) -> str:
    """The user the request acts for: set from its API key by the API key middleware."""
    user_id: str | None = getattr(request.state, "user_id", None)
    if user_id is None:
        settings: Settings = request.app.state.settings
        return settings.default_user_id
    return user_id


async def get_thread_access(request: Request) -> ThreadAccess:
    thread_access: ThreadAccess = request.app.state.thread_access
    return thread_access


async def get_idempotency(request: Request) -> IdempotentRequests:
    idempotency: IdempotentRequests = request.app.state.idempotency
    return idempotency


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


async def get_upsert_retries(request: Request) -> UpsertRetryQueue:
    upsert_retries: UpsertRetryQueue = request.app.state.upsert_retries
    return upsert_retries


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[AssistantEngine, Depends(get_engine)]
StoresDep = Annotated[Stores, Depends(get_stores)]
ConversationsDep = Annotated[ConversationStore, Depends(get_conversations)]
ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]
UserIdDep = Annotated[str, Depends(get_user_id)]
FilesDep = Annotated[FileService, Depends(get_files)]
AssistantsDep = Annotated[AssistantService, Depends(get_assistants)]
ThreadAccessDep = Annotated[ThreadAccess, Depends(get_thread_access)]
IdempotencyDep = Annotated[IdempotentRequests, Depends(get_idempotency)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
UpsertRetriesDep = Annotated[UpsertRetryQueue, Depends(get_upsert_retries)]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Any unique string (1-255 visible ASCII characters, e.g. a UUID): a retry with the same "
        "key and body returns the first answer instead of posting the message again.",
    ),
]
