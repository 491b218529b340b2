"""Access control: API keys mapped to users (constant-time lookup), and per-key rate limits.

One ASGI middleware does both before any route runs, so a request without a valid key costs
no body parsing and no upstream call. Health, liveness, readiness and the API docs stay open.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from typing import TYPE_CHECKING

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.wire.streams import error_response
from app.config import Settings
from app.errors import AppError, RateLimited, Unauthorized, answer_for

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.aio.strategies import MovingWindowRateLimiter

logger = logging.getLogger(__name__)

# Open without a key: health, liveness, readiness and the API docs.
PUBLIC_PATHS = frozenset({"/", "/livez", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
# Never rate limited (probes and scrapers call often); /metrics still needs a key when keys are set.
UNLIMITED_PATHS = PUBLIC_PATHS | {"/metrics"}


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def presented_key(headers: Headers) -> str | None:
    """The key from `Authorization: Bearer <key>`, else from `X-API-Key`."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key", "").strip() or None


class AccessControl:
    """The configured API keys and rate limits; built in the lifespan from the settings."""

    def __init__(self, settings: Settings) -> None:
        # Only digests are kept: equal length for every comparison, and no key text in memory dumps of this object.
        self._keys = [(_digest(key), user) for key, user in settings.api_key_users.items()]
        self.enabled = bool(self._keys)
        self.default_user_id = settings.default_user_id
        self._limits: list[RateLimitItem] = []
        self._limiter: MovingWindowRateLimiter | None = None
        if settings.rate_limit:
            # `limits` is imported only when a rate limit is configured (idle memory).
            import limits
            from limits.aio.strategies import MovingWindowRateLimiter
            from limits.storage import storage_from_string

            self._limits = limits.parse_many(settings.rate_limit)
            self._limiter = MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage_uri))

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

    async def retry_after(self, identity: str) -> int | None:
        """Count one request for `identity`; seconds to wait if it is over a limit, else None."""
        if self._limiter is None:
            return None
        for item in self._limits:
            if not await self._limiter.hit(item, identity):
                stats = await self._limiter.get_window_stats(item, identity)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None


class AccessControlMiddleware:
    """401 without a valid key (when keys are configured), 429 over the rate limit; sets the request's user."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self._app(scope, receive, send)
            return
        access: AccessControl = scope["app"].state.access
        match = access.user_for(presented_key(Headers(scope=scope))) if access.enabled else None
        if match is not None:
            identity, user_id = f"key:{match[1]}", match[0]
        else:
            client = scope.get("client")
            identity, user_id = f"ip:{client[0] if client else 'unknown'}", access.default_user_id
        refusal: AppError | None = None
        if scope["path"] not in UNLIMITED_PATHS:
            wait_s = await access.retry_after(identity)
            if wait_s is not None:
                logger.info("rate limited %s %s (%s)", scope["method"], scope["path"], identity)
                refusal = RateLimited(wait_s)
        if refusal is None and access.enabled and match is None:
            logger.info("unauthorized %s %s: missing or unknown API key", scope["method"], scope["path"])
            refusal = Unauthorized()
        if refusal is not None:
            await error_response(scope, answer_for(refusal))(scope, receive, send)
            return
        scope.setdefault("state", {})["user_id"] = user_id
        await self._app(scope, receive, send)
