"""Streamed calls: POST a body built by the caller, read the SSE events as plain dicts.

The SDK's generic `post` does the SSE decoding (and raises on `error` events); there is no
per-call parameter transform and no typed model per event (the events are relayed or read as
dicts anyway). Errors, when the call opens and while it streams, leave as `UpstreamError`s.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Any

import openai
from openai import AsyncOpenAI, AsyncStream

from app.upstream.errors import translate


async def open_event_stream(
    client: AsyncOpenAI,
    path: str,
    body: dict[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
    once: bool = False,
) -> AsyncGenerator[Any, None]:
    """POST `body` (it must ask for `stream: true`); the answer's events, the connection closed when they end.

    Errors before the first event (the upstream refused the call) are raised by this await.
    """
    try:
        stream = await client.post(
            path,
            body=body,
            cast_to=object,
            stream=True,
            stream_cls=AsyncStream[object],
            options={**({"headers": dict(headers)} if headers else {}), **({"max_retries": 0} if once else {})},
        )
    except openai.APIError as exc:
        raise translate(exc) from exc
    return _events(stream)


async def _events(stream: AsyncStream[object]) -> AsyncGenerator[Any, None]:
    try:
        async for item in stream:
            yield item
    except openai.APIError as exc:
        raise translate(exc) from exc
    finally:
        await stream.close()
