"""The ASGI application: `uvicorn app.main:app`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx2
from fastapi import FastAPI
from openai import AsyncOpenAI

from app import __version__
from app.chat_service import ChatService
from app.config import Settings
from app.cors import SettingsCORSMiddleware
from app.engines import AssistantEngine, build_engine, missing_chat_setting
from app.engines.hosted import HostedStore, MemoryHostedStore, MongoHostedStore
from app.errors import register_error_handlers
from app.routes import chat, conversations, files, health, nextjs, threads
from app.store import ConversationStore, MemoryConversationStore, MongoConversationStore
from app.store.mongo_client import open_database
from app.upstream_resources import UpstreamResources

logger = logging.getLogger(__name__)

OPENAI_MAX_CONNECTIONS = 1000


async def _open_openai(settings: Settings, stack: AsyncExitStack) -> AsyncOpenAI | None:
    if settings.openai_api_key is None:
        return None
    http_client = httpx2.AsyncClient(
        limits=httpx2.Limits(max_connections=OPENAI_MAX_CONNECTIONS, max_keepalive_connections=200),
        timeout=httpx2.Timeout(settings.openai_timeout_s, connect=10.0),
    )
    client = AsyncOpenAI(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url,
        timeout=settings.openai_timeout_s,
        max_retries=settings.openai_max_retries,
        http_client=http_client,
    )
    stack.push_async_callback(client.close)
    return client


async def _open_stores(settings: Settings, stack: AsyncExitStack) -> tuple[ConversationStore, HostedStore | None]:
    """Conversations (and, for ENGINE=hosted, threads/messages/runs) on one MongoDB client, or in memory."""
    hosted = settings.engine == "hosted"
    if settings.mongodb_uri is None:
        logger.warning("MONGODB_URI is not set: using the embedded in-memory store; nothing survives a restart")
        return MemoryConversationStore(), (MemoryHostedStore() if hosted else None)
    database = await stack.enter_async_context(open_database(settings))
    return MongoConversationStore(database), (MongoHostedStore(database) if hosted else None)


def _log_startup(settings: Settings, engine: AssistantEngine, store: ConversationStore) -> None:
    missing = missing_chat_setting(settings)
    logger.info(
        "chat-backend %s: engine=%s storage=%s database=%s chat=%s",
        __version__,
        engine.name,
        store.kind,
        settings.database_name if store.kind == "mongodb" else "-",
        "configured" if missing is None else f"NOT configured ({missing} is not set; chat answers 503)",
    )


async def _check_engine_setup(engine: AssistantEngine) -> None:
    """Start-up look at the upstream configuration; it only logs, it never stops the service."""
    try:
        await engine.check_setup()
    except Exception as exc:
        logger.warning("start-up check of the %s engine failed: %s", engine.name, type(exc).__name__)


def create_app(
    settings: Settings | None = None,
    *,
    openai_client: AsyncOpenAI | None = None,
    store: ConversationStore | None = None,
    hosted_store: HostedStore | None = None,
) -> FastAPI:
    """Build the app. Settings and clients are made in the lifespan unless passed in (tests do)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cfg = settings or Settings()
        async with AsyncExitStack() as stack:
            client = openai_client or await _open_openai(cfg, stack)
            conversation_store, thread_store = store, hosted_store if cfg.engine == "hosted" else None
            if conversation_store is None or (cfg.engine == "hosted" and thread_store is None):
                opened_conversations, opened_threads = await _open_stores(cfg, stack)
                conversation_store = conversation_store or opened_conversations
                thread_store = thread_store or opened_threads
            await conversation_store.ensure_indexes()
            if thread_store is not None:
                await thread_store.ensure_indexes()
            engine = build_engine(cfg, client, hosted_store=thread_store)
            stack.push_async_callback(engine.aclose)
            app.state.settings = cfg
            app.state.store = conversation_store
            app.state.engine = engine
            app.state.chat_service = ChatService(engine, conversation_store)
            app.state.resources = UpstreamResources(client, cfg)
            _log_startup(cfg, engine, conversation_store)
            setup_check = asyncio.create_task(_check_engine_setup(engine), name="engine-setup-check")
            try:
                yield
            finally:
                setup_check.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await setup_check

    app = FastAPI(
        title="Chat backend",
        version=__version__,
        summary="A FastAPI backend for the Next.js OpenAI assistants chat app.",
        lifespan=lifespan,
    )
    app.add_middleware(SettingsCORSMiddleware)
    register_error_handlers(app)
    for module in (health, chat, threads, conversations, nextjs, files):
        app.include_router(module.router)
    return app


app = create_app()
