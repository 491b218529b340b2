"""The HTTP client under the OpenAI SDK: aiohttp as its transport, failures reported truthfully.

aiohttp is the SDK's own choice for high concurrency (`openai[aiohttp]`). httpx2's default pool
re-checks every pooled connection on each request: under load that cost about 1 ms of CPU per
`/chat` and made a burst of 1,000 concurrent requests quadratic (see README "Benchmarks").

The SDK's aiohttp transport reports every failed connection (refused, unknown host, dropped) as a
connect timeout. This client turns those back into connection errors, so the SDK, the error
mapping (502 unreachable, not 504 timeout) and the metrics see what happened.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx2
from openai import DefaultAioHttpClient
from openai._vendor.httpx_aiohttp import AiohttpTransport

_HTTP_CLIENT_PACKAGES = ("openai", "httpx2", "httpcore2")


def timed_out(exc: BaseException) -> bool:
    """Whether a timeout error has a timeout at its root (rather than a failed connection)."""
    causes: list[BaseException] = []
    link = exc.__cause__ or exc.__context__
    while link is not None and len(causes) < 20:
        causes.append(link)
        link = link.__cause__ or link.__context__
    if any(isinstance(cause, TimeoutError) for cause in causes):
        return True
    # Raised by the HTTP client itself, with no lower-level error under it: a timeout of its own.
    return all(type(cause).__module__.split(".")[0] in _HTTP_CLIENT_PACKAGES for cause in causes)


def open_upstream_session(*, max_connections: int, keepalive_s: float) -> aiohttp.ClientSession:
    """The process's one connection pool to the upstream: under the SDK and under `UpstreamJson`.

    Made as the SDK's aiohttp transport makes its own (the same TLS context), with our pool size.
    Call from a running event loop (the lifespan); closing the SDK client closes it.
    """
    connector = aiohttp.TCPConnector(
        limit=max_connections, keepalive_timeout=keepalive_s, ssl=httpx2.create_ssl_context()
    )
    return aiohttp.ClientSession(connector=connector)


def transport_on(session: aiohttp.ClientSession) -> AiohttpTransport:
    """The SDK's aiohttp transport on our session (it closes the session when the client closes)."""
    return AiohttpTransport(client=session)


class UpstreamHttpClient(DefaultAioHttpClient):
    """httpx2's client API on the aiohttp transport; a failed connection raises ConnectError."""

    async def send(self, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
        try:
            return await super().send(request, **kwargs)
        except httpx2.TimeoutException as exc:
            if timed_out(exc):
                raise
            raise httpx2.ConnectError(str(exc) or type(exc.__cause__).__name__, request=request) from exc
