"""The OpenAPI schema, with the running MAX_CONTENT_CHARS as `ChatRequest.content`'s maxLength.

Everything else in it comes from the routes and their dependencies: the key schemes and 401/429
answers from `app/api/security.py`, the 413/415 answers from where `create_app` includes the routers.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.config import Settings

# FastAPI's schema (slow to build), made once per process for each access setup: `create_app`'s routes are the same.
_BASE_SCHEMAS: dict[tuple[bool, bool], dict[str, Any]] = {}


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Serve the schema (built on first use, then cached)."""

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            access = (bool(settings.api_key_users), bool(settings.rate_limit))
            if access not in _BASE_SCHEMAS:
                _BASE_SCHEMAS[access] = get_openapi(
                    title=app.title, version=app.version, summary=app.summary, routes=app.routes
                )
            schema = copy.deepcopy(_BASE_SCHEMAS[access])
            schema["components"]["schemas"]["ChatRequest"]["properties"]["content"]["maxLength"] = (
                settings.max_content_chars
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
