"""A caller's request (/v1 files and vector stores) relayed as it came, with the service's key.

The caller's own headers (their key among them) are never sent: only the SDK's, and the body's Content-Type.
A 2xx comes back as it is. A 400, 404, 409, 413, 415 or 422 in OpenAI's error shape comes back with its status,
type, param and code, but with this service's own message (`safe_refusal`: the upstream's text may tell of
objects or settings the caller has no business seeing); a 404 that is not an OpenAI error (a compatible server
without files) is `UpstreamNoSuchEndpoint`. Everything else leaves as the usual `UpstreamError`s, whose upstream
text never reaches a client. No retries: a POST creates something.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2
import openai
from openai import AsyncOpenAI

from app.errors import UpstreamNoSuchEndpoint
from app.upstream import sdk_private
from app.upstream.errors import translate
from app.upstream.json_calls import json_object, sdk_headers, unexpected_answer

logger = logging.getLogger(__name__)

# Upstream refusals that are about the caller's request: answered with their status, in our words.
RELAYED_ERRORS = frozenset({400, 404, 409, 413, 415, 422})
_REFUSALS = {
    400: "The upstream refused the request as invalid.",
    404: "No such object.",
    409: "The request conflicts with the object's current state.",
    413: "The request is too large for the upstream.",
    415: "The upstream does not take this content type.",
    422: "The upstream refused the request as invalid.",
}
# OpenAI's 404 for an id: rebuilt from its two parts (an object kind and an id), never passed on as it came.
_NO_SUCH = re.compile(r"No such ([A-Za-z][A-Za-z ]{0,30}) object: ([A-Za-z0-9_-]{1,140})")
_WORD = re.compile(r"[A-Za-z0-9_.\[\]-]{1,128}")
_KEPT_ANSWER_HEADERS = ("content-type", "content-disposition", "content-length")


@dataclass(frozen=True)
class RelayedAnswer:
    """The upstream's status, the headers worth relaying, and its body as it arrives."""

    status: int
    headers: Mapping[str, str]
    body: AsyncGenerator[bytes, None]


class UpstreamPassthrough:
    """`await passthrough.json("GET", "/files", params=...)` -> (status, the upstream's JSON object)."""

    def __init__(self, client: AsyncOpenAI) -> None:
        self._client = client
        self._http = sdk_private.http_client_of(client)
        self._base_url = str(client.base_url).rstrip("/")

    async def _send(
        self,
        method: str,
        path: str,
        params: Sequence[tuple[str, str]],
        body: bytes | None,
        content_type: str | None,
        *,
        read: bool,
    ) -> httpx2.Response:
        """The upstream's answer to relay (with its body read when `read`, or when it is a refusal)."""
        headers = sdk_headers(self._client) | ({"Content-Type": content_type} if content_type is not None else {})
        request = self._http.build_request(
            method, self._base_url + path, params=list(params), headers=headers, content=body
        )
        try:
            response = await self._http.send(request, stream=True)
        except httpx2.TimeoutException as exc:
            raise translate(openai.APITimeoutError(request=request)) from exc
        except httpx2.TransportError as exc:
            raise translate(openai.APIConnectionError(request=request)) from exc
        if response.status_code < 300 and not read:
            return response
        try:
            await response.aread()
        except httpx2.HTTPError as exc:
            raise translate(openai.APIConnectionError(request=request)) from exc
        finally:
            await response.aclose()
        if response.status_code < 300 or _relayed_refusal(response):
            return response
        if response.status_code in (404, 405):
            raise UpstreamNoSuchEndpoint(method, path)
        error = sdk_private.status_error(self._client, response)
        raise (translate(error) if isinstance(error, openai.APIError) else error) from error

    async def json(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """The upstream's status and JSON object (an OpenAI error for a relayed refusal). Raises UpstreamError."""
        response = await self._send(method, path, params, body, content_type, read=True)
        data = json_object(response.content)
        if data is None:
            raise unexpected_answer("a JSON object", response.status_code)
        return response.status_code, safe_refusal(response.status_code, data) if response.status_code >= 300 else data

    async def stream(self, method: str, path: str, *, params: Sequence[tuple[str, str]] = ()) -> RelayedAnswer:
        """The upstream's answer with its body as it arrives (never held whole). Raises UpstreamError."""
        response = await self._send(method, path, params, None, None, read=False)
        if response.status_code >= 300:  # a refusal, read whole
            refusal = json.dumps(safe_refusal(response.status_code, json_object(response.content) or {}))
            return RelayedAnswer(response.status_code, {"content-type": "application/json"}, _once(refusal.encode()))
        body = _once(response.content) if response.is_closed else _relayed(response)
        return RelayedAnswer(response.status_code, _kept(response.headers), body)


def _relayed_refusal(response: httpx2.Response) -> bool:
    """An OpenAI error about the caller's request (not OpenAI's `Invalid URL` for a path it does not serve)."""
    error = _openai_error(response.content) if response.status_code in RELAYED_ERRORS else None
    if error is None:
        return False
    return response.status_code != 404 or not str(error["message"]).startswith("Invalid URL")


def safe_refusal(status: int, data: dict[str, Any]) -> dict[str, Any]:
    """An upstream's OpenAI error in this service's words: the status's own message (an id's 404 rebuilt from its
    kind and id), with its `type`, `param` and `code` when they are plain words."""
    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    assert isinstance(error, dict)
    message = _REFUSALS.get(status, "The upstream refused the request.")
    if status == 404 and (found := _NO_SUCH.fullmatch(str(error.get("message", "")))) is not None:
        message = f"No such {found.group(1)} object: {found.group(2)}"
    words = {
        name: value if isinstance(value, str) and _WORD.fullmatch(value) else None
        for name, value in ((name, error.get(name)) for name in ("type", "param", "code"))
    }
    return {"error": {"message": message, **words, "type": words["type"] or "invalid_request_error"}}


def _kept(headers: httpx2.Headers) -> dict[str, str]:
    return {name: headers[name] for name in _KEPT_ANSWER_HEADERS if name in headers}


def _openai_error(content: bytes) -> dict[str, Any] | None:
    """The `error` object of an OpenAI error body, else None."""
    inner = (json_object(content) or {}).get("error")
    return inner if isinstance(inner, dict) and isinstance(inner.get("message"), str) else None


async def _once(content: bytes) -> AsyncGenerator[bytes, None]:
    yield content


async def _relayed(response: httpx2.Response) -> AsyncGenerator[bytes, None]:
    """The body's chunks; the upstream response is closed however the relay ends."""
    try:
        async for chunk in response.aiter_bytes():
            yield chunk
    except httpx2.HTTPError as exc:  # the answer has started: all that is left is to stop
        logger.warning("relayed download broke off: %s", type(exc).__name__)
    finally:
        await response.aclose()
