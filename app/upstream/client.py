"""The process's connection to an OpenAI-compatible server: one SDK client, one pool, four kinds of call.

Plain JSON calls (the hot path: `json_calls.py`), streams (here: the SDK's generic `post` decodes the SSE,
with no typed model per event), files (`files.py`) and relayed requests (`passthrough.py`). Every call's
failures leave as `UpstreamError`s (`errors.py`).

The HTTP client under the SDK: aiohttp as its transport, failures reported truthfully, timed. aiohttp is the
SDK's own choice for high concurrency; httpx2's pool re-checks every pooled connection on each request
(bench/README.md). The SDK's aiohttp transport reports every failed connection as a connect timeout:
`UpstreamHttpClient` turns those back into connection errors (502 unreachable, not 504).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Mapping
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import httpx2
import openai
from openai import AsyncOpenAI, AsyncStream, DefaultAioHttpClient

from app.config import Settings
from app.observability.metrics import Metrics
from app.upstream import sdk_private
from app.upstream.errors import translate
from app.upstream.files import UpstreamFiles
from app.upstream.json_calls import JsonCalls, Sender, aiohttp_sender, httpx_sender
from app.upstream.passthrough import UpstreamPassthrough

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

    def __init__(self, client: AsyncOpenAI, send: Sender, *, metrics: Metrics) -> None:
        self.sdk = client  # the SDK client all calls share (its configuration: key, base URL, timeouts, retries)
        # A plain JSON call (see JsonCalls.request); `stream` is a streamed one.
        self.request = JsonCalls(client, send, metrics=metrics).request
        self.files = UpstreamFiles(client)
        self.passthrough = UpstreamPassthrough(client)

    @classmethod
    def over_client(cls, client: AsyncOpenAI, *, metrics: Metrics) -> Upstream:
        """Calls sent through an SDK client's own HTTP client (one handed to the app, as tests do)."""
        return cls(client, httpx_sender(sdk_private.http_client_of(client)), metrics=metrics)

    async def stream(
        self, path: str, body: dict[str, Any], *, headers: Mapping[str, str] | None = None, once: bool = False
    ) -> AsyncGenerator[Any, None]:
        """POST `body` (with `stream: true`): its events as dicts; errors before the first event are raised here."""
        try:
            stream = await self.sdk.post(
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
    return Upstream(client, sender, metrics=metrics)


async def _events(stream: AsyncStream[object]) -> AsyncGenerator[Any, None]:
    try:
        async for item in stream:
            yield item
    except openai.APIError as exc:
        raise translate(exc) from exc
    finally:
        await stream.close()
