"""API keys: `Authorization: Bearer <key>` (or `X-API-Key`) mapped to the user the request acts for.

Keys are compared in constant time, as digests. Without API_KEYS every route is open and acts
for DEFAULT_USER_ID. Health, liveness, readiness and the API docs stay open either way.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.error_handlers import error_response
from app.config import Settings
from app.errors import Unauthorized

logger = logging.getLogger("app.access")

# Open without a key: health, liveness, readiness and the API docs.
PUBLIC_PATHS = frozenset({"/", "/livez", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def presented_key(headers: Headers) -> str | None:
    """The key from `Authorization: Bearer <key>`, else from `X-API-Key`."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key", "").strip() or None


class ApiKeys:
    """The configured API keys; built in the lifespan from the settings."""

    def __init__(self, settings: Settings) -> None:
        # Only digests are kept: equal length for every comparison, and no key text in memory dumps of this object.
        self._keys = [(_digest(key), user) for key, user in settings.api_key_users.items()]
        self.enabled = bool(self._keys)
        self.default_user_id = settings.default_user_id

    def user_for(self, key: str | None) -> tuple[str, int] | None:
        """(user id, key number) for a configured key; compares against every key in constant time."""
        if key is None:
            return None
        digest = _digest(key)
        found: tuple[str, int] | None = None
        for number, (key_digest, user) in enumerate(self._keys, start=1):
            if hmac.compare_digest(digest, key_digest) and found is None:
                found = (user, number)
        return found

    def identify(self, scope: Scope) -> tuple[str, str, bool]:
        """(user id, rate-limit identity, whether the request may go on) for a request."""
        match = self.user_for(presented_key(Headers(scope=scope))) if self.enabled else None
        if match is not None:
            return match[0], f"key:{match[1]}", True
        client = scope.get("client")
        return self.default_user_id, f"ip:{client[0] if client else 'unknown'}", not self.enabled


class ApiKeyMiddleware:
    """401 without a valid key (when keys are configured); sets the user the request acts for."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self._app(scope, receive, send)
            return
        keys: ApiKeys = scope["app"].state.api_keys
        user_id, _, allowed = keys.identify(scope)
        if not allowed:
            logger.info("unauthorized %s %s: missing or unknown API key", scope["method"], scope["path"])
            await error_response(scope, Unauthorized())(scope, receive, send)
            return
        scope.setdefault("state", {})["user_id"] = user_id
        await self._app(scope, receive, send)
