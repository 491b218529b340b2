"""Every private member of the `openai` SDK this service uses, each with the reason; nowhere else.

The plain-JSON calls must fail exactly as the SDK would (retry rule, Retry-After, error classes): these
give that without copying it. An SDK version that moves one fails `tests/upstream/test_sdk_private.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import httpx2
from openai import AsyncOpenAI
from openai._vendor.httpx_aiohttp import AiohttpTransport

# (owner, member, why we use it)
PRIVATE_MEMBERS: tuple[tuple[str, str, str], ...] = (
    ("AsyncOpenAI", "_client", "the httpx2 client inside an SDK client handed to the app (tests), for plain calls"),
    ("AsyncOpenAI", "_should_retry", "the SDK's rule for which failed answers are retried"),
    ("AsyncOpenAI", "_parse_retry_after_header", "the SDK's Retry-After parser (seconds, ms, HTTP dates)"),
    ("AsyncOpenAI", "_make_status_error_from_response", "the SDK's error class for an HTTP status"),
    ("openai._vendor.httpx_aiohttp", "AiohttpTransport", "the SDK's aiohttp transport, on our own session"),
)


def http_client_of(client: AsyncOpenAI) -> httpx2.AsyncClient:
    """The httpx2 client an SDK client sends with."""
    return client._client


def should_retry(client: AsyncOpenAI, response: httpx2.Response) -> bool:
    return bool(client._should_retry(response))


def retry_after_s(client: AsyncOpenAI, headers: Mapping[str, str]) -> float | None:
    return client._parse_retry_after_header(httpx2.Headers(dict(headers)))


def status_error(client: AsyncOpenAI, response: httpx2.Response) -> Exception:
    return cast(Exception, client._make_status_error_from_response(response))


def aiohttp_transport(session: Any) -> AiohttpTransport:
    return AiohttpTransport(client=session)
