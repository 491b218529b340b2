"""One model call per run: the Responses API, or Chat Completions for OpenAI-compatible servers.

Both adapters stream, and turn the provider's stream into the same small events (text deltas,
function call pieces, then one `ModelDone` carrying the calls). They post a body built here and
read the stream's events as plain dicts (`Upstream.stream`): the same request and SSE decoding as `responses.create` /
`chat.completions.create`, without the per-call parameter transform and a typed model per event.

Every way a call can fail (HTTP status, timeout, refused connection, an error event in the
stream, a stream that stops early) becomes `ModelCallFailed`, carrying a
code and a message of ours that are safe to show; the provider's own text only reaches the log.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, replace
from typing import Any, Protocol

from app.config import Settings
from app.engines.hosted.citations import Citation
from app.engines.hosted.tool_calls import (
    CallPieces,
    FunctionCall,
    FunctionCallDelta,
    FunctionTool,
    ToolRound,
    new_call_id,
)
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


def build_model_client(settings: Settings, upstream: Upstream) -> ModelClient:
    if settings.hosted_model_api == "chat_completions":
        return ChatCompletionsModel(upstream)
    return ResponsesModel(upstream, settings.file_search_store_ids)


def failure_from(exc: UpstreamError) -> ModelCallFailed:
    """The run's `last_error` for a failed model call (the provider's text is logged, never shown)."""
    why = ""
    if exc.upstream_status == 400:  # how llama-server and vLLM refuse a prompt over the model's context
        why = " (the prompt may exceed the model's context; see MAX_PROMPT_TOKENS): " + repr(exc.upstream_message[:300])
    logger.warning(
        "model call failed: %s status=%s request_id=%s%s", exc.upstream_type, exc.upstream_status, exc.request_id, why
    )
    return ModelCallFailed(*exc.run_error())


def _stopped_early(received: bool) -> ModelCallFailed:
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


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _function(tool: FunctionTool) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = tool.parameters
    return function


def _sampling(request: ModelRequest, body: dict[str, Any]) -> None:
    """`temperature` and `top_p`, when the run sets them (both APIs name them alike)."""
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p


def _tool_options(request: ModelRequest, body: dict[str, Any], named: dict[str, Any] | None) -> None:
    """`tool_choice` (`named`: a named tool in the API's shape; None: one it does not have) and
    `parallel_tool_calls`, when the request offers tools (servers refuse them without)."""
    if "tools" not in body:
        return
    choice = request.tool_choice
    if isinstance(choice, str):
        body["tool_choice"] = choice
    elif named is not None:
        body["tool_choice"] = named
    if request.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = request.parallel_tool_calls


def _named_tool(choice: str | dict[str, Any] | None, *, flat: bool) -> dict[str, Any] | None:
    """A named tool choice for the API: Responses (`flat`) names a function beside its type."""
    if not isinstance(choice, dict):
        return None
    if choice.get("type") != "function":
        return {"type": choice.get("type")} if flat else None  # Chat Completions has only functions
    name = _dict(choice.get("function")).get("name")
    return {"type": "function", "name": name} if flat else {"type": "function", "function": {"name": name}}


def _responses_text_format(response_format: str | dict[str, Any] | None) -> dict[str, Any] | None:
    """The Responses API's `text.format` for an Assistants `response_format` (None: plain text)."""
    if not isinstance(response_format, dict) or response_format.get("type") == "text":
        return None
    if response_format.get("type") == "json_schema":
        return {"type": "json_schema", **_dict(response_format.get("json_schema"))}
    return {"type": response_format.get("type")}


def _responses_input(turns: Sequence[ChatTurn | ToolRound]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for turn in turns:
        if isinstance(turn, ToolRound):
            items.extend(
                {"type": "function_call", "call_id": c.call_id, "name": c.name, "arguments": c.arguments}
                for c in turn.calls
            )
            items.extend(
                {"type": "function_call_output", "call_id": call_id, "output": output}
                for call_id, output in turn.outputs
            )
        else:
            items.append({"role": "assistant" if turn.role == "assistant" else "user", "content": turn.text})
    return items


_CALL_EVENTS = frozenset({"response.output_item.added", "response.function_call_arguments.delta"})


def _responses_call_piece(calls: CallPieces, event: dict[str, Any]) -> FunctionCallDelta | None:
    if event.get("type") == "response.function_call_arguments.delta":
        return calls.add(event.get("item_id"), _str(event.get("delta")))
    added = _dict(event.get("item"))
    if added.get("type") != "function_call":
        return None
    key = added.get("id") or added.get("call_id")
    return calls.open(key, _str(added.get("call_id")), _str(added.get("name")), _str(added.get("arguments")))


def _chat_messages(request: ModelRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": request.instructions}]
    for turn in request.turns:
        if isinstance(turn, ToolRound):
            tool_calls = [
                {"id": c.call_id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in turn.calls
            ]
            messages.append({"role": "assistant", "content": None, "tool_calls": tool_calls})
            messages.extend(
                {"role": "tool", "tool_call_id": call_id, "content": output} for call_id, output in turn.outputs
            )
        else:
            messages.append({"role": "assistant" if turn.role == "assistant" else "user", "content": turn.text})
    return messages


def _chat_call_pieces(calls: CallPieces, delta: dict[str, Any]) -> list[FunctionCallDelta]:
    """The pieces of `delta.tool_calls` (the legacy `function_call` mirror is ignored).

    Servers differ: OpenAI sends `id`, `type` and `function.name` in a call's first piece only;
    llama.cpp repeats them in every piece. Only `arguments` are joined; nulls count as absent.
    """
    pieces: list[FunctionCallDelta] = []
    for position, entry in enumerate(map(_dict, _list(delta.get("tool_calls")))):
        index = entry.get("index")
        key = index if isinstance(index, int) else position
        function = _dict(entry.get("function"))
        arguments = _str(function.get("arguments"))
        if key not in calls:
            pieces.append(calls.open(key, _str(entry.get("id")), _str(function.get("name")), arguments))
        elif (piece := calls.add(key, arguments)) is not None:
            pieces.append(piece)
    return pieces


class _HostedTools:
    """The text, its citations and the code_interpreter calls of one Responses stream, as our events."""

    def __init__(self) -> None:
        self.cited = False
        self._text_length = 0
        self._part_starts: dict[tuple[Any, Any], int] = {}
        self._code_calls: dict[Any, int] = {}
        self._code: list[list[str]] = []

    def events(self, event: dict[str, Any]) -> list[ModelEvent]:
        """Our events for a provider event about the text, citations or code_interpreter (others: none)."""
        kind = event.get("type")
        if kind == "response.output_text.delta":
            delta = _str(event.get("delta"))
            self._part_start(event)
            self._text_length += len(delta)
            return [TextDelta(delta)] if delta else []
        if kind == "response.output_text.annotation.added":
            return self._citation(event)
        elif kind == "response.code_interpreter_call_code.delta":
            found = self._open(event.get("item_id"))
            index = self._code_calls[event.get("item_id")]
            delta = _str(event.get("delta"))
            if delta:
                self._code[index].append(delta)
                found.append(CodeCallDelta(index, delta))
            return found
        elif kind in ("response.output_item.added", "response.output_item.done"):
            item = _dict(event.get("item"))
            if item.get("type") == "code_interpreter_call":
                found = self._open(item.get("id"))
                if kind == "response.output_item.done":
                    found.append(self._code_done(item))
                return found
        return []

    def _part_start(self, event: dict[str, Any]) -> int:
        return self._part_starts.setdefault((event.get("item_id"), event.get("content_index")), self._text_length)

    def _citation(self, event: dict[str, Any]) -> list[ModelEvent]:
        annotation = _dict(event.get("annotation"))
        index = annotation.get("index")
        if annotation.get("type") != "file_citation" or not isinstance(index, int):
            return []
        self.cited = True
        file_id, filename = _str(annotation.get("file_id")), _str(annotation.get("filename"))
        return [Citation(file_id, filename, self._part_start(event) + index)]

    def _open(self, item_id: Any) -> list[ModelEvent]:
        if item_id in self._code_calls:
            return []
        index = self._code_calls[item_id] = len(self._code)
        self._code.append([])
        return [CodeCallDelta(index, "", call_id=_str(item_id) or new_call_id())]

    def _code_done(self, item: dict[str, Any]) -> CodeCallDone:
        index = self._code_calls[item.get("id")]
        code = item.get("code")
        outputs = map(_dict, _list(item.get("outputs")))
        logs = "".join(_str(output.get("logs")) for output in outputs if output.get("type") == "logs")
        call_id = _str(item.get("id")) or new_call_id()
        return CodeCallDone(index, call_id, code if isinstance(code, str) else "".join(self._code[index]), logs)

    def done(self, done: ModelDone) -> ModelDone:
        """The final event; its citations only when the stream announced none."""
        return replace(done, citations=()) if self.cited else done


def _final_citations(response: dict[str, Any]) -> tuple[Citation, ...]:
    """The file citations on the final response's output_text parts, positioned in the joined text."""
    found: list[Citation] = []
    offset = 0
    for item in map(_dict, _list(response.get("output"))):
        parts = _list(item.get("content")) if item.get("type") == "message" else []
        for part in map(_dict, parts):
            if part.get("type") != "output_text" or not isinstance(part.get("text"), str):
                continue
            for annotation in map(_dict, _list(part.get("annotations"))):
                index = annotation.get("index")
                if annotation.get("type") == "file_citation" and isinstance(index, int):
                    file_id, filename = _str(annotation.get("file_id")), _str(annotation.get("filename"))
                    found.append(Citation(file_id, filename, offset + index))
            offset += len(part["text"])
    return tuple(found)


class ResponsesModel:
    """`POST /v1/responses`, streamed; file_search over the run's vector stores (else the configured
    ones), code_interpreter when the run's assistant has it."""

    api = "responses"

    def __init__(self, upstream: Upstream, vector_store_ids: list[str]) -> None:
        self._upstream = upstream
        self._vector_store_ids = vector_store_ids

    def tool_names(self) -> tuple[str, ...]:
        return ("file_search",) if self._vector_store_ids else ()

    def _body(self, request: ModelRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "input": _responses_input(request.turns),
            "instructions": request.instructions,
            "max_output_tokens": request.max_output_tokens,
            "model": request.model,
            "store": False,
            "stream": True,
        }
        tools: list[dict[str, Any]] = []
        store_ids = self._vector_store_ids if request.vector_store_ids is None else list(request.vector_store_ids)
        if store_ids:
            tools.append({"type": "file_search", "vector_store_ids": store_ids})
        if request.code_interpreter:
            container: dict[str, Any] = {"type": "auto"}
            if request.code_file_ids:
                container["file_ids"] = list(request.code_file_ids)
            tools.append({"type": "code_interpreter", "container": container})
        tools.extend({"type": "function", **_function(tool), "strict": False} for tool in request.tools)
        if tools:
            body["tools"] = tools
        _sampling(request, body)
        _tool_options(request, body, _named_tool(request.tool_choice, flat=True))
        text_format = _responses_text_format(request.response_format)
        if text_format is not None:
            body["text"] = {"format": text_format}
        return body

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelEvent, None]:
        body = self._body(request)
        calls = CallPieces()
        hosted = _HostedTools()
        received = False
        try:
            async with aclosing(await self._upstream.stream("/responses", body)) as events:
                async for item in events:
                    received = True
                    event = _dict(item)
                    kind = event.get("type")
                    for text_event in hosted.events(event):
                        yield text_event
                    if kind in _CALL_EVENTS:
                        if (piece := _responses_call_piece(calls, event)) is not None:
                            yield piece
                    elif kind in ("response.completed", "response.incomplete"):
                        yield hosted.done(self._done(_dict(event.get("response")), calls.done()))
                        return
                    elif kind == "response.failed":
                        raise self._failed(_dict(event.get("response")))
                    elif kind == "error":
                        logger.warning("model stream error event code=%s", event.get("code"))
                        raise ModelCallFailed(SERVER_ERROR, "The model provider reported an error while answering.")
        except UpstreamError as exc:
            raise failure_from(exc) from exc
        raise _stopped_early(received)

    @staticmethod
    def _done(response: dict[str, Any], streamed_calls: tuple[FunctionCall, ...]) -> ModelDone:
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
        # The final response's items are the calls as the provider recorded them; the streamed pieces
        # stand in when a server leaves them out.
        final = [item for item in map(_dict, _list(response.get("output"))) if item.get("type") == "function_call"]
        calls = streamed_calls
        if not calls:
            calls = tuple(
                FunctionCall(_str(i.get("call_id")) or new_call_id(), _str(i.get("name")), _str(i.get("arguments")))
                for i in final
            )
        elif len(final) == len(calls):  # the ids the stream showed; the arguments as finally recorded
            calls = tuple(
                FunctionCall(c.call_id, c.name or _str(i.get("name")), _str(i.get("arguments")) or c.arguments)
                for c, i in zip(calls, final, strict=True)
            )
        usage = _dict(response.get("usage"))
        counted = _usage(usage.get("input_tokens"), usage.get("output_tokens"), usage.get("total_tokens"))
        return ModelDone(usage=counted, text=text or None, calls=calls, citations=_final_citations(response))

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

    @staticmethod
    def _body(request: ModelRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messages": _chat_messages(request),
            "model": request.model,
            # max_tokens, not max_completion_tokens: the one every compatible server understands.
            "max_tokens": request.max_output_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            body["tools"] = [{"type": "function", "function": _function(tool)} for tool in request.tools]
        _sampling(request, body)
        _tool_options(request, body, _named_tool(request.tool_choice, flat=False))
        if isinstance(request.response_format, dict) and request.response_format.get("type") != "text":
            body["response_format"] = request.response_format
        return body

    async def stream(self, request: ModelRequest) -> AsyncGenerator[ModelEvent, None]:
        body = self._body(request)
        finish_reason: str | None = None
        usage: dict[str, int] | None = None
        calls = CallPieces()
        received = False
        try:
            async with aclosing(await self._upstream.stream("/chat/completions", body)) as chunks:
                async for item in chunks:
                    received = True
                    chunk = _dict(item)
                    counted = _dict(chunk.get("usage"))
                    if counted:
                        usage = _usage(
                            counted.get("prompt_tokens"), counted.get("completion_tokens"), counted.get("total_tokens")
                        )
                    for choice in map(_dict, _list(chunk.get("choices"))[:1]):
                        delta = _dict(choice.get("delta"))
                        content = delta.get("content")
                        if isinstance(content, str) and content:
                            yield TextDelta(content)
                        for piece in _chat_call_pieces(calls, delta):
                            yield piece
                        reason = choice.get("finish_reason")
                        if isinstance(reason, str) and reason:
                            finish_reason = reason
        except UpstreamError as exc:
            raise failure_from(exc) from exc
        if finish_reason is None:
            raise _stopped_early(received)
        if finish_reason not in ("stop", "tool_calls", "function_call"):
            logger.info("model finished with reason %s; keeping what was written", finish_reason)
        yield ModelDone(usage=usage, calls=calls.done())
