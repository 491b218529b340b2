"""The app's lifespan: settings, upstream client, stores, engine and services, built once, closed once.

Everything a request needs goes on `app.state` (read by `app/api/deps.py`); tests hand in their own parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from openai import AsyncOpenAI

from app import __version__
from app.api.error_handlers import answer_for
from app.api.security import ApiKeys, RateLimiter
from app.api.wire.openai_errors import describe_openai_error
from app.config import Settings
from app.engines import build_engine, missing_chat_setting
from app.engines.base import AssistantEngine
from app.observability.metrics import Metrics
from app.server.shutdown import Shutdown
from app.services.assistants import AssistantService
from app.services.chat import ChatService
from app.services.conversation_retry import UpsertRetryQueue
from app.services.files import FileService
from app.services.idempotency import IdempotentRequests
from app.services.thread_owners import ThreadAccess
from app.services.upstream_objects import UpstreamObjects
from app.storage import Stores, open_stores
from app.upstream.client import Upstream, open_upstream

logger = logging.getLogger("app.main")

# Every client connection and every upstream (OpenAI, MongoDB) connection is an open file:
# 1,000 concurrent /chat need over 2,000, and the usual soft limit is 1,024.
WANTED_OPEN_FILES = 8192


def raise_open_files_limit(wanted: int = WANTED_OPEN_FILES) -> None:
    """Raise the soft open-files limit toward `wanted` (never above the hard limit, never lowered)."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to raise
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            logger.warning("could not raise the open-files limit from %s: %s", soft, exc)
            return
        logger.info("open-files limit raised from %s to %s", soft, target)
    if target < wanted:
        logger.warning(
            "open-files limit is %s (the hard limit): fewer than %s connections fit; raise it with ulimit -Hn",
            target,
            wanted,
        )


def _describe_error(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """How an error is answered over HTTP, for answers the idempotency keys keep (logged when answered)."""
    answer = answer_for(exc, log=False)
    return answer.status, answer.body()


def _log_startup(settings: Settings, engine: AssistantEngine, stores: Stores) -> None:
    missing = missing_chat_setting(settings)
    logger.info(
        "chat-backend %s: engine=%s storage=%s database=%s chat=%s",
        __version__,
        engine.name,
        stores.kind,
        settings.database_name if stores.kind == "mongodb" else "-",
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


async def _check_engine_setup(engine: AssistantEngine) -> None:
    """Start-up look at the upstream configuration; it only logs, it never stops the service."""
    try:
        await engine.check_setup()
    except Exception as exc:
        logger.warning("start-up check of the %s engine failed: %s", engine.name, type(exc).__name__)


def _services(app: FastAPI, cfg: Settings, stores: Stores, engine: AssistantEngine, metrics: Metrics) -> None:
    # The per-user thread limit applies to the embedded store only (MongoDB deployments size their own).
    limit = cfg.max_threads_per_user if stores.kind == "sqlite" else None
    access = app.state.thread_access = ThreadAccess(
        stores.thread_owners, cfg.default_user_id, max_threads_per_user=limit
    )
    # How long a request may hold its Idempotency-Key: its upstream attempts, with room to spare.
    lease_s = cfg.idempotency_lease_s or cfg.openai_timeout_s * (cfg.openai_max_retries + 1) + 30.0
    app.state.idempotency = IdempotentRequests(stores.idempotency_keys, _describe_error, lease_s=lease_s)
    # The same keys; answers kept in OpenAI's shape.
    app.state.v1_idempotency = IdempotentRequests(stores.idempotency_keys, describe_openai_error, lease_s=lease_s)
    app.state.chat_service = ChatService(
        engine,
        stores.conversations,
        access=access,
        upsert_retries=app.state.upsert_retries,
        metrics=metrics,
        max_content_chars=cfg.max_content_chars,
    )


def build_lifespan(
    settings: Settings | None, openai_client: AsyncOpenAI | None, stores: Stores | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The lifespan of an app made by `create_app` with these (optional) parts handed in."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cfg = settings or Settings()
        raise_open_files_limit()
        async with AsyncExitStack() as stack:
            metrics = Metrics()
            if openai_client is not None:
                upstream: Upstream | None = Upstream.over_client(openai_client, metrics=metrics)
            else:
                upstream = await open_upstream(cfg, stack, metrics)
            opened = stores or await open_stores(cfg, stack)
            await opened.ensure_indexes(threads=cfg.engine == "hosted")
            assistants = AssistantService(opened.assistants, cfg)
            if cfg.engine == "hosted":
                await assistants.prepare()  # ASSISTANTS_FILE, the run's assistant; raises to stop start-up
            elif cfg.assistants_file:
                logger.warning("ASSISTANTS_FILE is ignored with ENGINE=assistants (its assistants live upstream)")
            owners = (opened.upstream_objects, opened.thread_owners)
            engine = build_engine(cfg, upstream, opened.threads, opened.assistants, owners)
            stack.push_async_callback(engine.aclose)
            # Closed before the stores (exit stack order): the queue flushes into open stores at shutdown.
            upsert_retries = UpsertRetryQueue(opened.conversations, on_retry=metrics.record_upsert_retry)
            metrics.upserts_pending.set_function(lambda: upsert_retries.pending)
            upsert_retries.start()
            stack.push_async_callback(upsert_retries.close)
            app.state.settings = cfg
            app.state.shutdown = Shutdown(cfg.shutdown_timeout_s)
            app.state.metrics = metrics
            app.state.api_keys = ApiKeys(cfg)
            app.state.rate_limiter = RateLimiter(cfg)
            app.state.stores = opened
            app.state.engine = engine
            app.state.upstream = upstream
            app.state.upsert_retries = upsert_retries
            app.state.assistants = assistants
            app.state.upstream_objects = UpstreamObjects(opened.upstream_objects, cfg, assistants)
            app.state.files = FileService(upstream.files if upstream is not None else None, cfg, assistants)
            _services(app, cfg, opened, engine, metrics)
            _log_startup(cfg, engine, opened)
            setup_check = asyncio.create_task(_check_engine_setup(engine), name="engine-setup-check")
            try:
                yield
            finally:
                setup_check.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await setup_check

    return lifespan
