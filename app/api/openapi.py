"""The OpenAPI schema, completed with what the request limits middleware answers.

Body limits answer before any route runs, so their statuses (413, 415) are added here, as is the
running MAX_CONTENT_CHARS. The key schemes and the 401/429 answers come from the access
dependencies (`app/api/security.py`).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi

from app.api.middleware.body_limits import BODY_METHODS
from app.api.routes.nextjs import NEXTJS_STREAM_PATH
from app.api.wire.ndjson import NDJSON
from app.config import Settings

DESCRIPTIONS = {
    "413": "Body larger than the limit (`payload_too_large`)",
    "415": "Body is not `application/json` (`unsupported_media_type`)",
}
ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorAnswer"}}}


def _add_response(operation: dict[str, Any], status: str, ndjson: bool) -> None:
    responses = operation.setdefault("responses", {})
    if status not in responses:
        responses[status] = {"description": DESCRIPTIONS[status], "content": {NDJSON: {}} if ndjson else ERROR_CONTENT}


def complete_schema(schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Add the body limits' error answers to every operation they apply to."""
    content = (
        schema.get("components", {}).get("schemas", {}).get("ChatRequest", {}).get("properties", {}).get("content")
    )
    if content is not None:
        content["maxLength"] = settings.max_content_chars
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            ndjson = method == "post" and NEXTJS_STREAM_PATH.fullmatch(path) is not None
            if method.upper() in BODY_METHODS:
                _add_response(operation, "413", ndjson)
                if "requestBody" in operation and not ndjson:
                    _add_response(operation, "415", ndjson)
    return schema


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
    """Serve the completed schema (built on first use, then cached)."""

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            app.openapi_schema = complete_schema(_base_schema(app, routers, settings), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
