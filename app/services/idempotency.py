"""Idempotency-Key on POST /chat: a retried request gets the first answer; the message is posted once.

The key is reserved in the store before anything is posted (a unique index makes the
reservation atomic across processes). Then:

- same key, same body, first request finished -> its answer again (`Idempotent-Replayed: true`);
- same key while the first is still in flight -> 409 `idempotency_in_progress` (Retry-After: 1);
- same key, different body -> 422 `idempotency_key_reused`.

A request that certainly posted nothing (validation, unknown thread, active run, rate limit,
upstream refused the connection) frees its key, so a retry runs for real. One whose outcome is
unknown (the upstream timed out or failed mid-way: the message may have been posted) keeps its
error answer under the key, so a retry cannot post the message a second time. Keys are per
user and expire after IDEMPOTENCY_TTL_S (a MongoDB TTL index; the same expiry in memory).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import httpx2
import openai
from fastapi import Header
from fastapi.responses import JSONResponse

from app.errors import IdempotencyInProgress, IdempotencyKeyReused, answer_for
from app.storage.base import ConversationStore

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
REPLAYED_HEADER = "Idempotent-Replayed"

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Any unique string (1-255 visible ASCII characters, e.g. a UUID): a retry with the same "
        "key and body returns the first answer instead of posting the message again.",
    ),
]


def fingerprint(route: str, payload: dict[str, Any]) -> str:
    """What makes two requests 'the same request' for one key."""
    canonical = json.dumps({"route": route, "payload": payload}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def outcome_unknown(exc: BaseException) -> bool:
    """True when the request may have taken effect upstream although it failed."""
    if isinstance(exc, openai.APITimeoutError):
        return True
    if isinstance(exc, openai.APIConnectionError):
        # No connection made means nothing was sent (safe to retry); a connection lost mid-request is not.
        return not isinstance(exc.__cause__, httpx2.ConnectError)
    return isinstance(exc, openai.APIStatusError) and exc.status_code >= 500


class IdempotentRequests:
    """Runs a request once per (user, key); built in the lifespan."""

    def __init__(self, store: ConversationStore, *, ttl_s: float, lease_s: float) -> None:
        self._store = store
        self._ttl_s = ttl_s
        self._lease_s = lease_s

    async def run(
        self, user_id: str, key: str, request_fingerprint: str, action: Callable[[], Awaitable[dict[str, Any]]]
    ) -> JSONResponse:
        """The answer of `action()` (200), run at most once for this user's key; replays come from the store."""
        held = await self._store.claim_idempotency_key(user_id, key, request_fingerprint, lease_s=self._lease_s)
        if held is not None:
            if held.fingerprint != request_fingerprint:
                raise IdempotencyKeyReused()
            if held.state == "in_progress" or held.response is None or held.status_code is None:
                raise IdempotencyInProgress()
            return JSONResponse(held.response, status_code=held.status_code, headers={REPLAYED_HEADER: "true"})
        try:
            body = await action()
        except Exception as exc:
            await self._settle_failure(user_id, key, exc)
            raise
        await self._save(user_id, key, 200, body)
        return JSONResponse(body)

    async def _settle_failure(self, user_id: str, key: str, exc: Exception) -> None:
        try:
            if outcome_unknown(exc):
                answer = answer_for(exc, log=False)
                await self._store.complete_idempotency_key(
                    user_id, key, answer.status, answer.body(), ttl_s=self._ttl_s
                )
            else:
                await self._store.release_idempotency_key(user_id, key)
        except Exception as store_exc:  # the request's own error is the one to answer with
            logger.warning("could not settle idempotency key after a failure: %s", type(store_exc).__name__)

    async def _save(self, user_id: str, key: str, status: int, body: dict[str, Any]) -> None:
        try:
            await self._store.complete_idempotency_key(user_id, key, status, body, ttl_s=self._ttl_s)
        except Exception as exc:
            # The run started: answer with it. A retry gets 409 until the key's lease ends.
            logger.warning("could not store the idempotent answer: %s", type(exc).__name__)
