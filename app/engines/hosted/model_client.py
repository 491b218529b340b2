"""One model call per run: the Responses API, or Chat Completions for OpenAI-compatible servers.

Both adapters stream, and turn the provider's stream into the same small events (text deltas,
then one `ModelDone`). They post a body built here and read the stream's events as plain dicts
(`Upstream.stream`): the same request and SSE decoding as `responses.create` /
`chat.completions.create`, without the per-call parameter transform and a typed model per event.

Every way a call can fail (HTTP status, timeout, refused connection, an error event in the
stream, a stream that stops early) becomes `ModelCallFailed`, carrying a
code and a message of ours that are safe to show; the provider's own text only reaches the log.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Protocol

from app.config import Settings
from app.errors import RATE_LIMIT_EXCEEDED, SERVER_ERROR, UpstreamError
from app.upstream.client import Upstream

logger = logging.getLogger(__name__)

_RATE_LIMITED = "The model provider is rate limiting requests; try again later."


@dataclass(frozen=True)
class ChatTurn:
    role: str
    text: str


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ModelDone:
    """The model finished. `text` is the full answer when the provider sent it without deltas."""

    usage: dict[str, int] | None
    text: str | None = None


ModelEvent = TextDelta | ModelDone


class ModelCallFailed(Exception):
    """The model call failed; `code` and `message` go into the run's `last_error`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ModelRequest:
    model: str
    instructions: str
    turns: Sequence[ChatTurn]
    max_output_tokens: int


class ModelClient(Protocol):
    """Streams one answer for a conversation."""

    api: str

    def tool_names(self) -> tuple[str, ...]:
        """The tools calls are made with (recorded on the run)."""

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelEvent, None]:
        """Text deltas, then one ModelDone; raises ModelCallFailed. Close it to end the call early."""


def build_model_client(settings: Settings, upstream: Upstream) -> ModelClient:
    if settings.hosted_model_api == "chat_completions":
        return ChatCompletionsModel(upstream)
    return ResponsesModel(upstream, settings.file_search_store_ids)


def failure_from(exc: UpstreamError) -> ModelCallFailed:
    """The run's `last_error` for a failed model call (the provider's text is logged, never shown)."""
    logger.warning(
        "model call failed: %s status=%s request_id=%s", exc.upstream_type, exc.upstream_status, exc.request_id
    )
    return ModelCallFailed(*exc.run_error())


def _usage(prompt: Any, completion: Any, total: Any) -> dict[str, int] | None:
    if not isinstance(prompt, int) and not isinstance(completion, int):
        return None
    prompt = prompt if isinstance(prompt, int) else 0
    completion = completion if isinstance(completion, int) else 0
    total = total if isinstance(total, int) and total else prompt + completion
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


class ResponsesModel:
    """`POST /v1/responses`, streamed; file_search over the configured vector stores."""

    api = "responses"

    def __init__(self, upstream: Upstream, vector_store_ids: list[str]) -> None:
        self._upstream = upstream
        self._vector_store_ids = vector_store_ids

    def tool_names(self) -> tuple[str, ...]:
        return ("file_search",) if self._vector_store_ids else ()

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelEvent, None]:
        body: dict[str, Any] = {
            "input": [
                {"role": "assistant" if turn.role == "assistant" else "user", "content": turn.text}
                for turn in request.turns
            ],
            "instructions": request.instructions,
            "max_output_tokens": request.max_output_tokens,
            "model": request.model,
            "store": False,
            "stream": True,
        }
        if self._vector_store_ids:
            body["tools"] = [{"type": "file_search", "vector_store_ids": self._vector_store_ids}]
        try:
            async with aclosing(await self._upstream.stream("/responses", body)) as events:
                async for item in events:
                    event = _dict(item)
                    kind = event.get("type")
                    if kind == "response.output_text.delta":
                        delta = event.get("delta")
                        if isinstance(delta, str) and delta:
                            yield TextDelta(delta)
                    elif kind in ("response.completed", "response.incomplete"):
                        yield self._done(_dict(event.get("response")))
                        return
                    elif kind == "response.failed":
                        raise self._failed(_dict(event.get("response")))
                    elif kind == "error":
                        logger.warning("model stream error event code=%s", event.get("code"))
                        raise ModelCallFailed(SERVER_ERROR, "The model provider reported an error while answering.")
        except UpstreamError as exc:
            raise failure_from(exc) from exc
        raise ModelCallFailed(SERVER_ERROR, "The model's answer stopped before it was complete.")

    @staticmethod
    def _done(response: dict[str, Any]) -> ModelDone:
        if response.get("status") == "incomplete":
            reason = _dict(response.get("incomplete_details")).get("reason")
            logger.info("model answer incomplete (%s); keeping what was written", reason)
        text = "".join(
            part["text"]
            for item in _list(response.get("output"))
            if _dict(item).get("type") == "message"
            for part in _list(item.get("content"))
            if _dict(part).get("type") == "output_text" and isinstance(part.get("text"), str)
        )
        usage = _dict(response.get("usage"))
        counted = _usage(usage.get("input_tokens"), usage.get("output_tokens"), usage.get("total_tokens"))
        return ModelDone(usage=counted, text=text or None)

    @staticmethod
    def _failed(response: dict[str, Any]) -> ModelCallFailed:
        code = _dict(response.get("error")).get("code")
        logger.warning("model response failed code=%s", code)
        if code == RATE_LIMIT_EXCEEDED:
            return ModelCallFailed(RATE_LIMIT_EXCEEDED, _RATE_LIMITED)
        return ModelCallFailed(SERVER_ERROR, "The model failed to answer.")


class ChatCompletionsModel:
    """`POST /v1/chat/completions`, streamed with usage: Ollama, vLLM, llama.cpp and others. No file_search."""

    api = "chat_completions"

    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream

    def tool_names(self) -> tuple[str, ...]:
        return ()

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelEvent, None]:
        messages: list[dict[str, str]] = [{"role": "system", "content": request.instructions}]
        for turn in request.turns:
            messages.append({"role": "assistant" if turn.role == "assistant" else "user", "content": turn.text})
        body = {
            "messages": messages,
            "model": request.model,
            # max_tokens, not max_completion_tokens: the one every compatible server understands.
            "max_tokens": request.max_output_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        finish_reason: str | None = None
        usage: dict[str, int] | None = None
        try:
            async with aclosing(await self._upstream.stream("/chat/completions", body)) as chunks:
                async for item in chunks:
                    chunk = _dict(item)
                    counted = _dict(chunk.get("usage"))
                    if counted:
                        usage = _usage(
                            counted.get("prompt_tokens"), counted.get("completion_tokens"), counted.get("total_tokens")
                        )
                    for choice in map(_dict, _list(chunk.get("choices"))[:1]):
                        content = _dict(choice.get("delta")).get("content")
                        if isinstance(content, str) and content:
                            yield TextDelta(content)
                        reason = choice.get("finish_reason")
                        if isinstance(reason, str) and reason:
                            finish_reason = reason
        except UpstreamError as exc:
            raise failure_from(exc) from exc
        if finish_reason is None:
            raise ModelCallFailed(SERVER_ERROR, "The model's answer stopped before it was complete.")
        if finish_reason != "stop":
            logger.info("model finished with reason %s; keeping what was written", finish_reason)
        yield ModelDone(usage=usage)
