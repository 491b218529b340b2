"""`Idempotency-Key` on /v1's creating routes: a retried request gets the first answer, and creates nothing more.

The same keys as `POST /chat` (`services/idempotency.py`), with answers kept in OpenAI's shape. The SDKs retry a request
whose connection broke; with a key (`extra_headers={"Idempotency-Key": ...}`) such a retry cannot make a second thread,
message or run. Streamed requests refuse a key: a stream cannot be replayed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from app.api.routes.chat import REPLAYED_HEADER
from app.services.idempotency import IdempotentRequests, Recheck, fingerprint

STREAMED = (
    "Idempotency-Key is not supported with `stream: true` (a stream cannot be replayed); "
    "create the run without streaming and poll it."
)


async def answered_once(
    request: Request,
    user_id: str,
    key: str | None,
    body: BaseModel | None,
    action: Callable[[], Awaitable[dict[str, Any]]],
    recheck: Recheck | None = None,
) -> Any:
    """`action()`'s object; with a key, at most once per (user, key) and replayed after (same route and body);
    `recheck()`: the object a first attempt that never settled wrote, if any (services/idempotency.py)."""
    if key is None:
        return await action()
    idempotency: IdempotentRequests = request.app.state.v1_idempotency
    payload = body.model_dump(mode="json", exclude_unset=True) if body is not None else {}
    route = f"{request.method} {request.url.path}"
    answer = await idempotency.run(user_id, key, fingerprint(route, payload), action, recheck)
    headers = {REPLAYED_HEADER: "true"} if answer.replayed else None
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)
