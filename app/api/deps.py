"""Request dependencies: the objects the lifespan built, handed to the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.config import Settings
from app.engines.base import AssistantEngine
from app.observability.metrics import Metrics
from app.services.chat import ChatService
from app.services.conversation_retry import UpsertRetryQueue
from app.services.idempotency import IdempotentRequests
from app.services.thread_owners import ThreadAccess
from app.storage.base import ConversationStore
from app.upstream.files import UpstreamResources


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine(request: Request) -> AssistantEngine:
    return request.app.state.engine


async def get_store(request: Request) -> ConversationStore:
    return request.app.state.store


async def get_chat_service(request: Request) -> ChatService:
    return request.app.state.chat_service


async def get_resources(request: Request) -> UpstreamResources:
    return request.app.state.resources


async def get_user_id(request: Request) -> str:
    """The user the request acts for: set from its API key by the access control middleware."""
    user_id: str | None = getattr(request.state, "user_id", None)
    if user_id is None:
        settings: Settings = request.app.state.settings
        return settings.default_user_id
    return user_id


async def get_thread_access(request: Request) -> ThreadAccess:
    return request.app.state.thread_access


async def get_idempotency(request: Request) -> IdempotentRequests:
    return request.app.state.idempotency


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


async def get_upsert_retries(request: Request) -> UpsertRetryQueue:
    return request.app.state.upsert_retries


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[AssistantEngine, Depends(get_engine)]
StoreDep = Annotated[ConversationStore, Depends(get_store)]
ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]
UserIdDep = Annotated[str, Depends(get_user_id)]
ResourcesDep = Annotated[UpstreamResources, Depends(get_resources)]
ThreadAccessDep = Annotated[ThreadAccess, Depends(get_thread_access)]
IdempotencyDep = Annotated[IdempotentRequests, Depends(get_idempotency)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
UpsertRetriesDep = Annotated[UpsertRetryQueue, Depends(get_upsert_retries)]
