"""Request dependencies: the objects the lifespan built, handed to the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.chat_service import ChatService
from app.config import Settings
from app.engines.base import AssistantEngine
from app.store.base import ConversationStore
from app.upstream_resources import UpstreamResources


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
    """The user the request acts for (one default user until API keys map to users)."""
    settings: Settings = request.app.state.settings
    return settings.default_user_id


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[AssistantEngine, Depends(get_engine)]
StoreDep = Annotated[ConversationStore, Depends(get_store)]
ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]
UserIdDep = Annotated[str, Depends(get_user_id)]
ResourcesDep = Annotated[UpstreamResources, Depends(get_resources)]
