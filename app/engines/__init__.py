"""Engines: where threads and runs live. `build_engine` picks one from the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.config import Settings
from app.engines.assistants.engine import AssistantsEngine
from app.engines.base import AssistantEngine, RunRef
from app.engines.unconfigured import UnconfiguredEngine
from app.upstream.json_calls import UpstreamJson

if TYPE_CHECKING:
    from app.engines.hosted import HostedStore

__all__ = ["AssistantEngine", "RunRef", "build_engine", "missing_chat_setting"]


def missing_chat_setting(settings: Settings) -> str | None:
    """The first variable chat needs that is not set, or None when chat is configured."""
    if settings.openai_api_key is None:
        return "OPENAI_API_KEY"
    if settings.engine == "assistants" and not settings.openai_assistant_id:
        return "OPENAI_ASSISTANT_ID"
    return None


def build_engine(
    settings: Settings, upstream: UpstreamJson | None, *, hosted_store: HostedStore | None = None
) -> AssistantEngine:
    """The engine named by ENGINE, or a stand-in answering 503 when chat is not configured.

    `upstream`: the OpenAI client (`upstream.client`) with the hot path's JSON calls beside it.

    The `hosted` engine keeps its threads in `hosted_store` (in memory when none is given).
    """
    missing = missing_chat_setting(settings)
    if missing is not None or upstream is None:
        return UnconfiguredEngine(settings.engine, missing or "OPENAI_API_KEY")
    if settings.engine == "hosted":
        # Imported only here: with ENGINE=assistants the hosted package stays out of memory.
        from app.engines.hosted import HostedEngine, MemoryHostedStore, build_model_client

        store = hosted_store if hosted_store is not None else MemoryHostedStore()
        return HostedEngine(settings, store, build_model_client(settings, upstream.client))
    assert settings.openai_assistant_id is not None
    return AssistantsEngine(upstream, settings, settings.openai_assistant_id)
