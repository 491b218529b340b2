"""The OpenAPI schema, completed with what the middleware adds to every route.

Access control, rate limits and body limits answer before any route runs, so their statuses
(401, 429, 413, 415) and the security schemes (Swagger's "Authorize") are added here, from the
running configuration: with API keys off the docs show no lock, with no rate limit no 429.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi

from app.api.middleware.api_keys import PUBLIC_PATHS
from app.api.middleware.body_limits import BODY_METHODS
from app.api.middleware.rate_limit import UNLIMITED_PATHS
from app.api.routes.nextjs import NEXTJS_STREAM_PATH
from app.api.wire.ndjson import NDJSON
from app.config import Settings

SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <API key>`"},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "`X-API-Key: <API key>`"},
}
DESCRIPTIONS = {
    "401": "Missing or invalid API key (`unauthorized`)",
    "413": "Body larger than the limit (`payload_too_large`)",
    "415": "Body is not `application/json` (`unsupported_media_type`)",
    "429": "Too many requests (`rate_limited`); `Retry-After` says when to retry",
}
ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorAnswer"}}}


def _add_response(operation: dict[str, Any], status: str, ndjson: bool) -> None:
    responses = operation.setdefault("responses", {})
    if status not in responses:
        responses[status] = {"description": DESCRIPTIONS[status], "content": {NDJSON: {}} if ndjson else ERROR_CONTENT}


def complete_schema(schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Add security schemes and the middleware's error answers to every operation they apply to."""
    content = (
        schema.get("components", {}).get("schemas", {}).get("ChatRequest", {}).get("properties", {}).get("content")
    )
    if content is not None:
        content["maxLength"] = settings.max_content_chars
    access_on = bool(settings.api_key_users)
    if access_on:
        schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    for path, operations in schema.get("paths", {}).items():
        if path in PUBLIC_PATHS:
            continue
        for method, operation in operations.items():
            ndjson = method == "post" and NEXTJS_STREAM_PATH.fullmatch(path) is not None
            if access_on:
                operation["security"] = [{"bearerAuth": []}, {"apiKeyHeader": []}]
                _add_response(operation, "401", ndjson)
            if settings.rate_limit and path not in UNLIMITED_PATHS:
                _add_response(operation, "429", ndjson)
            if method.upper() in BODY_METHODS:
                _add_response(operation, "413", ndjson)
                if "requestBody" in operation and not ndjson:
                    _add_response(operation, "415", ndjson)
    return schema


_BASE_SCHEMAS: dict[tuple[Any, ...], dict[str, Any]] = {}


def _base_schema(app: FastAPI, routers: tuple[APIRouter, ...]) -> dict[str, Any]:
    """The schema FastAPI generates, made once per process for a given set of routers (it is slow to build)."""
    key = (app.title, app.version, app.summary, app.description, *(id(router) for router in routers))
    if key not in _BASE_SCHEMAS:
        _BASE_SCHEMAS[key] = get_openapi(
            title=app.title, version=app.version, summary=app.summary, description=app.description, routes=app.routes
        )
    return copy.deepcopy(_BASE_SCHEMAS[key])


def install_openapi(app: FastAPI, routers: tuple[APIRouter, ...]) -> None:
    """Serve the completed schema (built once the lifespan has the settings, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = _base_schema(app, routers)
        settings: Settings | None = getattr(app.state, "settings", None)
        if settings is None:
            return schema
        app.openapi_schema = complete_schema(schema, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
