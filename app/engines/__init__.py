"""Engines: where threads and runs live. `build_engine` picks one from the settings."""

from __future__ import annotations

from app.config import Settings
from app.engines.assistants.engine import AssistantsEngine
from app.engines.base import AssistantEngine
from app.engines.hosted.chat_completions_api import ChatCompletionsModel
from app.engines.hosted.engine import HostedEngine
from app.engines.hosted.model_client import ModelClient
from app.engines.hosted.responses_api import ResponsesModel
from app.engines.unconfigured import UnconfiguredEngine
from app.storage.assistants import AssistantStore
from app.storage.threads import ThreadStore
from app.upstream.client import Upstream


def missing_chat_setting(settings: Settings) -> str | None:
    """The first variable chat needs that is not set, or None when chat is configured."""
    if settings.openai_api_key is None:
        return "OPENAI_API_KEY"
    if settings.engine == "assistants" and not settings.openai_assistant_id:
        return "OPENAI_ASSISTANT_ID"
    return None


def build_engine(
    settings: Settings, upstream: Upstream | None, threads: ThreadStore, assistants: AssistantStore | None = None
) -> AssistantEngine:
    """The engine named by ENGINE, or a stand-in answering 503 when chat is not configured (`assistants`
    None: hosted runs use the built-in default assistant)."""
    missing = missing_chat_setting(settings)
    if missing is not None or upstream is None:
        return UnconfiguredEngine(settings.engine, missing or "OPENAI_API_KEY")
    if settings.engine == "hosted":  # the model calls: HOSTED_MODEL_API's adapter
        model: ModelClient = (
            ChatCompletionsModel(upstream)
            if settings.hosted_model_api == "chat_completions"
            else ResponsesModel(upstream, settings.file_search_store_ids)
        )
        return HostedEngine(settings, threads, model, assistants, upstream.files)
    assert settings.openai_assistant_id is not None
    return AssistantsEngine(upstream, settings, settings.openai_assistant_id)
