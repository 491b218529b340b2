"""Plain JSON calls to the OpenAI API, on the SDK's own connection pool.

Through the SDK's generic `post`, the one upstream call of `POST /chat` costs several times the CPU of
the rest of the request (bench/README.md). `JsonCalls` sends the SDK's request (same URL, headers, JSON
body) and reads the answer as a dict; the SDK's own retry rule and error classes decide failures.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx2
import openai
from openai import AsyncOpenAI

from app.errors import UpstreamError
from app.observability.metrics import Metrics
from app.upstream import sdk_private
from app.upstream.errors import deterministic_failure, translate

_INITIAL_RETRY_DELAY_S = 0.5  # the SDK's backoff: 0.5 s doubling up to 8 s, minus up to 25 % jitter
_MAX_RETRY_DELAY_S = 8.0
_MAX_RETRY_AFTER_S = 120.0  # a server-directed wait is honoured up to two minutes, as the SDK does
ASSISTANTS_BETA = {"OpenAI-Beta": "assistants=v2"}


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: Mapping[str, str]
    body: bytes


# Sends one request (method, url, headers, body); raises openai.APITimeoutError or openai.APIConnectionError
# when it gets no answer.
Sender = Callable[[str, str, Mapping[str, str], bytes | None], Awaitable[RawAnswer]]


def sdk_headers(client: AsyncOpenAI) -> dict[str, str]:
    """The headers the SDK sends on every request (its key among them)."""
    return {
        **{name: value for name, value in client.default_headers.items() if isinstance(value, str)},
        **client.auth_headers,
    }


def aiohttp_sender(session: aiohttp.ClientSession, *, timeout_s: float, connect_timeout_s: float) -> Sender:
    """Sends on the process's aiohttp session (the one under the SDK): what the service uses."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s, sock_read=timeout_s)

    async def send(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> RawAnswer:
        try:
            async with session.request(
                method, url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                return RawAnswer(response.status, response.headers, await response.read())
        except TimeoutError as exc:  # aiohttp's ServerTimeoutError is a TimeoutError too
            raise openai.APITimeoutError(request=httpx2.Request(method, url)) from exc
        except aiohttp.ClientError as exc:
            raise openai.APIConnectionError(request=httpx2.Request(method, url)) from exc

    return send


def httpx_sender(http: httpx2.AsyncClient) -> Sender:
    """Sends on an httpx2 client: the one inside an SDK client handed to the app (tests hand in one on the fake)."""

    async def send(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> RawAnswer:
        request = http.build_request(method, url, headers=headers, content=body)
        try:
            response = await http.send(request)
        except httpx2.TimeoutException as exc:
            raise openai.APITimeoutError(request=request) from exc
        except httpx2.TransportError as exc:
            raise openai.APIConnectionError(request=request) from exc
        return RawAnswer(response.status_code, response.headers, response.content)

    return send


class JsonCalls:
    """`await calls.request("POST", "/threads/thread_x/runs", body)` -> the answer's JSON object."""

    def __init__(self, client: AsyncOpenAI, send: Sender, *, metrics: Metrics) -> None:
        self.client = client  # the SDK client: its headers, retry rule and error classes; and the calls off this path
        self._send = send
        self._metrics = metrics
        self._base_url = str(client.base_url).rstrip("/")
        self._base_path = httpx2.URL(self._base_url).path.rstrip("/")
        timeout = client.timeout
        read_timeout = timeout.read if isinstance(timeout, httpx2.Timeout) else timeout
        headers = {**sdk_headers(client), **ASSISTANTS_BETA}
        if read_timeout is not None:
            headers["x-stainless-read-timeout"] = str(read_timeout)
        # One header dict per attempt number, built once: the first attempt is the hot path.
        self._headers = [
            {**headers, "x-stainless-retry-count": str(attempt)} for attempt in range(client.max_retries + 1)
        ]

    async def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        params: Mapping[str, str | int] | None = None,
        ids: tuple[str, ...] = (),
        once: bool = False,
        attempt: int = 0,
    ) -> dict[str, Any]:
        """The answer's JSON object (`ids`: keys it must carry as non-empty strings); raises UpstreamError.

        `once`: no retry (a call that creates something); `attempt`: the caller's attempt, sent as the retry count.
        """
        url = self._base_url + path + (f"?{urlencode(params)}" if params else "")
        payload = None if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        url_path = self._base_path + path
        attempts = self._headers[attempt : attempt + 1] if once else self._headers
        for attempt, headers in enumerate(attempts):
            started = time.perf_counter()
            try:
                answer = await self._send(method, url, headers, payload)
            except openai.APIConnectionError as exc:  # APITimeoutError is one too
                outcome = "timeout" if isinstance(exc, openai.APITimeoutError) else "connection_error"
                self._metrics.record_upstream_call(method, url_path, outcome, time.perf_counter() - started)
                await self.retry_or_raise(exc, attempt, len(attempts))
                continue
            self._metrics.record_upstream_call(method, url_path, str(answer.status), time.perf_counter() - started)
            if answer.status < 300:
                return _json_object(answer, ids)
            response = httpx2.Response(
                answer.status, headers=dict(answer.headers), content=answer.body, request=httpx2.Request(method, url)
            )
            await self.retry_or_raise(response, attempt, len(attempts))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def retry_or_raise(self, failure: openai.APIError | httpx2.Response, attempt: int, attempts: int) -> None:
        """After a failed attempt (no answer, or an error status): wait as the SDK would, or raise UpstreamError."""
        if isinstance(failure, openai.APIError):
            if attempt == attempts - 1:
                raise translate(failure) from failure
            await asyncio.sleep(backoff_s(attempt, None))
            return
        if (
            attempt == attempts - 1
            or not sdk_private.should_retry(self.client, failure)
            or deterministic_failure(failure.status_code, failure.text)
        ):
            error = sdk_private.status_error(self.client, failure)
            raise (translate(error) if isinstance(error, openai.APIError) else error) from error
        await asyncio.sleep(backoff_s(attempt, sdk_private.retry_after_s(self.client, failure.headers)))


def unexpected_answer(what: str, status: int = 200) -> UpstreamError:
    """The upstream answered 2xx with something that is not what the API documents (a 502, not a crash)."""
    return UpstreamError(
        upstream_status=status,
        upstream_message=f"The upstream's answer is not {what}.",
        upstream_type="APIResponseValidationError",
    )


def json_object(content: bytes) -> dict[str, Any] | None:
    """The body's JSON object, else None."""
    try:
        data = json.loads(content)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _json_object(answer: RawAnswer, ids: tuple[str, ...]) -> dict[str, Any]:
    data = json_object(answer.body)
    if data is not None and all(isinstance(data.get(key), str) and data[key] for key in ids):
        return data
    raise unexpected_answer(f"a JSON object with {', '.join(ids)}" if ids else "a JSON object", answer.status)


def backoff_s(attempt: int, retry_after: float | None) -> float:
    """The SDK's wait before retry number `attempt + 1`: the server's Retry-After, else exponential backoff."""
    if retry_after is not None and 0 < retry_after <= _MAX_RETRY_AFTER_S:
        return retry_after
    delay = min(_INITIAL_RETRY_DELAY_S * 2.0**attempt, _MAX_RETRY_DELAY_S)
    return delay * (1 - 0.25 * random.random())  # jitter, not security
