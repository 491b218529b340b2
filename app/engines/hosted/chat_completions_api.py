"""The Chat Completions adapter (`POST /v1/chat/completions`, streamed with usage): Ollama, vLLM,
llama.cpp and other OpenAI-compatible servers. Text and function calls; no hosted tools."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from typing import Any

from app.engines.hosted.model_client import (
    ChatTurn,
    ModelDone,
    ModelEvent,
    TextDelta,
    add_options,
    as_dict,
    as_list,
    as_str,
    usage_counts,
)
from app.engines.hosted.model_errors import failure_from, stopped_early
from app.engines.hosted.tool_calls import CallPieces, FunctionCallDelta, ToolRound, call_object, function_tools
from app.errors import UpstreamError
from app.storage.threads import RunRecord
from app.upstream.client import Upstream

logger = logging.getLogger(__name__)


def _chat_messages(instructions: str, turns: Sequence[ChatTurn | ToolRound]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": instructions}]
    for turn in turns:
        if isinstance(turn, ToolRound):
            tool_calls = [call_object(call) for call in turn.calls]
            # "", not null: llama-cpp-python refuses a null content here (500).
            messages.append({"role": "assistant", "content": "", "tool_calls": tool_calls})
            messages.extend(
                {"role": "tool", "tool_call_id": call_id, "content": output} for call_id, output in turn.outputs
            )
        else:
            messages.append({"role": "assistant" if turn.role == "assistant" else "user", "content": turn.text})
    return messages


def _chat_call_pieces(calls: CallPieces, delta: dict[str, Any]) -> list[FunctionCallDelta]:
    """The pieces of `delta.tool_calls` (the legacy `function_call` mirror is ignored). OpenAI sends `id`,
    `type` and `function.name` in a call's first piece only, llama.cpp in every piece: only `arguments` join."""
    pieces: list[FunctionCallDelta] = []
    for position, entry in enumerate(map(as_dict, as_list(delta.get("tool_calls")))):
        index = entry.get("index")
        key = index if isinstance(index, int) else position
        function = as_dict(entry.get("function"))
        arguments = as_str(function.get("arguments"))
        if key not in calls:
            pieces.append(calls.open(key, as_str(entry.get("id")), as_str(function.get("name")), arguments))
        elif (piece := calls.add(key, arguments)) is not None:
            pieces.append(piece)
    return pieces


class ChatCompletionsModel:
    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream

    @staticmethod
    def _body(run: RunRecord, turns: Sequence[ChatTurn | ToolRound]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "messages": _chat_messages(run.instructions, turns),
            "model": run.model,
            # max_tokens, not max_completion_tokens: the one every compatible server understands.
            "max_tokens": run.max_completion_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools := function_tools(run.tools):
            body["tools"] = [{"type": "function", "function": tool} for tool in tools]
        add_options(run, body, flat=False)
        if isinstance(run.response_format, dict) and run.response_format.get("type") != "text":
            body["response_format"] = run.response_format
        return body

    async def stream(self, run: RunRecord, turns: Sequence[ChatTurn | ToolRound]) -> AsyncGenerator[ModelEvent, None]:
        body = self._body(run, turns)
        finish_reason: str | None = None
        usage: dict[str, int] | None = None
        calls = CallPieces()
        received = False
        try:
            async with aclosing(await self._upstream.stream("/chat/completions", body)) as chunks:
                async for item in chunks:
                    received = True
                    chunk = as_dict(item)
                    if counted := as_dict(chunk.get("usage")):
                        usage = usage_counts(counted, "prompt_tokens", "completion_tokens")
                    for choice in map(as_dict, as_list(chunk.get("choices"))[:1]):
                        delta = as_dict(choice.get("delta"))
                        content = delta.get("content")
                        if isinstance(content, str) and content:
                            yield TextDelta(content)
                        for piece in _chat_call_pieces(calls, delta):
                            yield piece
                        reason = choice.get("finish_reason")
                        if isinstance(reason, str) and reason:
                            finish_reason = reason
        except UpstreamError as exc:
            raise failure_from(exc, mid_stream=received) from exc
        if finish_reason is None:
            raise stopped_early(received)
        if finish_reason not in ("stop", "tool_calls", "function_call"):
            logger.info("model finished with reason %s; keeping what was written", finish_reason)
        yield ModelDone(usage=usage, calls=calls.done(), cut_off=finish_reason == "length")
