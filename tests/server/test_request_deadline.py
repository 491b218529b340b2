"""The whole-body deadline at the ASGI level: a body that never completes is answered 408 with the connection closed."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from app.api.middleware.request_deadline import RequestDeadlineMiddleware


async def reads_its_body(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = await Request(scope, receive).body()
    await JSONResponse({"bytes": len(body)})(scope, receive, send)


SCOPE = {"type": "http", "method": "POST", "path": "/", "headers": []}


async def _call(messages: list[dict[str, Any]], *, then_wait: bool, timeout_s: float) -> list[dict[str, Any]]:
    """Run the middleware over `reads_its_body` with these body messages; then the client sends nothing more."""
    pending = list(messages)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        if then_wait:
            await asyncio.Event().wait()  # a client that never sends the rest
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(RequestDeadlineMiddleware(reads_its_body, timeout_s)(dict(SCOPE), receive, send), 30)
    return sent


async def test_a_body_that_never_completes_is_408_with_connection_close() -> None:
    sent = await _call([{"type": "http.request", "body": b"{", "more_body": True}], then_wait=True, timeout_s=0.05)
    start, body = sent[0], sent[1]
    assert start["status"] == 408
    assert (b"connection", b"close") in start["headers"]
    assert json.loads(body["body"])["error"]["message"] == "The request body did not arrive in time."


async def test_a_body_that_arrives_in_time_is_served() -> None:
    sent = await _call(
        [
            {"type": "http.request", "body": b"ab", "more_body": True},
            {"type": "http.request", "body": b"c", "more_body": False},
        ],
        then_wait=True,
        timeout_s=5,
    )
    assert sent[0]["status"] == 200
    assert (b"connection", b"close") not in sent[0]["headers"]
    assert json.loads(sent[1]["body"]) == {"bytes": 3}
