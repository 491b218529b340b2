"""The ASGI application: `uvicorn app.main:app` (built on first access, from the environment)."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from openai import AsyncOpenAI

from app import __version__
from app.api.error_handlers import register_error_handlers
from app.api.middleware.request_context import RequestContextMiddleware
from app.api.middleware.request_deadline import RequestDeadlineMiddleware
from app.api.openapi import install_openapi
from app.api.routes import chat, conversations, files, health, nextjs, threads
from app.api.routes.v1 import create_v1_app
from app.api.routes.v1.common import V1_PREFIX
from app.api.schemas import error_responses
from app.api.security import access_dependencies, access_responses
from app.api.strict_json import strict_json_body
from app.config import Settings
from app.lifespan import build_lifespan
from app.storage import Stores


def create_app(
    settings: Settings | None = None, *, openai_client: AsyncOpenAI | None = None, stores: Stores | None = None
) -> FastAPI:
    """Build the app. Settings are read here unless passed in; the OpenAI client and stores in the lifespan."""
    cfg = settings if settings is not None else Settings()
    # /docs and /redoc with Swagger UI and ReDoc served from the package's assets, not a CDN.
    app = FastAPIOffline(
        title="Chat backend",
        version=__version__,
        summary="A FastAPI backend for the Next.js OpenAI assistants chat app.",
        lifespan=build_lifespan(cfg, openai_client, stores),
        static_url="/docs-assets",
    )
    # Outermost last: request id and metrics, then CORS (preflights pass without a key).
    app.add_middleware(
        CORSMiddleware,
        allow_origins=cfg.cors_origins,
        allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"],
        allow_headers=["*"],
        expose_headers=["X-Request-ID", "Retry-After", "Idempotent-Replayed"],
        max_age=600,
    )
    app.add_middleware(RequestDeadlineMiddleware, timeout_s=cfg.http_read_timeout_s)
    app.add_middleware(RequestContextMiddleware)
    register_error_handlers(app)
    # Health's probes and the docs stay open; every other route checks the key, the rate limit and the body.
    checks = [*access_dependencies(cfg), Depends(strict_json_body)]
    app.include_router(health.router)
    app.include_router(
        health.metrics_router,
        dependencies=access_dependencies(cfg, rate_limited=False),
        responses=access_responses(cfg, rate_limited=False),
    )
    routers = (chat.router, threads.router, conversations.router, nextjs.router, files.router, nextjs.stream_router)
    # Body limits (app/api/routing.py) answer 413 and 415 on every route that takes a body.
    responses = {**error_responses(413, 415), **access_responses(cfg)}
    for router in routers:
        app.include_router(router, dependencies=checks, responses=responses)
    # The OpenAI-compatible API: its own application, for its own error handlers (OpenAI's error shape).
    app.mount(V1_PREFIX, create_v1_app(app.state, access_dependencies(cfg), [Depends(strict_json_body)]))
    install_openapi(app, cfg)
    return app


@functools.cache
def __getattr__(name: str) -> Any:
    """`app.main:app`, made on first access, so importing this module reads no settings."""
    if name == "app":
        return create_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
