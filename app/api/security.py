"""Access: API keys (`fastapi.security`), rate limits and the user a request acts for, as router dependencies.

`Authorization: Bearer <key>` (or `X-API-Key`) maps to a user through API_KEYS; keys are compared in constant time, as
digests. Without API_KEYS every route is open and acts for DEFAULT_USER_ID. Rate limits (RATE_LIMIT, e.g. `60/minute`)
count per API key, else per client address, and are counted before the key is checked, so guessing keys is limited per
address too (with RATE_LIMIT_STORAGE_URI on Redis, several processes share the counts). `create_app` adds these
dependencies to every router but health's probes and the docs, so the OpenAPI schema shows the key schemes and the
401/429 answers exactly when they apply.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time
from typing import Annotated, Any

import limits
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from app.api.schemas import error_responses
from app.config import Settings
from app.errors import RateLimited, Unauthorized

logger = logging.getLogger("app.access")

bearer_scheme = HTTPBearer(auto_error=False, scheme_name="bearerAuth", description="`Authorization: Bearer <API key>`")
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, scheme_name="apiKeyHeader", description="`X-API-Key: <API key>`"
)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


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


class RateLimiter:
    """The configured limits, counted per identity in the configured storage."""

    def __init__(self, settings: Settings) -> None:
        self._limits = limits.parse_many(settings.rate_limit) if settings.rate_limit else []
        self._limiter = (
            MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage_uri)) if self._limits else None
        )

    async def retry_after(self, identity: str) -> int | None:
        """Count one request for `identity`; seconds to wait if it is over a limit, else None."""
        if self._limiter is None:
            return None
        for item in self._limits:
            if not await self._limiter.hit(item, identity):
                stats = await self._limiter.get_window_stats(item, identity)
                return max(1, math.ceil(stats.reset_time - time.time()))
        return None


async def _admit(request: Request, key: str | None, *, limited: bool) -> None:
    """Count the request against the rate limit, check its key, and set the user it acts for."""
    keys: ApiKeys = request.app.state.api_keys
    match = keys.user_for(key) if keys.enabled else None
    if limited:
        identity = f"key:{match[1]}" if match else f"ip:{request.client.host if request.client else 'unknown'}"
        limiter: RateLimiter = request.app.state.rate_limiter
        wait_s = await limiter.retry_after(identity)
        if wait_s is not None:
            logger.info("rate limited %s %s (%s)", request.method, request.url.path, identity)
            raise RateLimited(wait_s)
    if keys.enabled and match is None:
        logger.info("unauthorized %s %s: missing or unknown API key", request.method, request.url.path)
        raise Unauthorized()
    request.state.user_id = match[0] if match else keys.default_user_id


BearerDep = Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)]
ApiKeyDep = Annotated[str | None, Security(api_key_scheme)]


def access_dependencies(settings: Settings, *, rate_limited: bool = True) -> list[Any]:
    """The access dependencies for a router: the key schemes only when API_KEYS is set (so the docs show them)."""
    limited = rate_limited and bool(settings.rate_limit)

    async def keyed(request: Request, bearer: BearerDep, header_key: ApiKeyDep) -> None:
        # The key from `Authorization: Bearer <key>`, else from `X-API-Key`.
        key = bearer.credentials.strip() if bearer is not None else ""
        await _admit(request, key or (header_key or "").strip() or None, limited=limited)

    async def open_access(request: Request) -> None:
        await _admit(request, None, limited=limited)

    return [Depends(keyed if settings.api_key_users else open_access)]


def access_responses(settings: Settings, *, rate_limited: bool = True) -> dict[int | str, dict[str, Any]]:
    """The answers the access dependencies may give, for the OpenAPI schema."""
    statuses = ([401] if settings.api_key_users else []) + ([429] if rate_limited and settings.rate_limit else [])
    return error_responses(*statuses)
