"""The ASGI application: `uvicorn app.main:app`."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from openai import AsyncOpenAI

from app import __version__
from app.api.error_handlers import add_error_dialect, add_error_renderer, register_error_handlers
from app.api.middleware.api_keys import ApiKeyMiddleware
from app.api.middleware.body_limits import RequestLimitsMiddleware
from app.api.middleware.cors import SettingsCORSMiddleware
from app.api.middleware.rate_limit import RateLimitMiddleware
from app.api.middleware.request_context import RequestContextMiddleware
from app.api.openapi import install_openapi
from app.api.routes import chat, conversations, files, health, nextjs, threads, v1
from app.api.routes.v1.common import V1_PREFIX
from app.api.strict_json import strict_json_body
from app.api.wire.ndjson import ndjson_error_response
from app.api.wire.openai_errors import openai_error_response
from app.config import Settings
from app.lifespan import build_lifespan
from app.storage import Stores


def create_app(
    settings: Settings | None = None, *, openai_client: AsyncOpenAI | None = None, stores: Stores | None = None
) -> FastAPI:
    """Build the app. Settings, the OpenAI client and the stores are made in the lifespan unless passed in."""
    app = FastAPI(
        title="Chat backend",
        version=__version__,
        summary="A FastAPI backend for the Next.js OpenAI assistants chat app.",
        lifespan=build_lifespan(settings, openai_client, stores),
        dependencies=[Depends(strict_json_body)],
    )
    # Outermost last: request id and metrics, then CORS (preflights pass without a key), rate limit, key, limits.
    app.add_middleware(RequestLimitsMiddleware)
    app.add_middleware(ApiKeyMiddleware)
    app.add_middleware(RateLimitMiddleware)
    app.add_middleware(SettingsCORSMiddleware)
    app.add_middleware(RequestContextMiddleware)
    register_error_handlers(app)
    # The Next.js frontend reads every answer of its stream routes as a run stream, refusals included.
    add_error_renderer(app, "POST", nextjs.NEXTJS_STREAM_PATH, ndjson_error_response)
    # The OpenAI-compatible API answers errors in OpenAI's shape, those of the middleware included.
    add_error_dialect(app, V1_PREFIX, openai_error_response)
    routers = tuple(module.router for module in (health, chat, threads, conversations, nextjs, files))
    for router in routers:
        app.include_router(router)
    app.include_router(v1.router)
    install_openapi(app, routers)
    return app


app = create_app()
