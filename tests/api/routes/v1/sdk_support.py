"""The real openai SDK pointed at our /v1 over ASGI, as a user of the Assistants API would point it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import openai
from openai import AsyncOpenAI

WEATHER: Any = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}


def openai_error_body(exc: openai.APIStatusError) -> dict[str, object]:
    """The SDK error's body, checked to be OpenAI's error shape."""
    body = exc.body
    assert isinstance(body, dict)
    assert set(body) == {"message", "type", "param", "code"}
    return body


@asynccontextmanager
async def openai_sdk(client: httpx2.AsyncClient, api_key: str = "sk-unused") -> AsyncIterator[AsyncOpenAI]:
    """`AsyncOpenAI(base_url="http://testserver/v1")` on the app behind `client` (no retries)."""
    transport = httpx2.ASGITransport(app=client.app, raise_app_exceptions=False)  # type: ignore[attr-defined]
    async with httpx2.AsyncClient(transport=transport) as http:
        yield AsyncOpenAI(api_key=api_key, base_url="http://testserver/v1", http_client=http, max_retries=0)
