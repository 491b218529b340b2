"""One model call per run: what it is asked, what it streams back, and how it fails.

The adapters (`responses_api.py`: the Responses API; `chat_completions_api.py`: Chat Completions
for OpenAI-compatible servers; built by `app/engines/__init__.py`) stream, and turn the provider's
stream into the same small events (text deltas, function call pieces, then one `ModelDone` carrying
the calls). They post a body they build and read the stream's events as plain dicts
(`Upstream.stream`): the same request and SSE decoding as `responses.create` /
`chat.completions.create`, without the per-call parameter transform and a typed model per event.

Every way a call can fail (HTTP status, timeout, refused connection, an error event in the
stream, a stream that stops early) becomes `ModelCallFailed`, carrying a
code and a message of ours that are safe to show; the provider's own text only reaches the log.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.engines.hosted.citations import Citation
from app.engines.hosted.tool_calls import (
    FunctionCall,
    FunctionCallDelta,
    FunctionTool,
    ToolRound,
)
from app.errors import SERVER_ERROR, UpstreamError

logger = logging.getLogger(__name__)

RATE_LIMITED_MESSAGE = "The model provider is rate limiting requests; try again later."


@dataclass(frozen=True)
class ChatTurn:
    role: str
    text: str


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ModelDone:
    """The model finished. `text` is the full answer when the provider sent it without deltas;
    `calls` are the functions it called (the run then waits for their outputs)."""

    usage: dict[str, int] | None
    text: str | None = None
    calls: tuple[FunctionCall, ...] = ()
    # Citations the final answer lists that the stream did not announce (each announced is a `Citation` event).
    citations: tuple[Citation, ...] = ()


@dataclass(frozen=True)
class CodeCallDelta:
    """A piece of the code of the `index`-th code_interpreter call of this answer; the first has `call_id`."""

    index: int
    code: str
    call_id: str | None = None


@dataclass(frozen=True)
class CodeCallDone:
    """The `index`-th code_interpreter call finished: its whole code and its logs."""

    index: int
    call_id: str
    code: str
    logs: str


ModelEvent = TextDelta | Citation | FunctionCallDelta | CodeCallDelta | CodeCallDone | ModelDone


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
    turns: Sequence[ChatTurn | ToolRound]
    max_output_tokens: int
    tools: Sequence[FunctionTool] = ()
    # The vector stores file_search searches (none: no file_search); None: the configured stores.
    vector_store_ids: Sequence[str] | None = None
    code_interpreter: bool = False  # offer the code_interpreter tool (Responses API only)
    code_file_ids: Sequence[str] = ()  # the files its container starts with
    # Sampling and shaping, in the Assistants API's shapes (services/run_options.py); None: the model's default.
    temperature: float | None = None
    top_p: float | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: str | dict[str, Any] | None = None


class ModelClient(Protocol):
    """Streams one answer for a conversation."""

    api: str

    def tool_names(self) -> tuple[str, ...]:
        """The tools calls are made with (recorded on the run)."""

    def stream(self, request: ModelRequest) -> AsyncGenerator[ModelEvent, None]:
        """Text and call deltas, then one ModelDone; raises ModelCallFailed. Close it to end the call early."""


def failure_from(exc: UpstreamError) -> ModelCallFailed:
    """The run's `last_error` for a failed model call (the provider's text is logged, never shown)."""
    why = ""
    if exc.upstream_status == 400:  # how llama-server and vLLM refuse a prompt over the model's context
        why = " (the prompt may exceed the model's context; see MAX_PROMPT_TOKENS): " + repr(exc.upstream_message[:300])
    logger.warning(
        "model call failed: %s status=%s request_id=%s%s", exc.upstream_type, exc.upstream_status, exc.request_id, why
    )
    return ModelCallFailed(*exc.run_error())


def stopped_early(received: bool) -> ModelCallFailed:
    """A stream that ended before the answer did; with no event at all (a 200 and nothing more), the
    server said nothing: llama-cpp-python's answer to a prompt over the model's context."""
    if received:
        return ModelCallFailed(SERVER_ERROR, "The model's answer stopped before it was complete.")
    logger.warning(
        "model call failed: the model server answered nothing (an empty stream): "
        "the prompt may exceed its context; see MAX_PROMPT_TOKENS"
    )
    return ModelCallFailed(
        SERVER_ERROR, "The model server sent an empty answer; the conversation may be too long for it."
    )


def usage_counts(prompt: Any, completion: Any, total: Any) -> dict[str, int] | None:
    if not isinstance(prompt, int) and not isinstance(completion, int):
        return None
    prompt = prompt if isinstance(prompt, int) else 0
    completion = completion if isinstance(completion, int) else 0
    total = total if isinstance(total, int) and total else prompt + completion
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def function_object(tool: FunctionTool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = tool.parameters
    return function


def add_sampling(request: ModelRequest, body: dict[str, Any]) -> None:
    """`temperature` and `top_p`, when the run sets them (both APIs name them alike)."""
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p


def add_tool_options(request: ModelRequest, body: dict[str, Any], *, flat: bool) -> None:
    """`tool_choice` (a named tool in the API's shape: Responses' is `flat`) and `parallel_tool_calls`,
    when the request offers tools (servers refuse them without)."""
    if "tools" not in body:
        return
    choice = request.tool_choice
    named = choice if isinstance(choice, str) else _named_tool(choice, flat=flat)
    if named is not None:
        body["tool_choice"] = named
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls


def _named_tool(choice: str | dict[str, Any] | None, *, flat: bool) -> dict[str, Any] | None:
    """A named tool choice for the API: Responses (`flat`) names a function beside its type."""
    if not isinstance(choice, dict):
        return None
    if choice.get("type") != "function":
        return {"type": choice.get("type")} if flat else None  # Chat Completions has only functions
    name = as_dict(choice.get("function")).get("name")
    return {"type": "function", "name": name} if flat else {"type": "function", "function": {"name": name}}
