"""The HTTP client under the OpenAI SDK: aiohttp as its transport, failures reported truthfully, timed.

aiohttp is the SDK's own choice for high concurrency; httpx2's pool re-checks every pooled connection
on each request (bench/README.md). The SDK's aiohttp transport reports every failed connection as a
connect timeout: this client turns those back into connection errors (502 unreachable, not 504).
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import httpx2
from openai import DefaultAioHttpClient

from app.observability.metrics import Metrics
from app.upstream.sdk_private import aiohttp_transport

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
    """The one pool to the upstream, under the SDK and the plain calls (the SDK transport's TLS context)."""
    connector = aiohttp.TCPConnector(
        limit=max_connections, keepalive_timeout=keepalive_s, ssl=httpx2.create_ssl_context()
    )
    return aiohttp.ClientSession(connector=connector)


class UpstreamHttpClient(DefaultAioHttpClient):
    """httpx2's client on the SDK's aiohttp transport: a failed connection raises ConnectError; calls timed."""

    def __init__(self, session: aiohttp.ClientSession, *, metrics: Metrics, **kwargs: Any) -> None:
        # The transport closes the session when the SDK client closes.
        super().__init__(transport=aiohttp_transport(session), **kwargs)
        self._metrics = metrics

    async def send(self, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
        started = time.perf_counter()
        outcome = "error"
        try:
            response = await super().send(request, **kwargs)
            outcome = str(response.status_code)
            return response
        except httpx2.TimeoutException as exc:
            if not timed_out(exc):
                outcome = "connection_error"
                raise httpx2.ConnectError(str(exc) or type(exc.__cause__).__name__, request=request) from exc
            outcome = "timeout"
            raise
        except httpx2.TransportError:
            outcome = "connection_error"
            raise
        finally:
            elapsed = time.perf_counter() - started
            self._metrics.record_upstream_call(request.method, request.url.path, outcome, elapsed)
