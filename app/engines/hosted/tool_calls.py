"""Function calling: the tools offered, the calls made, calls streamed in pieces, and the outputs submitted."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.engines.base import ToolOutput
from app.errors import InvalidField, InvalidRequest


@dataclass(frozen=True)
class FunctionCall:
    """A call the model made; `arguments` is the string it wrote, relayed as is (maybe not JSON)."""

    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolRound:
    """Calls the model made earlier in the run and their outputs, `(call_id, output)` in call order."""

    calls: tuple[FunctionCall, ...]
    outputs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class FunctionCallDelta:
    """A piece of the `index`-th call of this answer: its first piece has `call_id` and `name`."""

    index: int
    arguments: str
    call_id: str | None = None
    name: str | None = None


def new_call_id() -> str:
    return "call_" + secrets.token_hex(12)


class CallPieces:
    """The calls of one answer as their pieces arrive, keyed by the provider's index or item id."""

    def __init__(self) -> None:
        self._calls: list[tuple[str, str, list[str]]] = []  # (call_id, name, arguments' pieces)
        self._index: dict[Any, int] = {}

    def open(self, key: Any, call_id: str, name: str, arguments: str) -> FunctionCallDelta:
        index = self._index[key] = len(self._calls)
        call_id = call_id or new_call_id()
        self._calls.append((call_id, name, [arguments]))
        return FunctionCallDelta(index, arguments, call_id=call_id, name=name)

    def add(self, key: Any, arguments: str) -> FunctionCallDelta | None:
        index = self._index.get(key)
        if index is None or not arguments:
            return None
        self._calls[index][2].append(arguments)
        return FunctionCallDelta(index, arguments)

    def __contains__(self, key: Any) -> bool:
        return key in self._index

    def done(self) -> tuple[FunctionCall, ...]:
        return tuple(FunctionCall(call_id, name, "".join(parts)) for call_id, name, parts in self._calls)


def function_tools(tools: Iterable[str | dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The function tools among a run's tools, each as `{"name", "description"?, "parameters"}`: Assistants
    shape (`{"type": "function", "function": {...}}`) or flat (Responses shape); `file_search` is no function."""
    found: list[dict[str, Any]] = []
    for tool in tools:
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue
        nested = tool.get("function")
        function: dict[str, Any] = nested if isinstance(nested, dict) else tool
        name, description, parameters = function.get("name"), function.get("description"), function.get("parameters")
        if not isinstance(name, str) or not name:
            continue
        entry: dict[str, Any] = {"name": name}
        if isinstance(description, str) and description:
            entry["description"] = description
        entry["parameters"] = parameters if isinstance(parameters, dict) else {"type": "object", "properties": {}}
        found.append(entry)
    return tuple(found)


def call_object(call: FunctionCall) -> dict[str, Any]:
    return {"id": call.call_id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def call_from(value: dict[str, Any]) -> FunctionCall:
    function = value.get("function") or {}
    return FunctionCall(str(value.get("id")), str(function.get("name", "")), str(function.get("arguments", "")))


# One tool output's limit (characters); the request body limit (MAX_BODY_BYTES) applies as well.
MAX_TOOL_OUTPUT_CHARS = 512 * 1024


def answers_for(calls: list[dict[str, Any]], outputs: list[ToolOutput]) -> list[dict[str, str]]:
    """The outputs in the calls' order; every pending call answered exactly once (400 naming the id)."""
    pending = [str(call["id"]) for call in calls]
    given: dict[str, str] = {}
    for index, output in enumerate(outputs):
        field = f"tool_outputs[{index}]"
        if len(output.output) > MAX_TOOL_OUTPUT_CHARS:
            raise InvalidField(f"{field}.output", f"longer than {MAX_TOOL_OUTPUT_CHARS} characters")
        unknown, repeated = output.tool_call_id not in pending, output.tool_call_id in given
        if unknown or repeated:
            why = "is not a tool call this run waits for" if unknown else "is answered more than once"
            message = f"{field}.tool_call_id: '{output.tool_call_id}' {why}."
            raise InvalidRequest(message, field=f"{field}.tool_call_id")
        given[output.tool_call_id] = output.output
    missing = [call_id for call_id in pending if call_id not in given]
    if missing:
        names = ", ".join(f"'{call_id}'" for call_id in missing)
        raise InvalidRequest(f"tool_outputs: no output for tool call {names}.", field="tool_outputs")
    return [{"tool_call_id": call_id, "output": given[call_id]} for call_id in pending]
