"""One model call per run: the small events its two adapters turn a provider's stream into (read as plain
dicts: the SDK's SSE decoding without a typed model per event), and `ModelCallFailed`, whose code and message
are ours and safe to show; the provider's own text only reaches the log."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.engines.hosted.citations import Citation
from app.engines.hosted.tool_calls import FunctionCall, FunctionCallDelta, ToolRound
from app.errors import SERVER_ERROR, UpstreamError
from app.storage.threads import RunRecord

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
    """The model finished. `text`: the full answer when the provider sent it without deltas."""

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
    """The `index`-th code_interpreter call finished: its whole code (None: as streamed) and its logs."""

    index: int
    code: str | None
    logs: str


ModelEvent = TextDelta | Citation | FunctionCallDelta | CodeCallDelta | CodeCallDone | ModelDone


class ModelCallFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ModelClient(Protocol):
    def stream(self, run: RunRecord, turns: Sequence[ChatTurn | ToolRound]) -> AsyncGenerator[ModelEvent, None]:
        """Text and call deltas, then one ModelDone; raises ModelCallFailed. Close it to end the call early."""


def failure_from(exc: UpstreamError) -> ModelCallFailed:
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


def usage_counts(usage: dict[str, Any], prompt_key: str, completion_key: str) -> dict[str, int] | None:
    prompt, completion, total = usage.get(prompt_key), usage.get(completion_key), usage.get("total_tokens")
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


def add_options(run: RunRecord, body: dict[str, Any], *, flat: bool) -> None:
    """`temperature`, `top_p`; `tool_choice` and `parallel_tool_calls` only with tools (servers refuse them
    without); a named tool in the API's shape (Responses' is `flat`)."""
    for key, value in (("temperature", run.temperature), ("top_p", run.top_p)):
        if value is not None:
            body[key] = value
    if "tools" not in body:
        return
    # A forced choice (`required`, a named tool) binds the run's first call only; once outputs were
    # submitted the model may answer (else it would call again and again).
    choice = None if run.tool_rounds and run.tool_choice != "none" else run.tool_choice
    named = choice if isinstance(choice, str) else _named_tool(choice, flat=flat)
    # Always said: llama-cpp-python's function-calling format drops the tools without a tool_choice.
    body["tool_choice"] = named if named is not None else "auto"
    if run.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = run.parallel_tool_calls


def _named_tool(choice: str | dict[str, Any] | None, *, flat: bool) -> dict[str, Any] | None:
    if not isinstance(choice, dict):
        return None
    if choice.get("type") != "function":
        return {"type": choice.get("type")} if flat else None  # Chat Completions has only functions
    name = as_dict(choice.get("function")).get("name")
    return {"type": "function", "name": name} if flat else {"type": "function", "function": {"name": name}}
