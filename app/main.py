"""The ASGI application: `uvicorn app.main:app`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import httpx2
from fastapi import FastAPI
from openai import AsyncOpenAI

from app import __version__
from app.api.middleware.api_keys import AccessControl, AccessControlMiddleware
from app.api.middleware.body_limits import RequestLimitsMiddleware
from app.api.middleware.cors import SettingsCORSMiddleware
from app.api.openapi import install_openapi
from app.api.route_table import RouteTable
from app.api.routes import chat, conversations, files, health, nextjs, threads
from app.config import Settings
from app.engines import AssistantEngine, build_engine, missing_chat_setting
from app.errors import register_error_handlers, register_storage_error_handler
from app.observability.metrics import InstrumentedAsyncClient, Metrics, RequestContextMiddleware
from app.process_limits import raise_open_files_limit
from app.services.chat import ChatService
from app.services.conversation_retry import UpsertRetryQueue
from app.services.idempotency import IdempotentRequests
from app.services.thread_owners import ThreadAccess
from app.storage.base import ConversationStore
from app.storage.memory.conversations import MemoryConversationStore
from app.upstream.files import UpstreamResources
from app.upstream.http import open_upstream_session, transport_on
from app.upstream.json_calls import AiohttpSender, UpstreamJson

if TYPE_CHECKING:
    from app.engines.hosted import HostedStore

logger = logging.getLogger(__name__)

OPENAI_MAX_CONNECTIONS = 1000
UPSTREAM_KEEPALIVE_S = 5.0  # idle upstream connections are closed after this


async def _open_openai(settings: Settings, stack: AsyncExitStack, metrics: Metrics) -> UpstreamJson | None:
    """The process's OpenAI client, and JSON calls for the hot path on the same connection pool."""
    if settings.openai_api_key is None:
        return None
    connect_timeout_s = min(10.0, settings.openai_timeout_s)
    session = open_upstream_session(max_connections=OPENAI_MAX_CONNECTIONS, keepalive_s=UPSTREAM_KEEPALIVE_S)
    # InstrumentedAsyncClient is an UpstreamHttpClient: aiohttp under the SDK (app/upstream_http.py).
    http_client = InstrumentedAsyncClient(
        transport=transport_on(session),
        timeout=httpx2.Timeout(settings.openai_timeout_s, connect=connect_timeout_s),
        metrics=metrics,
    )
    client = AsyncOpenAI(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url,
        timeout=settings.openai_timeout_s,
        max_retries=settings.openai_max_retries,
        http_client=http_client,
    )
    stack.push_async_callback(client.close)  # closes the transport, and with it the session
    sender = AiohttpSender(session, timeout_s=settings.openai_timeout_s, connect_timeout_s=connect_timeout_s)
    return UpstreamJson(client, sender, metrics=metrics)


async def _open_stores(settings: Settings, stack: AsyncExitStack) -> tuple[ConversationStore, HostedStore | None]:
    """Conversations (and, for ENGINE=hosted, threads/messages/runs) on one MongoDB client, or in memory."""
    # pymongo and the hosted engine's stores are imported only when they are used (idle memory).
    hosted = settings.engine == "hosted"
    if settings.mongodb_uri is None:
        logger.warning("MONGODB_URI is not set: using the embedded in-memory store; nothing survives a restart")
        if not hosted:
            return MemoryConversationStore(), None
        from app.storage.memory.threads import MemoryHostedStore

        return MemoryConversationStore(), MemoryHostedStore()
    from app.storage.mongo.client import open_database
    from app.storage.mongo.conversations import MongoConversationStore

    database = await stack.enter_async_context(open_database(settings))
    if not hosted:
        return MongoConversationStore(database), None
    from app.storage.mongo.threads import MongoHostedStore

    return MongoConversationStore(database), MongoHostedStore(database)


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
    users = sorted(set(settings.api_key_users.values()))
    if users:
        logger.info("access control: %d API key(s) for user(s) %s", len(settings.api_key_users), ", ".join(users))
    else:
        logger.warning(
            "API_KEYS is not set: every route is open without a key and acts for user %r", settings.default_user_id
        )
    logger.info(
        "rate limit: %s",
        f"{settings.rate_limit} per {'API key' if users else 'client address'}" if settings.rate_limit else "off",
    )


def _idempotency_lease_s(settings: Settings) -> float:
    """How long a request may hold its Idempotency-Key: its upstream attempts, with room to spare."""
    return settings.openai_timeout_s * (settings.openai_max_retries + 1) + 30.0


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
        raise_open_files_limit()
        async with AsyncExitStack() as stack:
            metrics = Metrics()
            if openai_client is not None:
                calls: UpstreamJson | None = UpstreamJson.over_client(openai_client, metrics=metrics)
            else:
                calls = await _open_openai(cfg, stack, metrics)
            client = calls.client if calls is not None else None
            conversation_store, thread_store = store, hosted_store if cfg.engine == "hosted" else None
            if conversation_store is None or (cfg.engine == "hosted" and thread_store is None):
                opened_conversations, opened_threads = await _open_stores(cfg, stack)
                conversation_store = conversation_store or opened_conversations
                thread_store = thread_store or opened_threads
            if register_storage_error_handler(app) and app.middleware_stack is not None:
                # pymongo was imported just now (MONGODB_URI): requests get a stack that knows its errors.
                app.middleware_stack = app.build_middleware_stack()
            await conversation_store.ensure_indexes()
            if thread_store is not None:
                await thread_store.ensure_indexes()
            engine = build_engine(cfg, calls, hosted_store=thread_store)
            stack.push_async_callback(engine.aclose)
            # Closed before the store (exit stack order): the queue flushes into an open store at shutdown.
            upsert_retries = UpsertRetryQueue(
                conversation_store,
                initial_delay_s=cfg.upsert_retry_initial_s,
                max_delay_s=cfg.upsert_retry_max_s,
                on_retry=metrics.record_upsert_retry,
            )
            metrics.upserts_pending.set_function(lambda: upsert_retries.pending)
            upsert_retries.start()
            stack.push_async_callback(upsert_retries.close, cfg.flush_timeout_s)
            thread_access = ThreadAccess(conversation_store, cfg.default_user_id)
            app.state.settings = cfg
            app.state.metrics = metrics
            app.state.access = AccessControl(cfg)
            app.state.store = conversation_store
            app.state.engine = engine
            app.state.thread_access = thread_access
            app.state.upsert_retries = upsert_retries
            app.state.idempotency = IdempotentRequests(
                conversation_store, ttl_s=cfg.idempotency_ttl_s, lease_s=_idempotency_lease_s(cfg)
            )
            app.state.chat_service = ChatService(
                engine, conversation_store, access=thread_access, upsert_retries=upsert_retries, metrics=metrics
            )
            app.state.resources = UpstreamResources(client, cfg)
            app.state.route_table = RouteTable(app.openapi())
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
    # Outermost last: request id and metrics, then CORS (preflights pass without a key), access control, limits.
    app.add_middleware(RequestLimitsMiddleware)
    app.add_middleware(AccessControlMiddleware)
    app.add_middleware(SettingsCORSMiddleware)
    app.add_middleware(RequestContextMiddleware)
    register_error_handlers(app)
    routers = tuple(module.router for module in (health, chat, threads, conversations, nextjs, files))
    for router in routers:
        app.include_router(router)
    install_openapi(app, routers)
    return app


app = create_app()
