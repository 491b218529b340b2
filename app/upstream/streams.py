"""Streamed calls: the request the SDK's generic `post(stream=True)` sends, read by the SDK's own `AsyncStream`.

Building the request through the SDK's `post` cost more CPU than the rest of a hosted run's model call
(bench/README.md, "The streamed model call"). `StreamCalls` builds the same URL, headers and JSON body once,
sends it on the SDK client's HTTP client, and hands the answer to `openai.AsyncStream`: the SSE decoding, the
error events and the connection's release are the SDK's. A failed attempt is retried, or raised, by the SDK's
rules (`JsonCalls.retry_or_raise`).
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import httpx2
import openai
from openai import AsyncOpenAI, AsyncStream

from app.upstream.errors import translate
from app.upstream.json_calls import JsonCalls, sdk_headers


class StreamCalls:
    """`await streams.open("/responses", body)` -> the stream's events as dicts."""

    def __init__(self, client: AsyncOpenAI, http: httpx2.AsyncClient, calls: JsonCalls) -> None:
        self._client = client
        self._http = http  # the SDK client's HTTP client (timed, on the shared pool)
        self._calls = calls  # its retry rule
        self._base_url = str(client.base_url).rstrip("/")
        timeout = client.timeout if isinstance(client.timeout, httpx2.Timeout) else httpx2.Timeout(client.timeout)
        self._extensions = {"timeout": timeout.as_dict()}
        merged = httpx2.Headers(http.headers)  # the HTTP client's defaults, as its build_request merges them
        merged.update(sdk_headers(client))
        headers = dict(merged.items())
        if timeout.read is not None:
            headers["x-stainless-read-timeout"] = str(timeout.read)
        self._headers = [
            {**headers, "x-stainless-retry-count": str(attempt)} for attempt in range(client.max_retries + 1)
        ]

    async def open(
        self, path: str, body: dict[str, Any], *, headers: Mapping[str, str] | None = None, once: bool = False
    ) -> AsyncGenerator[Any, None]:
        """POST `body` (with `stream: true`): its events as dicts; errors before the first event are raised here."""
        url = self._base_url + path
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        attempts = self._headers[:1] if once else self._headers
        for attempt, attempt_headers in enumerate(attempts):
            request = httpx2.Request(
                "POST",
                url,
                headers={**attempt_headers, **headers} if headers else attempt_headers,
                content=payload,
                extensions=self._extensions,
            )
            try:
                response = await self._http.send(request, stream=True)
            except Exception as exc:  # as the SDK's `post`: a timeout, else a connection error
                error: openai.APIError = (
                    openai.APITimeoutError(request=request)
                    if isinstance(exc, httpx2.TimeoutException)
                    else openai.APIConnectionError(request=request)
                )
                error.__cause__ = exc
                await self._calls.retry_or_raise(error, attempt, len(attempts))
                continue
            if response.is_success:
                return _events(AsyncStream(cast_to=object, response=response, client=self._client))
            try:
                await response.aread()
            finally:
                await response.aclose()
            await self._calls.retry_or_raise(response, attempt, len(attempts))
        raise AssertionError("unreachable: the last attempt returns or raises")


async def _events(stream: AsyncStream[object]) -> AsyncGenerator[Any, None]:
    try:
        async for item in stream:
            yield item
    except openai.APIError as exc:
        raise translate(exc) from exc
    finally:
        await stream.close()
