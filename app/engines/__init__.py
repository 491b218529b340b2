"""Engines: where threads and runs live. `build_engine` picks one from the settings, or a stand-in that answers 503."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from app.config import Settings
from app.engines.assistants.engine import AssistantsEngine
from app.engines.base import AssistantEngine
from app.engines.hosted.chat_completions_api import ChatCompletionsModel
from app.engines.hosted.engine import HostedEngine
from app.engines.hosted.model_client import ModelClient
from app.engines.hosted.overflow import ContextFitting
from app.engines.hosted.responses_api import ResponsesModel
from app.errors import ChatNotConfigured
from app.storage.assistants import AssistantStore
from app.storage.thread_owners import ThreadOwnerStore
from app.storage.threads import ThreadStore
from app.storage.upstream_objects import UpstreamObjectStore
from app.upstream.client import Upstream


def missing_chat_setting(settings: Settings) -> str | None:
    """The first variable chat needs that is not set, or None when chat is configured."""
    if settings.openai_api_key is None:
        return "OPENAI_API_KEY"
    if settings.engine == "assistants" and not settings.openai_assistant_id:
        return "OPENAI_ASSISTANT_ID"
    return None


def build_engine(
    settings: Settings,
    upstream: Upstream | None,
    threads: ThreadStore,
    assistants: AssistantStore | None = None,
    file_owners: tuple[UpstreamObjectStore, ThreadOwnerStore] | None = None,
) -> AssistantEngine:
    """The engine named by ENGINE, or a stand-in answering 503 when chat is not configured (`assistants`
    None: hosted runs use the built-in default assistant; `file_owners`: where the vector stores a thread's files
    make are recorded as its owner's)."""
    missing = missing_chat_setting(settings)
    if missing is not None or upstream is None:
        return UnconfiguredEngine(settings.engine, missing or "OPENAI_API_KEY")
    if settings.engine == "hosted":  # the model calls: HOSTED_MODEL_API's adapter
        model: ModelClient = (
            ChatCompletionsModel(upstream)
            if settings.hosted_model_api == "chat_completions"
            else ResponsesModel(upstream, settings.file_search_store_ids)
        )
        # Calls cut to the server's context and retried once after an overflow; answers checked as they end.
        model = ContextFitting(model, settings.max_prompt_tokens)
        return HostedEngine(settings, threads, model, assistants, upstream.files, file_owners)
    assert settings.openai_assistant_id is not None
    return AssistantsEngine(upstream, settings, settings.openai_assistant_id)


class UnconfiguredEngine:
    """Stands in for a real engine so the server starts: every AssistantEngine call but `check_setup` and
    `aclose` raises ChatNotConfigured naming the missing variable."""

    def __init__(self, name: str, missing_variable: str) -> None:
        self.name = name
        self.missing_variable = missing_variable

    def hosted(self) -> NoReturn:
        raise ChatNotConfigured(self.missing_variable)

    def __getattr__(self, method: str) -> Callable[..., Coroutine[Any, Any, NoReturn]]:
        async def refuse(*args: object, **kwargs: object) -> NoReturn:
            raise ChatNotConfigured(self.missing_variable)

        return refuse

    async def check_setup(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
