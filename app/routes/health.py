"""GET /: is the service up, and how is it set up."""

from __future__ import annotations

from fastapi import APIRouter

from app import __version__
from app.deps import EngineDep, SettingsDep, StoreDep
from app.engines import missing_chat_setting
from app.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/", response_model=Health, summary="Health")
async def read_health(settings: SettingsDep, engine: EngineDep, store: StoreDep) -> Health:
    """Service status: version, engine, storage kind and whether chat is configured."""
    return Health(
        service="chat-backend",
        version=__version__,
        engine=engine.name,
        storage=store.kind,
        chat_configured=missing_chat_setting(settings) is None,
    )
