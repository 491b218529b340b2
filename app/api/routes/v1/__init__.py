"""The OpenAI-compatible Assistants API under /v1 (ENGINE=hosted): point an OpenAI SDK's `base_url` here.

A FastAPI sub-application mounted at /v1, so that it has exception handlers of its own: every error is answered in
OpenAI's shape (`app/api/wire/openai_errors.py`). One module per resource; files and vector stores are relayed to the
upstream (`passthrough.py`). Left out of /docs: OpenAI's reference documents these routes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.datastructures import State

from app.api.error_handlers import register_error_handlers
from app.api.routes.v1 import assistants, files, messages, runs, steps, threads, vector_stores
from app.api.routes.v1.common import require_hosted
from app.api.routing import V1Route
from app.api.wire.openai_errors import openai_error_response
from app.errors import NotFound

# Matched after every route: any other path, and a known path with a method it does not take.
_elsewhere = APIRouter(route_class=V1Route)


@_elsewhere.api_route(
    "/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"], include_in_schema=False
)
async def invalid_url(request: Request) -> None:
    """OpenAI's answer to a path (or method) it does not serve: 404 `Invalid URL (POST /v1/...)`."""
    raise NotFound(f"Invalid URL ({request.method} {request.url.path})")


def create_v1_app(state: State, access: list[Any], checks: list[Any]) -> FastAPI:
    """The /v1 application: the parent's state (the lifespan's objects), its access checks, OpenAI's errors."""
    api = FastAPI(
        title="OpenAI-compatible Assistants API",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        dependencies=[*access, Depends(require_hosted), *checks],
    )
    api.state = state
    register_error_handlers(api, openai_error_response)
    # runs first: `/threads/runs` must not be read as the thread `runs`.
    for module in (assistants, runs, messages, steps, threads, files, vector_stores):
        api.include_router(module.router)
    api.include_router(_elsewhere)
    return api
