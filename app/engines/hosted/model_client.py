"""One model call per run: the Responses API, or Chat Completions for OpenAI-compatible servers.

Both adapters stream, and turn the provider's stream into the same small events (text deltas,
then one `ModelDone`). Every way a call can fail (HTTP status, timeout, refused connection,
an error event in the stream, a stream that stops early) becomes `ModelCallFailed`, carrying a
code and a message of ours that are safe to show; the provider's own text only reaches the log.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Protocol

import openai
from openai import AsyncOpenAI, omit
from openai.types.chat import ChatCompletionMessageParam
from openai.types.responses import (
    FileSearchToolParam,
    Response,
    ResponseCompletedEvent,
    ResponseErrorEvent,
    ResponseFailedEvent,
    ResponseIncompleteEvent,
    ResponseInputParam,
    ResponseTextDeltaEvent,
)

from app.config import Settings

logger = logging.getLogger(__name__)

# The codes the Assistants API uses in a failed run's `last_error`.
SERVER_ERROR = "server_error"
RATE_LIMIT_EXCEEDED = "rate_limit_exceeded"
INVALID_PROMPT = "invalid_prompt"
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


def build_model_client(settings: Settings, client: AsyncOpenAI) -> ModelClient:
    if settings.hosted_model_api == "chat_completions":
        return ChatCompletionsModel(client)
    return ResponsesModel(client, settings.file_search_store_ids)


def failure_from(exc: openai.APIError) -> ModelCallFailed:
    """Our code and text for an SDK error (the provider's text is logged, never shown)."""
    logger.warning(
        "model call failed: %s status=%s request_id=%s",
        type(exc).__name__,
        getattr(exc, "status_code", None),
        getattr(exc, "request_id", None),
    )
    if isinstance(exc, openai.RateLimitError):
        return ModelCallFailed(RATE_LIMIT_EXCEEDED, _RATE_LIMITED)
    if isinstance(exc, openai.APITimeoutError):
        return ModelCallFailed(SERVER_ERROR, "The model did not answer in time.")
    if isinstance(exc, openai.APIConnectionError):
        return ModelCallFailed(SERVER_ERROR, "The model provider could not be reached.")
    if isinstance(exc, openai.AuthenticationError):
        return ModelCallFailed(SERVER_ERROR, "The model provider rejected the configured OPENAI_API_KEY.")
    if isinstance(exc, openai.BadRequestError):
        return ModelCallFailed(INVALID_PROMPT, "The model provider rejected the request (status 400).")
    if isinstance(exc, openai.APIStatusError):
        return ModelCallFailed(SERVER_ERROR, f"The model provider failed (status {exc.status_code}).")
    return ModelCallFailed(SERVER_ERROR, "The model provider reported an error while answering.")


def _usage(prompt: int | None, completion: int | None, total: int | None) -> dict[str, int] | None:
    if prompt is None and completion is None:
        return None
    prompt, completion = prompt or 0, completion or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total or prompt + completion}


class ResponsesModel:
    """`POST /v1/responses`, streamed; file_search over the configured vector stores."""

    api = "responses"

    def __init__(self, client: AsyncOpenAI, vector_store_ids: list[str]) -> None:
        self._client = client
        self._vector_store_ids = vector_store_ids

    def tool_names(self) -> tuple[str, ...]:
        return ("file_search",) if self._vector_store_ids else ()

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelEvent, None]:
        tools: list[FileSearchToolParam] = []
        if self._vector_store_ids:
            tools.append({"type": "file_search", "vector_store_ids": self._vector_store_ids})
        conversation: ResponseInputParam = [
            {"role": "assistant" if turn.role == "assistant" else "user", "content": turn.text}
            for turn in request.turns
        ]
        try:
            stream = await self._client.responses.create(
                model=request.model,
                instructions=request.instructions,
                input=conversation,
                max_output_tokens=request.max_output_tokens,
                store=False,
                stream=True,
                tools=tools or omit,
            )
            async with stream:
                async for event in stream:
                    if isinstance(event, ResponseTextDeltaEvent):
                        yield TextDelta(event.delta)
                    elif isinstance(event, ResponseCompletedEvent | ResponseIncompleteEvent):
                        yield self._done(event.response)
                        return
                    elif isinstance(event, ResponseFailedEvent):
                        raise self._failed(event.response)
                    elif isinstance(event, ResponseErrorEvent):
                        logger.warning("model stream error event code=%s", event.code)
                        raise ModelCallFailed(SERVER_ERROR, "The model provider reported an error while answering.")
        except openai.APIError as exc:
            raise failure_from(exc) from exc
        raise ModelCallFailed(SERVER_ERROR, "The model's answer stopped before it was complete.")

    @staticmethod
    def _done(response: Response) -> ModelDone:
        if response.status == "incomplete":
            reason = response.incomplete_details.reason if response.incomplete_details else None
            logger.info("model answer incomplete (%s); keeping what was written", reason)
        usage = response.usage
        text = response.output_text or None
        if usage is None:
            return ModelDone(usage=None, text=text)
        return ModelDone(_usage(usage.input_tokens, usage.output_tokens, usage.total_tokens), text)

    @staticmethod
    def _failed(response: Response) -> ModelCallFailed:
        code = response.error.code if response.error else None
        logger.warning("model response failed code=%s", code)
        if code == RATE_LIMIT_EXCEEDED:
            return ModelCallFailed(RATE_LIMIT_EXCEEDED, _RATE_LIMITED)
        return ModelCallFailed(SERVER_ERROR, "The model failed to answer.")


class ChatCompletionsModel:
    """`POST /v1/chat/completions`, streamed with usage: Ollama, vLLM, llama.cpp and others. No file_search."""

    api = "chat_completions"

    def __init__(self, client: AsyncOpenAI) -> None:
        self._client = client

    def tool_names(self) -> tuple[str, ...]:
        return ()

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelEvent, None]:
        messages: list[ChatCompletionMessageParam] = [{"role": "system", "content": request.instructions}]
        for turn in request.turns:
            if turn.role == "assistant":
                messages.append({"role": "assistant", "content": turn.text})
            else:
                messages.append({"role": "user", "content": turn.text})
        finish_reason: str | None = None
        usage: dict[str, int] | None = None
        try:
            stream = await self._client.chat.completions.create(
                model=request.model,
                messages=messages,
                # max_tokens, not max_completion_tokens: the one every compatible server understands.
                max_tokens=request.max_output_tokens,
                stream=True,
                stream_options={"include_usage": True},
            )
            async with stream:
                async for chunk in stream:
                    if chunk.usage is not None:
                        u = chunk.usage
                        usage = _usage(u.prompt_tokens, u.completion_tokens, u.total_tokens)
                    for choice in chunk.choices[:1]:
                        if choice.delta is not None and choice.delta.content:
                            yield TextDelta(choice.delta.content)
                        if choice.finish_reason:
                            finish_reason = choice.finish_reason
        except openai.APIError as exc:
            raise failure_from(exc) from exc
        if finish_reason is None:
            raise ModelCallFailed(SERVER_ERROR, "The model's answer stopped before it was complete.")
        if finish_reason != "stop":
            logger.info("model finished with reason %s; keeping what was written", finish_reason)
        yield ModelDone(usage=usage)
