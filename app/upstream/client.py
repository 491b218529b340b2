"""The process's connection to an OpenAI-compatible server: one SDK client, one pool, four kinds of call.

Plain JSON calls (the hot path: `json_calls.py`), streams (`streams.py`: the SDK's `AsyncStream` decodes the
SSE, with no typed model per event), files (`files.py`) and relayed requests (`passthrough.py`). Every call's
failures leave as `UpstreamError`s (`errors.py`).

The HTTP client under the SDK: aiohttp as its transport, failures reported truthfully, timed. aiohttp is the
SDK's own choice for high concurrency; httpx2's pool re-checks every pooled connection on each request
(bench/README.md). The SDK's aiohttp transport reports every failed connection as a connect timeout:
`UpstreamHttpClient` turns those back into connection errors (502 unreachable, not 504).
"""

from __future__ import annotations

import time
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import httpx2
from openai import AsyncOpenAI, DefaultAioHttpClient

from app.config import Settings
from app.observability.metrics import Metrics
from app.upstream import sdk_private
from app.upstream.files import UpstreamFiles
from app.upstream.json_calls import JsonCalls, Sender, aiohttp_sender, httpx_sender
from app.upstream.passthrough import UpstreamPassthrough
from app.upstream.streams import StreamCalls

MAX_CONNECTIONS = 4096
KEEPALIVE_S = 5.0  # idle upstream connections are closed after this
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


class UpstreamHttpClient(DefaultAioHttpClient):
    """httpx2's client on the SDK's aiohttp transport: a failed connection raises ConnectError; calls timed."""

    def __init__(self, session: aiohttp.ClientSession, *, metrics: Metrics, **kwargs: Any) -> None:
        # The transport closes the session when the SDK client closes.
        super().__init__(transport=sdk_private.aiohttp_transport(session), **kwargs)
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
            self._metrics.record_upstream_call(request.method, request.url.path, outcome, time.perf_counter() - started)


class Upstream:
    """Everything the service asks of the upstream."""

    def __init__(self, client: AsyncOpenAI, send: Sender, http: httpx2.AsyncClient, *, metrics: Metrics) -> None:
        self.sdk = client  # the SDK client all calls share (its configuration: key, base URL, timeouts, retries)
        calls = JsonCalls(client, send, metrics=metrics)
        # A plain JSON call (see JsonCalls.request); a streamed one (StreamCalls.open: its events as dicts).
        self.request = calls.request
        self.stream = StreamCalls(client, http, calls).open
        self.files = UpstreamFiles(client)
        self.passthrough = UpstreamPassthrough(client)

    @classmethod
    def over_client(cls, client: AsyncOpenAI, *, metrics: Metrics) -> Upstream:
        """Calls sent through an SDK client's own HTTP client (one handed to the app, as tests do)."""
        http = sdk_private.http_client_of(client)
        return cls(client, httpx_sender(http), http, metrics=metrics)


async def open_upstream(settings: Settings, stack: AsyncExitStack, metrics: Metrics) -> Upstream | None:
    """The process's upstream connection (closed by `stack`), or None without OPENAI_API_KEY."""
    if settings.openai_api_key is None:
        return None
    connect_timeout_s = min(10.0, settings.openai_timeout_s)
    # The one pool to the upstream, under the SDK and the plain calls (the SDK transport's TLS context).
    connector = aiohttp.TCPConnector(
        limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_S, ssl=httpx2.create_ssl_context()
    )
    session = aiohttp.ClientSession(connector=connector)
    http_client = UpstreamHttpClient(
        session, metrics=metrics, timeout=httpx2.Timeout(settings.openai_timeout_s, connect=connect_timeout_s)
    )
    client = AsyncOpenAI(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url,
        timeout=settings.openai_timeout_s,
        max_retries=settings.openai_max_retries,
        http_client=http_client,
    )
    stack.push_async_callback(client.close)  # closes the transport, and with it the session
    sender = aiohttp_sender(session, timeout_s=settings.openai_timeout_s, connect_timeout_s=connect_timeout_s)
    return Upstream(client, sender, http_client, metrics=metrics)
