"""The OpenAPI schema, with the running MAX_CONTENT_CHARS as `ChatRequest.content`'s maxLength.

Everything else in it comes from the routes and their dependencies: the key schemes and 401/429
answers from `app/api/security.py`, the 413/415 answers from where `create_app` includes the routers.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi

from app.config import Settings

_BASE_SCHEMAS: dict[tuple[Any, ...], dict[str, Any]] = {}


def _base_schema(app: FastAPI, routers: tuple[APIRouter, ...], settings: Settings) -> dict[str, Any]:
    """The schema FastAPI generates, made once per process for a given set of routers (it is slow to build)."""
    access = (bool(settings.api_key_users), bool(settings.rate_limit))
    key = (app.title, app.version, app.summary, app.description, access, *(id(router) for router in routers))
    if key not in _BASE_SCHEMAS:
        _BASE_SCHEMAS[key] = get_openapi(
            title=app.title, version=app.version, summary=app.summary, description=app.description, routes=app.routes
        )
    return copy.deepcopy(_BASE_SCHEMAS[key])


def install_openapi(app: FastAPI, routers: tuple[APIRouter, ...], settings: Settings) -> None:
    """Serve the schema (built on first use, then cached)."""

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            schema = _base_schema(app, routers, settings)
            content = schema["components"]["schemas"]["ChatRequest"]["properties"]["content"]
            content["maxLength"] = settings.max_content_chars
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
