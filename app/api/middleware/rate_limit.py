"""Rate limits (RATE_LIMIT, e.g. `60/minute`): per API key, else per client address.

Counted before the key is checked, so guessing keys is limited per address too. Health,
probes, the docs and /metrics are never limited. With RATE_LIMIT_STORAGE_URI on Redis, several
processes share the counts.
"""

from __future__ import annotations

import logging
import math
import time

import limits
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.error_handlers import error_response
from app.api.middleware.api_keys import PUBLIC_PATHS, ApiKeys
from app.config import Settings
from app.errors import RateLimited

logger = logging.getLogger("app.access")

# Never rate limited (probes and scrapers call often); /metrics still needs a key when keys are set.
UNLIMITED_PATHS = PUBLIC_PATHS | {"/metrics"}


class RateLimiter:
    """The configured limits, counted per identity in the configured storage."""

    def __init__(self, settings: Settings) -> None:
        self._limits = limits.parse_many(settings.rate_limit) if settings.rate_limit else []
        self._limiter = (
            MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage_uri)) if self._limits else None
        )

    @property
    def enabled(self) -> bool:
        return self._limiter is not None

    async def retry_after(self, identity: str) -> int | None:
        """Count one request for `identity`; seconds to wait if it is over a limit, else None."""
        if self._limiter is None:
            return None
        for item in self._limits:
            if not await self._limiter.hit(item, identity):
                stats = await self._limiter.get_window_stats(item, identity)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None


class RateLimitMiddleware:
    """429 with Retry-After over the limit."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter: RateLimiter | None = scope["app"].state.rate_limiter if scope["type"] == "http" else None
        if limiter is None or not limiter.enabled or scope["path"] in UNLIMITED_PATHS:
            await self._app(scope, receive, send)
            return
        keys: ApiKeys = scope["app"].state.api_keys
        _, identity, _ = keys.identify(scope)
        wait_s = await limiter.retry_after(identity)
        if wait_s is not None:
            logger.info("rate limited %s %s (%s)", scope["method"], scope["path"], identity)
            await error_response(scope, RateLimited(wait_s))(scope, receive, send)
            return
        await self._app(scope, receive, send)
