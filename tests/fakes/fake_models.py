"""Fake model endpoints for the hosted engine: `POST /v1/responses` and `POST /v1/chat/completions`.

Streaming answers use the exact wire formats of docs/wire-formats.md sections 3 (Responses: `event:` and
`data:` lines, a `sequence_number` on every event, no `[DONE]`) and 5 (Chat Completions: `data:`
lines, a usage-only chunk, `data: [DONE]`); non-streaming answers are the full JSON objects.

`add_model_routes(app)` adds the routes to the FakeOpenAI app and returns the `FakeModels` state. It is as
strict as the real servers (fake_model_rules.py: `flavour`, strict by default) and can have a context limit
(`context_tokens`, counted as a byte-level tokenizer does). Every call is recorded (`calls`, with the
request body and how the call ended) and each call behaves as planned with `plan(...)` (else as
`default`): latency between deltas, an HTTP error status, a hang, a stream cut short, an error event, a
gate the stream waits on, or what local servers do: a 400 for a prompt over a context size, an empty 200
stream, no usage. A fake running as a process takes plans at `POST /_fake/models/plan` (a JSON object of
ModelBehaviour's fields) and its server's rules at `POST /_fake/models/server`. Gates open at
`POST /_fake/models/open_gates` too: for a client of a fake served in a thread.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tests.fakes.fake_model_rules import (
    FLAVOURS,
    PEG_MISMATCH,
    RULES,
    Flavour,
    Rules,
    context_refusal,
    count_tokens,
    forced_calls,
    request_refusal,
)

ECHO_PREFIX = "Echo: "


@dataclass
class ModelBehaviour:
    """How one model call answers."""

    reply: str | None = None  # None: ECHO_PREFIX + the last user message
    delay_s: float = 0.0  # before each text delta
    status: int | None = None  # answer with this HTTP error status instead
    hang_s: float = 0.0  # after the headers, wait this long before the first event (or the JSON answer)
    gate: asyncio.Event | None = None  # wait for it before the first event (in-process only)
    cut_after: int | None = None  # end the stream after this many deltas, without the final events
    error_event: bool = False  # with cut_after: send the provider's error event, then end
    error_message: str = "The server had an error."  # the error event's message
    drop: bool = False  # with cut_after: the server drops the connection (served on a socket: live_fake)
    finish: Literal["completed", "incomplete", "failed"] = "completed"
    # Answer with these function calls instead of text: `{"name", "arguments"}` (optional `call_id`).
    calls: list[dict[str, str]] | None = None
    call_style: Literal["openai", "llamacpp"] = "openai"  # llamacpp: every chunk repeats id, type, name
    # Responses API: file citations of the text, `{"file_id", "filename", "index"}` (index: position in the
    # text), announced by `response.output_text.annotation.added` events after the deltas (`cite_in_stream`)
    # and listed on the final output_text part.
    citations: list[dict[str, Any]] | None = None
    cite_in_stream: bool = True
    # Responses API: a code_interpreter call before the text, `{"code", "logs"}`.
    code: dict[str, str] | None = None
    # Responses API: a file_search call before the text (not with `code`), with these queries.
    search: list[str] | None = None
    # Servers with a small context: answer 400 (as llama-server words it) when the request's text
    # (ModelCall.prompt_chars) is longer than this.
    context_chars: int | None = None
    empty: bool = False  # answer 200 with an empty stream, no event at all (llama-cpp-python over its context)
    usage: bool = True  # False: no usage (no usage chunk although asked for, as llama-cpp-python; Responses: null)
    # Set by the flavour's rules for this call (not planned): see fake_model_rules.Rules.
    rules: Rules = RULES["openai"]
    prompt_tokens: int | None = None  # the prompt as the server counted it (with a context limit)


@dataclass
class ModelCall:
    """One request that reached a model endpoint, and how it ended."""

    api: Literal["responses", "chat_completions"]
    body: dict[str, Any]
    outcome: str = "running"  # completed, aborted (the client went away), cut, error_event, failed, http_<status>

    def summary(self) -> dict[str, Any]:
        return {"api": self.api, "outcome": self.outcome, "tokens": count_tokens(self.body), "turns": len(self.turns)}

    @property
    def instructions(self) -> str | None:
        if self.api == "responses":
            return self.body.get("instructions")
        first = (self.body.get("messages") or [{}])[0]
        return first.get("content") if first.get("role") in ("system", "developer") else None

    @property
    def prompt_chars(self) -> int:
        """How many characters of text the request carries: instructions, messages, tool calls and outputs."""
        return sum(
            len(text) for text in _strings([self.body.get(key) for key in ("instructions", "input", "messages")])
        )

    @property
    def turns(self) -> list[tuple[str, str]]:
        """The conversation the model was given, as (role, text), without the instructions."""
        if self.api == "responses":
            items = self.body.get("input")
            if isinstance(items, str):
                return [("user", items)]
            return [(item["role"], _text_of(item["content"])) for item in items or [] if "role" in item]
        messages = self.body.get("messages") or []
        return [
            (m["role"], _text_of(m["content"]))
            for m in messages
            if m["role"] not in ("system", "developer", "tool") and not m.get("tool_calls")
        ]

    @property
    def tool_exchange(self) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
        """The function calls (call_id, name, arguments) and outputs (call_id, output) the model was given."""
        if self.api == "responses":
            items = self.body.get("input") or []
            calls = [(i["call_id"], i["name"], i["arguments"]) for i in items if i.get("type") == "function_call"]
            outputs = [(i["call_id"], i["output"]) for i in items if i.get("type") == "function_call_output"]
            return calls, outputs
        messages = self.body.get("messages") or []
        calls = [
            (c["id"], c["function"]["name"], c["function"]["arguments"])
            for m in messages
            for c in m.get("tool_calls") or []
        ]
        outputs = [(m["tool_call_id"], m["content"]) for m in messages if m["role"] == "tool"]
        return calls, outputs


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    return [text for item in value for text in _strings(item)] if isinstance(value, list) else []


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [])


@dataclass
class FakeModels:
    default: ModelBehaviour = field(default_factory=ModelBehaviour)
    planned: list[ModelBehaviour] = field(default_factory=list)
    calls: list[ModelCall] = field(default_factory=list)
    gates: list[asyncio.Event] = field(default_factory=list)  # those of the calls made so far
    flavour: Flavour = "strict"  # which real server's rules (fake_model_rules.py)
    context_tokens: int | None = None  # the server's context (a slot's: llama-server's -c / -np)

    def plan(self, **behaviour: Any) -> ModelBehaviour:
        """The next call (after those already planned) behaves like this."""
        planned = ModelBehaviour(**behaviour)
        self.planned.append(planned)
        return planned

    def summaries(self) -> list[dict[str, Any]]:
        return [call.summary() for call in self.calls]

    def plan_from_json(self, behaviour: Any) -> JSONResponse:
        """`plan(...)` with ModelBehaviour's fields as JSON (no gate, no rules)."""
        if not isinstance(behaviour, dict) or "gate" in behaviour or "rules" in behaviour:
            return JSONResponse({"error": "expected ModelBehaviour fields other than gate"}, status_code=400)
        self.plan(**behaviour)
        return JSONResponse({"planned": len(self.planned)})

    def configure(self, config: dict[str, Any]) -> JSONResponse:
        """Set `flavour` and `context_tokens` from `config` (either may be left out); 400 for no such flavour."""
        if config.get("flavour", self.flavour) not in FLAVOURS:
            return JSONResponse({"error": f"flavour: one of {', '.join(FLAVOURS)}"}, status_code=400)
        self.flavour = config.get("flavour", self.flavour)
        self.context_tokens = config.get("context_tokens", self.context_tokens)
        return JSONResponse({"flavour": self.flavour, "context_tokens": self.context_tokens})

    def begin(self, call: ModelCall) -> tuple[ModelCall, ModelBehaviour, Response | None]:
        """The call recorded, how it behaves under the server's rules, and its refusal (None: it is answered)."""
        self.calls.append(call)
        behaviour = _under_rules(call, self.next_behaviour(), self)
        if (refused := _refusal(call, behaviour, self)) is not None:
            return call, behaviour, refused
        behaviour, refused = _with_tool_choice(call, behaviour)
        return call, behaviour, refused

    def next_behaviour(self) -> ModelBehaviour:
        behaviour = self.planned.pop(0) if self.planned else replace(self.default)
        if behaviour.gate is not None:
            self.gates.append(behaviour.gate)
        return behaviour

    def open_gates(self) -> None:
        """Open the gates of the calls made and planned."""
        for gate in [*self.gates, *(behaviour.gate for behaviour in self.planned if behaviour.gate is not None)]:
            gate.set()

    def reply_for(self, call: ModelCall, behaviour: ModelBehaviour) -> str:
        if behaviour.reply is not None:
            return behaviour.reply
        users = [text for role, text in call.turns if role == "user"]
        return ECHO_PREFIX + (users[-1] if users else "")


def split_deltas(text: str) -> list[str]:
    """Word-sized deltas, as a model streams them (their concatenation is the text)."""
    return re.findall(r"\s*\S+|\s+$", text) or ([text] if text else [])


def _id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def _refusal(call: ModelCall, behaviour: ModelBehaviour, models: FakeModels) -> Response | None:
    """The answer instead of the model's, if the behaviour or the server's rules refuse this call: an HTTP
    error, or an empty stream."""
    if behaviour.status is not None:
        call.outcome = f"http_{behaviour.status}"
        return _openai_error(behaviour.status)
    refused = request_refusal(behaviour.rules, call.api, call.body)
    if refused is None and models.context_tokens is not None:
        refused = context_refusal(behaviour.rules, call.api, call.body, models.context_tokens)
    if refused is not None:
        call.outcome = "empty" if refused.status_code == 200 else f"http_{refused.status_code}"
        return refused
    if behaviour.context_chars is not None and call.prompt_chars > behaviour.context_chars:
        call.outcome = "http_400"
        message = "the request exceeds the available context size, try increasing it"
        error = {"code": 400, "message": message, "type": "exceed_context_size_error"}
        return JSONResponse(status_code=400, content={"error": error})
    if behaviour.empty and call.body.get("stream"):
        call.outcome = "empty"
        return Response(content=b"", media_type="text/event-stream")
    return None


def _with_tool_choice(call: ModelCall, behaviour: ModelBehaviour) -> tuple[ModelBehaviour, Response | None]:
    """The behaviour as the request's tool_choice makes it under the server's rules, or the empty stream."""
    choice, calls = forced_calls(behaviour.rules, call.api, call.body)
    if choice == "empty" and call.body.get("stream"):  # llama-cpp-python asserts; the stream stays empty
        call.outcome = "empty"
        return behaviour, Response(content=b"", media_type="text/event-stream")
    if choice == "error_event":  # llama-server: the template's parser fails mid-stream
        return replace(behaviour, calls=None, cut_after=2, error_event=True, error_message=PEG_MISMATCH), None
    if choice == "no tools":
        return replace(behaviour, calls=None), None
    if choice == "call" and behaviour.calls is None:
        return replace(behaviour, calls=calls), None
    return behaviour, None


def _under_rules(call: ModelCall, behaviour: ModelBehaviour, models: FakeModels) -> ModelBehaviour:
    """The planned behaviour as the server's flavour shapes it."""
    rules = RULES[models.flavour]
    prompt_tokens = count_tokens(call.body) if models.context_tokens is not None else None
    call_style = "llamacpp" if rules.call_style == "llamacpp" else behaviour.call_style
    return replace(
        behaviour,
        rules=rules,
        usage=behaviour.usage and rules.stream_usage,
        call_style=call_style,
        prompt_tokens=prompt_tokens,
    )


def _openai_error(status: int) -> JSONResponse:
    type_ = {429: "rate_limit_error", 401: "authentication_error"}.get(status, "server_error")
    message = {429: "Rate limit reached for requests."}.get(status, "The server had an error.")
    return JSONResponse(
        status_code=status, content={"error": {"message": message, "type": type_, "param": None, "code": None}}
    )


async def _wait_before_answering(behaviour: ModelBehaviour) -> None:
    if behaviour.gate is not None:
        await behaviour.gate.wait()
    if behaviour.hang_s:
        await asyncio.sleep(behaviour.hang_s)


def add_model_routes(app: FastAPI) -> FakeModels:
    """Serve the fake model endpoints from `app`; returns their state."""
    models = FakeModels()

    async def answer(request: Request, api: Literal["responses", "chat_completions"]) -> Response:
        raw = await request.body()
        call, behaviour, refused = models.begin(ModelCall(api, json.loads(raw or b"{}")))
        return refused or await _answer(call, behaviour, models.reply_for(call, behaviour))

    @app.post("/v1/responses")
    async def create_response(request: Request) -> Response:
        return await answer(request, "responses")

    @app.post("/v1/chat/completions")
    async def create_chat_completion(request: Request) -> Response:
        return await answer(request, "chat_completions")

    _add_control_routes(app, models)
    return models


def _add_control_routes(app: FastAPI, models: FakeModels) -> None:
    @app.post("/_fake/models/server")
    async def configure_server(request: Request) -> Response:
        """For a fake running as a process: `{"flavour", "context_tokens"}` (either may be left out)."""
        return models.configure(await request.json())

    @app.get("/_fake/models/calls")
    async def model_calls() -> Response:
        """For a fake running as a process: each call's API, outcome, prompt tokens and conversation turns."""
        return JSONResponse(models.summaries())

    @app.post("/_fake/models/plan")
    async def plan_model_call(request: Request) -> Response:
        """`plan(...)` for a fake running as a process: the body is ModelBehaviour's fields (no gate)."""
        return models.plan_from_json(await request.json())

    @app.post("/_fake/models/open_gates")
    async def open_gates() -> Response:
        """`open_gates()` for a client of a fake served in a thread (it cannot reach the fake's loop)."""
        models.open_gates()
        return JSONResponse({"opened": True})


async def _answer(call: ModelCall, behaviour: ModelBehaviour, reply: str) -> Response:
    """The model's answer: a stream, or (without `stream`) the whole JSON object."""
    answer = (
        _ResponsesAnswer(call, behaviour, reply) if call.api == "responses" else _ChatAnswer(call, behaviour, reply)
    )
    if call.body.get("stream"):
        return StreamingResponse(_tracked(call, behaviour, answer.events()), media_type="text/event-stream")
    await _wait_before_answering(behaviour)
    call.outcome = "completed"
    return JSONResponse(answer.whole())


async def _tracked(call: ModelCall, behaviour: ModelBehaviour, body: AsyncIterator[str]) -> AsyncIterator[str]:
    """Stream `body`; a stream that does not reach its end because the client left is `aborted`."""
    try:
        await _wait_before_answering(behaviour)
        async for piece in body:
            yield piece
        if call.outcome == "running":
            call.outcome = "completed"
    finally:
        if call.outcome == "running":
            call.outcome = "aborted"


def _cut(call: ModelCall, behaviour: ModelBehaviour, error_event: str) -> list[str]:
    """How a stream cut short ends: with the provider's error event, quietly, or with the connection dropped."""
    if behaviour.drop:
        call.outcome = "dropped"
        raise ConnectionAbortedError("the fake drops the connection mid-answer")
    call.outcome = "error_event" if behaviour.error_event else "cut"
    return [error_event] if behaviour.error_event else []


def _usage_counts(call: ModelCall, behaviour: ModelBehaviour, deltas: list[str]) -> tuple[int, int]:
    """(prompt, completion) tokens: the server's count with a context limit, else words."""
    prompt = behaviour.prompt_tokens
    if prompt is None:
        prompt = sum(len(text.split()) for _, text in call.turns) + len((call.instructions or "").split())
    return prompt, len(deltas)


class _ResponsesAnswer:
    """The Responses API's event sequence for one text answer (docs/wire-formats.md section 3)."""

    def __init__(self, call: ModelCall, behaviour: ModelBehaviour, reply: str) -> None:
        self.call = call
        self.behaviour = behaviour
        self.deltas = split_deltas(reply)
        self.text = reply
        self.response_id = _id("resp_")
        self.item_id = _id("msg_")
        self.created_at = int(time.time())
        self.sequence = 0
        self.code_item_id = _id("ci_")
        self.search_item_id = _id("fs_")
        self.container_id = _id("cntr_")

    def _sse(self, type_: str, **fields: Any) -> str:
        data = {"type": type_, **fields, "sequence_number": self.sequence}
        self.sequence += 1
        return f"event: {type_}\ndata: {json.dumps(data)}\n\n"

    def _annotations(self) -> list[dict[str, Any]]:
        return [{"type": "file_citation", **citation} for citation in self.behaviour.citations or []]

    def _item(self, status: str, text: str | None) -> dict[str, Any]:
        part = {"type": "output_text", "text": text, "annotations": self._annotations(), "logprobs": []}
        content = [] if text is None else [part]
        return {"id": self.item_id, "type": "message", "status": status, "role": "assistant", "content": content}

    def _code_item(self, status: str) -> dict[str, Any]:
        """A `code_interpreter_call` output item (ResponseCodeInterpreterToolCall)."""
        code = self.behaviour.code or {}
        done = status == "completed"
        return {
            "id": self.code_item_id,
            "type": "code_interpreter_call",
            "status": status,
            "code": code.get("code", "") if done else "",
            "container_id": self.container_id,
            "outputs": [{"type": "logs", "logs": code.get("logs", "")}] if done else None,
        }

    def _search_item(self, status: str) -> dict[str, Any]:
        """A `file_search_call` output item (ResponseFileSearchToolCall)."""
        queries = self.behaviour.search or [] if status == "completed" else []
        return {"id": self.search_item_id, "type": "file_search_call", "status": status, "queries": queries}

    def _output(self) -> list[dict[str, Any]]:
        code = [self._code_item("completed")] if self.behaviour.code else []
        search = [self._search_item("completed")] if self.behaviour.search else []
        return [*code, *search, self._item("completed", self.text)]

    def search_events(self) -> list[str]:
        """The file_search call's events, at output_index 0; none without."""
        if not self.behaviour.search:
            return []
        where = {"item_id": self.search_item_id, "output_index": 0}
        found = [self._sse("response.output_item.added", output_index=0, item=self._search_item("in_progress"))]
        for stage in ("in_progress", "searching", "completed"):
            found.append(self._sse(f"response.file_search_call.{stage}", **where))
        found.append(self._sse("response.output_item.done", output_index=0, item=self._search_item("completed")))
        return found

    def citation_events(self, where: dict[str, Any]) -> list[str]:
        """`response.output_text.annotation.added` for each citation (none unless `cite_in_stream`)."""
        annotations = self._annotations() if self.behaviour.cite_in_stream else []
        return [
            self._sse("response.output_text.annotation.added", **where, annotation_index=n, annotation=annotation)
            for n, annotation in enumerate(annotations)
        ]

    def code_events(self) -> list[str]:
        """The code_interpreter call's events, at output_index 0 (the code streamed in two pieces); none without."""
        if not self.behaviour.code:
            return []
        where = {"item_id": self.code_item_id, "output_index": 0}
        code = (self.behaviour.code or {}).get("code", "")
        found = [self._sse("response.output_item.added", output_index=0, item=self._code_item("in_progress"))]
        found.append(self._sse("response.code_interpreter_call.in_progress", **where))
        for piece in (code[: len(code) // 2], code[len(code) // 2 :]):
            found.append(self._sse("response.code_interpreter_call_code.delta", **where, delta=piece))
        found.append(self._sse("response.code_interpreter_call_code.done", **where, code=code))
        found.append(self._sse("response.code_interpreter_call.interpreting", **where))
        found.append(self._sse("response.code_interpreter_call.completed", **where))
        found.append(self._sse("response.output_item.done", output_index=0, item=self._code_item("completed")))
        return found

    def whole(self) -> dict[str, Any]:
        """The response object (not streamed)."""
        return self.response("completed", with_output=True)

    def response(self, status: str, *, with_output: bool) -> dict[str, Any]:
        body = self.call.body
        done = status != "in_progress"
        prompt, completion = _usage_counts(self.call, self.behaviour, self.deltas)
        return {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "background": False,
            "error": {"code": "server_error", "message": "The model failed."} if status == "failed" else None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "model": body.get("model"),
            "output": self._output() if with_output else [],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "store": body.get("store", True),
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": body.get("tools") or [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": None
            if not self.behaviour.usage
            else {
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": completion,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": prompt + completion,
            }
            if done
            else None,
            "metadata": {},
        }

    def _call_items(self) -> list[dict[str, Any]]:
        return [
            {
                "id": f"fc_{index}{self.item_id}",
                "type": "function_call",
                "status": "completed",
                "call_id": call.get("call_id") or _id("call_"),
                "name": call["name"],
                "arguments": call["arguments"],
            }
            for index, call in enumerate(self.behaviour.calls or [])
        ]

    async def call_events(self) -> AsyncIterator[str]:
        items = self._call_items()
        yield self._sse("response.created", response=self.response("in_progress", with_output=False))
        for index, item in enumerate(items):
            yield self._sse("response.output_item.added", output_index=index, item={**item, "arguments": ""})
            arguments = item["arguments"]
            for piece in (arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]):
                yield self._sse(
                    "response.function_call_arguments.delta", item_id=item["id"], output_index=index, delta=piece
                )
            yield self._sse(
                "response.function_call_arguments.done", item_id=item["id"], output_index=index, arguments=arguments
            )
            yield self._sse("response.output_item.done", output_index=index, item=item)
        status = "incomplete" if self.behaviour.finish == "incomplete" else "completed"  # cut off by the limit
        final = self.response(status, with_output=False)
        final["output"] = items
        yield self._sse(f"response.{status}", response=final)

    async def events(self) -> AsyncIterator[str]:
        if self.behaviour.calls:
            async for event in self.call_events():
                yield event
            return
        output_index = 1 if self.behaviour.code or self.behaviour.search else 0
        where = {"item_id": self.item_id, "output_index": output_index, "content_index": 0}
        yield self._sse("response.created", response=self.response("in_progress", with_output=False))
        yield self._sse("response.in_progress", response=self.response("in_progress", with_output=False))
        for event in [
            *self.code_events(),
            *self.search_events(),
            self._sse("response.output_item.added", output_index=output_index, item=self._item("in_progress", None)),
        ]:
            yield event
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        yield self._sse("response.content_part.added", **where, part=part)
        for count, delta in enumerate(self.deltas):
            if self.behaviour.cut_after is not None and count >= self.behaviour.cut_after:
                error = self._sse("error", code="server_error", message=self.behaviour.error_message, param=None)
                for event in _cut(self.call, self.behaviour, error):
                    yield event
                return
            if self.behaviour.delay_s:
                await asyncio.sleep(self.behaviour.delay_s)
            yield self._sse("response.output_text.delta", **where, delta=delta, logprobs=[])
        if self.behaviour.finish == "failed":
            self.call.outcome = "failed"
            yield self._sse("response.failed", response=self.response("failed", with_output=False))
            return
        for event in self.citation_events(where):
            yield event
        yield self._sse("response.output_text.done", **where, text=self.text, logprobs=[])
        done_part = {"type": "output_text", "text": self.text, "annotations": self._annotations(), "logprobs": []}
        yield self._sse("response.content_part.done", **where, part=done_part)
        item = self._item("completed", self.text)
        yield self._sse("response.output_item.done", output_index=output_index, item=item)
        final = "response.incomplete" if self.behaviour.finish == "incomplete" else "response.completed"
        yield self._sse(final, response=self.response(final.split(".")[1], with_output=True))


class _ChatAnswer:
    """Chat Completions chunks for one text answer (docs/wire-formats.md section 5)."""

    def __init__(self, call: ModelCall, behaviour: ModelBehaviour, reply: str) -> None:
        self.call = call
        self.behaviour = behaviour
        self.deltas = split_deltas(reply)
        self.text = reply
        self.id = _id("chatcmpl-")
        self.created = int(time.time())
        self.model = call.body.get("model")

    def _usage(self) -> dict[str, int]:
        prompt, completion = _usage_counts(self.call, self.behaviour, self.deltas)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return "data: " + json.dumps(self._envelope([choice])) + "\n\n"

    def _envelope(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **extra,
        }

    def whole(self) -> dict[str, Any]:
        """The chat.completion object (not streamed)."""
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": self.text}, "finish_reason": "stop"}],
            "usage": self._usage(),
        }

    async def call_events(self) -> AsyncIterator[str]:
        llamacpp = self.behaviour.call_style == "llamacpp"
        for index, call in enumerate(self.behaviour.calls or []):
            call_id = call.get("call_id") or _id("call_")
            arguments = call["arguments"]
            pieces = [arguments[: len(arguments) // 2], arguments[len(arguments) // 2 :]]
            if not llamacpp:
                opening = {
                    "index": index,
                    "id": call_id,
                    "type": "function",
                    "function": {"name": call["name"], "arguments": ""},
                }
                yield self._chunk({"role": "assistant", "content": None, "tool_calls": [opening]})
            for piece in pieces:
                entry: dict[str, Any] = {"index": index, "function": {"arguments": piece}}
                delta: dict[str, Any] = {"tool_calls": [entry]}
                if llamacpp:  # id, type and name repeated; explicit nulls; the legacy function_call mirror
                    entry.update(id=call_id, type="function")
                    entry["function"]["name"] = call["name"]
                    delta.update(
                        role=None, content=None, refusal=None, function_call={"name": call["name"], "arguments": piece}
                    )
                yield self._chunk(delta)
        cut = self.behaviour.finish == "incomplete"  # cut off by max_tokens: finish as the server words it
        yield self._chunk({}, self.behaviour.rules.cut_call_finish if cut else "tool_calls")
        if self.behaviour.usage and self.call.body.get("stream_options", {}).get("include_usage"):
            yield "data: " + json.dumps(self._envelope([], usage=self._usage())) + "\n\n"
        yield "data: [DONE]\n\n"

    async def events(self) -> AsyncIterator[str]:
        if self.behaviour.calls:
            async for event in self.call_events():
                yield event
            return
        # llama-server's first delta has `"content": null` (llama-server-required-stream-head.txt).
        yield self._chunk({"role": "assistant", "content": None if self.behaviour.rules.first_delta_null else ""})
        for count, delta in enumerate(self.deltas):
            if self.behaviour.cut_after is not None and count >= self.behaviour.cut_after:
                error = {"code": 500, "message": self.behaviour.error_message, "type": "server_error"}
                for event in _cut(self.call, self.behaviour, "data: " + json.dumps({"error": error}) + "\n\n"):
                    yield event
                return
            if self.behaviour.delay_s:
                await asyncio.sleep(self.behaviour.delay_s)
            yield self._chunk({"content": delta})
        yield self._chunk({}, "length" if self.behaviour.finish == "incomplete" else "stop")
        if self.behaviour.usage and self.call.body.get("stream_options", {}).get("include_usage"):
            yield "data: " + json.dumps(self._envelope([], usage=self._usage())) + "\n\n"
        yield "data: [DONE]\n\n"
