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

A first attempt may also never settle: its process dies (`kill -9`), or the database stays away
longer than the driver retries, so its writes' acknowledgements are lost (the answer is 503, and the
key's lease is ended at once). Its lease lapses, and the next retry takes the key over *unsettled*:
it looks for the first attempt's marker (`recheck`: the message or run it wrote) before anything
else, answers with that run if there is one, and runs the request only when nothing was written.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app.errors import IdempotencyInProgress, IdempotencyKeyReused, StorageUnavailable, UpstreamError
from app.storage.idempotency_keys import IdempotencyKeyStore

logger = logging.getLogger(__name__)

# How long a finished request's answer is kept for a retry with the same key (Stripe keeps 24 h).
IDEMPOTENCY_TTL_S = 24 * 3600

# How an error is answered over HTTP: (status, body). The HTTP layer's mapping, handed in.
DescribeError = Callable[[BaseException], tuple[int, dict[str, Any]]]


@dataclass(frozen=True)
class IdempotentAnswer:
    status_code: int
    body: dict[str, Any]
    replayed: bool


def fingerprint(route: str, payload: dict[str, Any]) -> str:
    """What makes two requests 'the same request' for one key."""
    canonical = json.dumps({"route": route, "payload": payload}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def outcome_unknown(exc: BaseException) -> bool:
    """True when the request may have taken effect upstream although it failed (and no check said otherwise)."""
    return isinstance(exc, UpstreamError) and exc.outcome_unknown and exc.extra.get("posted") is not False


def _posting_unknown(body: dict[str, Any]) -> bool:
    """An answer saying the message may have been posted (`posted: null`): a replay looks again."""
    return isinstance(error := body.get("error"), dict) and error.get("posted", False) is None


# Looks again whether an earlier attempt took effect: its 200 answer, or None.
Recheck = Callable[[], Awaitable[dict[str, Any] | None]]


class IdempotentRequests:
    """Runs a request once per (user, key); built in the lifespan."""

    def __init__(self, store: IdempotencyKeyStore, describe_error: DescribeError, *, lease_s: float) -> None:
        self._store = store
        self._describe_error = describe_error
        self._lease_s = lease_s

    async def run(
        self,
        user_id: str,
        key: str,
        request_fingerprint: str,
        action: Callable[[], Awaitable[dict[str, Any]]],
        recheck: Recheck | None = None,
    ) -> IdempotentAnswer:
        """`action()`'s answer (200), run at most once per user and key; replays come from the store.

        A kept answer whose outcome was unknown is replaced by `recheck()`'s 200 answer once it finds one.
        """
        held = await self._store.claim(
            user_id, key, request_fingerprint, lease_s=self._lease_s, ttl_s=IDEMPOTENCY_TTL_S
        )
        unsettled = held is not None and held.state == "unsettled"
        if held is not None and not unsettled:
            if held.fingerprint != request_fingerprint:
                raise IdempotencyKeyReused()
            if held.state == "in_progress" or held.response is None or held.status_code is None:
                raise IdempotencyInProgress()
            if recheck is not None and _posting_unknown(held.response):
                found = await recheck()
                if found is not None:
                    await self._save(user_id, key, 200, found)
                    return IdempotentAnswer(200, found, replayed=True)
            return IdempotentAnswer(held.status_code, held.response, replayed=True)
        try:
            # We hold the key; after a first attempt that never settled, what it wrote is looked for first.
            found = await recheck() if unsettled and recheck is not None else None
            body = found if found is not None else await action()
        except Exception as exc:
            await self._settle_failure(user_id, key, exc)
            raise
        await self._save(user_id, key, 200, body)
        if found is not None:
            logger.info("the unsettled first attempt of an idempotency key had taken effect: answered with its run")
        return IdempotentAnswer(200, body, replayed=found is not None)

    async def _settle_failure(self, user_id: str, key: str, exc: Exception) -> None:
        if outcome_unknown(exc):
            await self._save(user_id, key, *self._describe_error(exc))
            return
        # A storage failure may have lost the acknowledgement of a write that was made: a retry looks first.
        settle = self._store.abandon if isinstance(exc, StorageUnavailable) else self._store.release
        try:
            await settle(user_id, key)
        except Exception as store_exc:  # the request's own error is the one to answer with
            logger.warning("could not settle the idempotency key after a failure: %s", type(store_exc).__name__)

    async def _save(self, user_id: str, key: str, status: int, body: dict[str, Any]) -> None:
        try:
            await self._store.complete(user_id, key, status, body, ttl_s=IDEMPOTENCY_TTL_S)
        except Exception as exc:
            # The answer (the run started, or the request's own error) stands; a retry gets 409 until the lease ends.
            logger.warning("could not store the idempotent answer: %s", type(exc).__name__)
