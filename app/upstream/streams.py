"""Streamed calls: POST a body built by the caller, read the SSE events as plain dicts.

The SDK's generic `post` decodes the SSE (and raises on `error` events), with no typed model per event.
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
    """POST `body` (with `stream: true`): its events; errors before the first event are raised by this await."""
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
