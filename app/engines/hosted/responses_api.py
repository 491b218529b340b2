"""The Responses API adapter (`POST /v1/responses`, streamed): text, function calls, file_search and
code_interpreter with their citations, as the model client's events."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import replace
from typing import Any

from app.engines.hosted.citations import Citation
from app.engines.hosted.model_client import (
    ChatTurn,
    CodeCallDelta,
    CodeCallDone,
    ModelDone,
    ModelEvent,
    SearchCall,
    TextDelta,
    add_options,
    as_dict,
    as_list,
    as_str,
    usage_counts,
)
from app.engines.hosted.model_errors import (
    RATE_LIMITED_MESSAGE,
    ModelCallFailed,
    error_event,
    failure_from,
    stopped_early,
)
from app.engines.hosted.tool_calls import (
    CallPieces,
    FunctionCall,
    FunctionCallDelta,
    ToolRound,
    function_tools,
    new_call_id,
)
from app.errors import RATE_LIMIT_EXCEEDED, SERVER_ERROR, UpstreamError
from app.storage.threads import RunRecord
from app.upstream.client import Upstream

logger = logging.getLogger(__name__)


def _search_settings(tools: tuple[str | dict[str, Any], ...]) -> dict[str, Any]:
    """The run's file_search settings as the Responses API takes them (the ranker left to it: its names differ)."""
    for tool in tools:
        if isinstance(tool, dict) and tool.get("type") == "file_search" and (given := tool.get("file_search")):
            settings: dict[str, Any] = {}
            if given.get("max_num_results") is not None:
                settings["max_num_results"] = given["max_num_results"]
            if ranking := given.get("ranking_options"):
                settings["ranking_options"] = {"score_threshold": ranking["score_threshold"]}
            return settings
    return {}


def _responses_text_format(response_format: str | dict[str, Any] | None) -> dict[str, Any] | None:
    if not isinstance(response_format, dict) or response_format.get("type") == "text":
        return None
    if response_format.get("type") == "json_schema":
        return {"type": "json_schema", **as_dict(response_format.get("json_schema"))}
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
            role = "assistant" if turn.role == "assistant" else "user"
            items.append({"type": "message", "role": role, "content": turn.text})  # llama-server needs the type
    return items


def _responses_call_piece(calls: CallPieces, event: dict[str, Any]) -> FunctionCallDelta | None:
    kind = event.get("type")
    if kind == "response.function_call_arguments.delta":
        return calls.add(event.get("item_id"), as_str(event.get("delta")))
    added = as_dict(event.get("item"))
    if kind != "response.output_item.added" or added.get("type") != "function_call":
        return None
    key = added.get("id") or added.get("call_id")
    return calls.open(key, as_str(added.get("call_id")), as_str(added.get("name")), as_str(added.get("arguments")))


class _HostedTools:
    def __init__(self) -> None:
        self.cited = False
        self._text_length = 0
        self._part_starts: dict[tuple[Any, Any], int] = {}
        self._code_calls: dict[Any, int] = {}
        self._search_calls: dict[Any, int] = {}

    def events(self, event: dict[str, Any]) -> list[ModelEvent]:
        kind = event.get("type")
        if kind == "response.output_text.delta":
            delta = as_str(event.get("delta"))
            self._part_start(event)
            self._text_length += len(delta)
            return [TextDelta(delta)] if delta else []
        if kind == "response.output_text.annotation.added":
            return self._citation(event)
        elif kind == "response.code_interpreter_call_code.delta":
            found = self._open(event.get("item_id"))
            index = self._code_calls[event.get("item_id")]
            if delta := as_str(event.get("delta")):
                found.append(CodeCallDelta(index, delta))
            return found
        elif kind in ("response.output_item.added", "response.output_item.done"):
            item = as_dict(event.get("item"))
            if item.get("type") == "file_search_call":
                return self._search(item, done=kind == "response.output_item.done")
            if item.get("type") == "code_interpreter_call":
                found = self._open(item.get("id"))
                if kind == "response.output_item.done":
                    found.append(self._code_done(item))
                return found
        return []

    def _search(self, item: dict[str, Any], *, done: bool) -> list[ModelEvent]:
        """A file_search call's start and end (each call is a tool_calls step of its own)."""
        key = item.get("id")
        if key not in self._search_calls:
            self._search_calls[key] = len(self._search_calls)
        elif not done:
            return []
        call_id = as_str(key).removeprefix("fs_")  # an Assistants call id, as for code_interpreter calls
        return [SearchCall(self._search_calls[key], f"call_{call_id}" if call_id else new_call_id(), done)]

    def _part_start(self, event: dict[str, Any]) -> int:
        return self._part_starts.setdefault((event.get("item_id"), event.get("content_index")), self._text_length)

    def _citation(self, event: dict[str, Any]) -> list[ModelEvent]:
        citation = _citation(as_dict(event.get("annotation")), self._part_start(event))
        self.cited = self.cited or citation is not None
        return [citation] if citation is not None else []

    def _open(self, item_id: Any) -> list[ModelEvent]:
        if item_id in self._code_calls:
            return []
        index = self._code_calls[item_id] = len(self._code_calls)
        # The Assistants API names a code_interpreter call `call_...` (the Responses API's item: `ci_...`).
        call_id = as_str(item_id).removeprefix("ci_")
        return [CodeCallDelta(index, "", call_id=f"call_{call_id}" if call_id else new_call_id())]

    def _code_done(self, item: dict[str, Any]) -> CodeCallDone:
        index = self._code_calls[item.get("id")]
        code = item.get("code")
        outputs = map(as_dict, as_list(item.get("outputs")))
        logs = "".join(as_str(output.get("logs")) for output in outputs if output.get("type") == "logs")
        return CodeCallDone(index, code if isinstance(code, str) else None, logs)

    def done(self, done: ModelDone) -> ModelDone:
        """The final event; its citations only when the stream announced none."""
        return replace(done, citations=()) if self.cited else done


def _output_texts(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        part
        for item in map(as_dict, as_list(response.get("output")))
        if item.get("type") == "message"
        for part in map(as_dict, as_list(item.get("content")))
        if part.get("type") == "output_text" and isinstance(part.get("text"), str)
    ]


def _citation(annotation: dict[str, Any], offset: int) -> Citation | None:
    """A `file_citation` annotation of the output_text part starting at `offset` of the answer (others: None)."""
    index = annotation.get("index")
    if annotation.get("type") != "file_citation" or not isinstance(index, int):
        return None
    return Citation(as_str(annotation.get("file_id")), as_str(annotation.get("filename")), offset + index)


def _final_citations(parts: list[dict[str, Any]]) -> tuple[Citation, ...]:
    found: list[Citation | None] = []
    offset = 0
    for part in parts:
        found.extend(_citation(annotation, offset) for annotation in map(as_dict, as_list(part.get("annotations"))))
        offset += len(part["text"])
    return tuple(citation for citation in found if citation is not None)


class ResponsesModel:
    def __init__(self, upstream: Upstream, vector_store_ids: list[str]) -> None:
        self._upstream = upstream
        self._vector_store_ids = vector_store_ids

    def _body(self, run: RunRecord, turns: Sequence[ChatTurn | ToolRound]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "input": _responses_input(turns),
            "instructions": run.instructions,
            "max_output_tokens": run.max_completion_tokens,
            "model": run.model,
            "store": False,
            "stream": True,
        }
        tools: list[dict[str, Any]] = []
        store_ids = self._vector_store_ids if run.vector_store_ids is None else run.vector_store_ids
        if store_ids:
            tools.append({"type": "file_search", "vector_store_ids": store_ids, **_search_settings(run.tools)})
        if any(isinstance(tool, dict) and tool.get("type") == "code_interpreter" for tool in run.tools):
            container: dict[str, Any] = {"type": "auto"}
            if run.code_file_ids:
                container["file_ids"] = list(run.code_file_ids)
            tools.append({"type": "code_interpreter", "container": container})
        tools.extend({"type": "function", **tool, "strict": False} for tool in function_tools(run.tools))
        if tools:
            body["tools"] = tools
        add_options(run, body, flat=True)
        text_format = _responses_text_format(run.response_format)
        if text_format is not None:
            body["text"] = {"format": text_format}
        return body

    async def stream(self, run: RunRecord, turns: Sequence[ChatTurn | ToolRound]) -> AsyncGenerator[ModelEvent, None]:
        body = self._body(run, turns)
        calls = CallPieces()
        hosted = _HostedTools()
        received = False
        try:
            async with aclosing(await self._upstream.stream("/responses", body)) as events:
                async for item in events:
                    received = True
                    event = as_dict(item)
                    kind = event.get("type")
                    for text_event in hosted.events(event):
                        yield text_event
                    if (piece := _responses_call_piece(calls, event)) is not None:
                        yield piece
                    elif kind in ("response.completed", "response.incomplete"):
                        yield hosted.done(self._done(as_dict(event.get("response")), calls.done()))
                        return
                    elif kind == "response.failed":
                        raise self._failed(as_dict(event.get("response")))
                    elif kind == "error":
                        raise error_event(event.get("code"), event.get("message"))
        except UpstreamError as exc:
            raise failure_from(exc, mid_stream=received) from exc
        raise stopped_early(received)

    @staticmethod
    def _done(response: dict[str, Any], streamed_calls: tuple[FunctionCall, ...]) -> ModelDone:
        reason = as_dict(response.get("incomplete_details")).get("reason")
        if response.get("status") == "incomplete":
            logger.info("model answer incomplete (%s); keeping what was written", reason)
        parts = _output_texts(response)
        text = "".join(part["text"] for part in parts)
        # The final response's items are the calls as the provider recorded them; the streamed pieces
        # stand in when a server leaves them out.
        final = [item for item in map(as_dict, as_list(response.get("output"))) if item.get("type") == "function_call"]
        calls = streamed_calls
        if not calls:
            calls = tuple(
                FunctionCall(
                    as_str(i.get("call_id")) or new_call_id(), as_str(i.get("name")), as_str(i.get("arguments"))
                )
                for i in final
            )
        elif len(final) == len(calls):  # the ids the stream showed; the arguments as finally recorded
            calls = tuple(
                FunctionCall(c.call_id, c.name or as_str(i.get("name")), as_str(i.get("arguments")) or c.arguments)
                for c, i in zip(calls, final, strict=True)
            )
        counted = usage_counts(as_dict(response.get("usage")), "input_tokens", "output_tokens")
        cut_off = response.get("status") == "incomplete" and reason == "max_output_tokens"
        citations = _final_citations(parts)
        return ModelDone(usage=counted, text=text or None, calls=calls, citations=citations, cut_off=cut_off)

    @staticmethod
    def _failed(response: dict[str, Any]) -> ModelCallFailed:
        code = as_dict(response.get("error")).get("code")
        logger.warning("model response failed code=%s", code)
        if code == RATE_LIMIT_EXCEEDED:
            return ModelCallFailed(RATE_LIMIT_EXCEEDED, RATE_LIMITED_MESSAGE)
        return ModelCallFailed(SERVER_ERROR, "The model failed to answer.")
