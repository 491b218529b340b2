"""One model call per run: the small events its two adapters turn a provider's stream into (read as plain
dicts: the SDK's SSE decoding without a typed model per event); its failures are in model_errors.py."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.engines.hosted.citations import Citation
from app.engines.hosted.tool_calls import FunctionCall, FunctionCallDelta, ToolRound
from app.storage.threads import RunRecord

logger = logging.getLogger(__name__)


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
    cut_off: bool = False  # the answer stopped at the token limit (finish_reason "length", response incomplete)


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


@dataclass(frozen=True)
class SearchCall:
    """The `index`-th file_search call of this answer began (`done` False) or ended (True)."""

    index: int
    call_id: str
    done: bool = False


ModelEvent = TextDelta | Citation | FunctionCallDelta | CodeCallDelta | CodeCallDone | SearchCall | ModelDone


class ModelClient(Protocol):
    def stream(self, run: RunRecord, turns: Sequence[ChatTurn | ToolRound]) -> AsyncGenerator[ModelEvent, None]:
        """Text and call deltas, then one ModelDone; raises model_errors.ModelCallFailed. Close it to end early."""


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
