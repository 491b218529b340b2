"""A fake OpenAI server: the endpoints the service calls, answering with the real JSON shapes.

Used in-process by the tests (through the real `openai` SDK over an ASGI transport) and as a
real process for black-box checks and benchmarks::

    python -m tests.fakes.fake_openai --port 8100 --latency 0.05
    python -m tests.fakes.fake_openai --port 8100 --model-flavour llama-server --context-tokens 1024

State lives in memory. Every request is recorded (method, path, JSON body, headers) so tests
can assert on exactly what reached the upstream. `fail_next` makes the next matching request
answer with an error, as OpenAI would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tests.fakes.fake_assistant_streams import StreamScript, run_events
from tests.fakes.fake_files import add_file_routes
from tests.fakes.fake_ids import new_id
from tests.fakes.fake_model_rules import FLAVOURS
from tests.fakes.fake_models import add_model_routes

ACTIVE_RUN_STATUSES = {"queued", "in_progress", "requires_action", "cancelling"}


def openai_error(
    status: int, message: str, type_: str = "invalid_request_error", code: str | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": {"message": message, "type": type_, "param": None, "code": code}},
    )


@dataclass
class RecordedRequest:
    method: str
    path: str
    body: Any
    headers: dict[str, str]


@dataclass
class PlannedFailure:
    status: int
    message: str
    type_: str
    code: str | None
    headers: dict[str, str]
    path_contains: str | None
    hang_s: float = 0.0
    # "before": answer the failure without doing the work; "after": do the work, then (after hang_s)
    # answer the failure; "slow": wait hang_s, then do the work and answer it; "drop": do the work,
    # then cut the connection in the middle of the answer.
    mode: str = "before"
    method: str | None = None  # only requests with this method (None: any)


@dataclass
class FakeOpenAI:
    """The fake's state and knobs; `app` is the ASGI app serving it."""

    latency_s: float = 0.0
    run_seconds: float = 0.05
    reply_prefix: str = "Echo: "
    valid_keys: set[str] | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    threads: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    assistants: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[PlannedFailure] = field(default_factory=list)
    stream_script: StreamScript = field(default_factory=StreamScript)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    file_contents: dict[str, bytes] = field(default_factory=dict)
    vector_stores: dict[str, list[str]] = field(default_factory=dict)
    vector_store_names: dict[str, str] = field(default_factory=dict)
    vector_store_expiry: dict[str, dict[str, Any]] = field(default_factory=dict)  # `expires_after` as sent
    file_batches: dict[str, dict[str, Any]] = field(default_factory=dict)  # by id: the batch object, and `_files`
    record: bool = True
    open_streams: int = 0

    def __post_init__(self) -> None:
        self.app = self._build_app()

    # ---- knobs for tests -------------------------------------------------------------
    def fail_next(
        self,
        status: int,
        message: str = "Planned failure.",
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        headers: dict[str, str] | None = None,
        path_contains: str | None = None,
        times: int = 1,
        hang_s: float = 0.0,
        mode: str = "before",
        method: str | None = None,
    ) -> None:
        """The next `times` requests (whose path contains `path_contains`) fail this way (see PlannedFailure)."""
        for _ in range(times):
            failure = PlannedFailure(status, message, type_, code, headers or {}, path_contains, hang_s, mode, method)
            self.failures.append(failure)

    def add_assistant(
        self,
        assistant_id: str = "asst_test",
        tools: list[dict[str, Any]] | None = None,
        vector_store_ids: list[str] | None = None,
    ) -> dict[str, Any]:
        assistant = {
            "id": assistant_id,
            "object": "assistant",
            "created_at": int(time.time()),
            "name": "Quickstart Assistant",
            "description": None,
            "model": "gpt-4o-mini",
            "instructions": "You are a helpful assistant.",
            "tools": tools if tools is not None else [{"type": "code_interpreter"}],
            "tool_resources": {"file_search": {"vector_store_ids": vector_store_ids or []}},
            "metadata": {},
            "temperature": 1.0,
            "top_p": 1.0,
            "response_format": "auto",
        }
        self.assistants[assistant_id] = assistant
        return assistant

    def add_thread(self, thread_id: str | None = None) -> str:
        thread_id = thread_id or new_id("thread_")
        self.threads[thread_id] = {
            "id": thread_id,
            "object": "thread",
            "created_at": int(time.time()),
            "metadata": {},
            "tool_resources": {},
        }
        self.messages[thread_id] = []
        self.runs[thread_id] = []
        return thread_id

    def requests_to(self, method: str, path_suffix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.endswith(path_suffix)]

    def upstream_paths(self) -> list[str]:
        return [r.path for r in self.requests]

    # ---- state rules -----------------------------------------------------------------
    def run_status(self, run: dict[str, Any]) -> str:
        """Advance a run by the clock: queued -> in_progress -> completed (with a reply)."""
        if run.get("_streamed"):
            return run["status"]
        if run["status"] in ("queued", "in_progress") and time.time() - run["_started"] >= self.run_seconds:
            self.complete_run(run)
        elif run["status"] == "queued":
            run["status"] = "in_progress"
            run["started_at"] = int(time.time())
        return run["status"]

    def complete_run(self, run: dict[str, Any]) -> None:
        thread_id = run["thread_id"]
        reply = self.reply_prefix + self.last_user_text(thread_id)
        self.messages[thread_id].append(self.new_message(thread_id, "assistant", reply, run_id=run["id"]))
        run.update(
            status="completed",
            completed_at=int(time.time()),
            usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        )

    def active_run(self, thread_id: str) -> dict[str, Any] | None:
        for run in self.runs[thread_id]:
            if self.run_status(run) in ACTIVE_RUN_STATUSES:
                return run
        return None

    def find_run(self, thread_id: str, run_id: str) -> dict[str, Any] | None:
        return next((r for r in self.runs.get(thread_id, []) if r["id"] == run_id), None)

    def last_user_text(self, thread_id: str) -> str:
        texts = [m["content"][0]["text"]["value"] for m in self.messages[thread_id] if m["role"] == "user"]
        return texts[-1] if texts else ""

    def new_message(self, thread_id: str, role: str, text: str, run_id: str | None = None) -> dict[str, Any]:
        return {
            "id": new_id("msg_"),
            "object": "thread.message",
            "created_at": int(time.time()),
            "assistant_id": None,
            "thread_id": thread_id,
            "run_id": run_id,
            "role": role,
            "status": "completed",
            "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
            "attachments": [],
            "metadata": {},
        }

    def new_run(self, thread_id: str, assistant_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """A queued run of the assistant on the thread, as `POST /runs` with `body` creates it (newest first)."""
        assistant = self.assistants[assistant_id]
        now = int(time.time())
        run = {
            "id": new_id("run_"),
            "object": "thread.run",
            "created_at": now,
            "assistant_id": assistant_id,
            "thread_id": thread_id,
            "status": "queued",
            "started_at": None,
            "expires_at": now + 600,
            "cancelled_at": None,
            "failed_at": None,
            "completed_at": None,
            "required_action": None,
            "last_error": None,
            "model": body.get("model") or assistant["model"],
            "instructions": body.get("instructions") or assistant["instructions"],
            "tools": body.get("tools") if body.get("tools") is not None else assistant["tools"],
            "metadata": body.get("metadata") or {},
            "incomplete_details": None,
            "usage": None,
            "temperature": 1.0,
            "top_p": 1.0,
            "max_prompt_tokens": body.get("max_prompt_tokens"),
            "max_completion_tokens": body.get("max_completion_tokens"),
            "truncation_strategy": body.get("truncation_strategy") or {"type": "auto", "last_messages": None},
            "response_format": "auto",
            "tool_choice": "auto",
            "parallel_tool_calls": True,
            "_started": time.time(),
        }
        self.runs[thread_id].insert(0, run)
        return run

    def stream_run(self, run: dict[str, Any]) -> StreamingResponse:
        """Answer with the run's events as SSE, as the next `stream_script` says (then reset it)."""
        run["_streamed"] = True
        script, self.stream_script = self.stream_script, StreamScript()
        return DisconnectAwareStreamingResponse(run_events(self, run, script), media_type="text/event-stream")

    @staticmethod
    def public(obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    # ---- the HTTP app ------------------------------------------------------------------
    def _build_app(self) -> FastAPI:
        app = FastAPI()
        app.add_middleware(_RecordAndFail, fake=self)
        _add_assistant_routes(app, self)
        _add_thread_routes(app, self)
        _add_message_routes(app, self)
        _add_run_routes(app, self)
        _add_one_run_routes(app, self)
        add_file_routes(app, self)
        _add_control_routes(app, self)
        self.models = add_model_routes(app)  # /v1/responses and /v1/chat/completions (tests/fakes/fake_models.py)
        return app


def _add_control_routes(app: FastAPI, fake: FakeOpenAI) -> None:
    """`/_fake/...`: what a test needs when the fake runs as a process of its own."""

    @app.post("/_fake/threads")
    async def add_thread() -> Response:
        return JSONResponse({"id": fake.add_thread()})

    @app.get("/_fake/threads/{thread_id}")
    async def thread_state(thread_id: str) -> Response:
        runs = [fake.public(run) for run in fake.runs.get(thread_id, [])]
        return JSONResponse({"messages": fake.messages.get(thread_id, []), "runs": runs})

    @app.get("/_fake/requests")
    async def recorded_requests() -> Response:
        """Every request received so far (recorded on arrival, before any latency): a test's signal."""
        return JSONResponse([{"method": r.method, "path": r.path} for r in fake.requests])

    @app.post("/_fake/fail_next")
    async def fail_next(request: Request) -> Response:
        fake.fail_next(**await _json(request))
        return JSONResponse({"planned": len(fake.failures)})


def _add_assistant_routes(app: FastAPI, fake: FakeOpenAI) -> None:
    @app.get("/v1/assistants/{assistant_id}")
    async def retrieve_assistant(assistant_id: str) -> Response:
        if assistant_id not in fake.assistants:
            return openai_error(404, f"No assistant found with id '{assistant_id}'.")
        return JSONResponse(fake.assistants[assistant_id])

    @app.post("/v1/assistants")
    async def create_assistant(request: Request) -> Response:
        body = await _json(request)
        assistant = fake.add_assistant(new_id("asst_"), tools=body.get("tools") or [])
        assistant.update({k: body[k] for k in ("name", "model", "instructions") if k in body})
        return JSONResponse(assistant)

    @app.post("/v1/assistants/{assistant_id}")
    async def update_assistant(assistant_id: str, request: Request) -> Response:
        if assistant_id not in fake.assistants:
            return openai_error(404, f"No assistant found with id '{assistant_id}'.")
        body = await _json(request)
        fields = ("name", "description", "model", "instructions", "tools", "tool_resources", "metadata")
        fake.assistants[assistant_id].update({k: body[k] for k in fields if k in body})
        return JSONResponse(fake.assistants[assistant_id])


def _add_thread_routes(app: FastAPI, fake: FakeOpenAI) -> None:
    @app.post("/v1/threads")
    async def create_thread(request: Request) -> Response:
        body = await _json(request)
        thread_id = fake.add_thread()
        thread = fake.threads[thread_id]
        if body.get("tool_resources"):
            thread["tool_resources"] = body["tool_resources"]
        for message in body.get("messages") or []:
            fake.messages[thread_id].append(fake.new_message(thread_id, message["role"], message["content"]))
        return JSONResponse(thread)

    @app.get("/v1/threads/{thread_id}")
    async def retrieve_thread(thread_id: str) -> Response:
        if thread_id not in fake.threads:
            return _no_thread(thread_id)
        return JSONResponse(fake.threads[thread_id])

    @app.post("/v1/threads/{thread_id}")
    async def update_thread(thread_id: str, request: Request) -> Response:
        if thread_id not in fake.threads:
            return _no_thread(thread_id)
        body = await _json(request)
        thread = fake.threads[thread_id]
        if "tool_resources" in body:
            thread["tool_resources"] = {**thread["tool_resources"], **body["tool_resources"]}
        if "metadata" in body:
            thread["metadata"] = body["metadata"]
        return JSONResponse(thread)


def _add_message_routes(app: FastAPI, fake: FakeOpenAI) -> None:
    @app.post("/v1/threads/{thread_id}/messages")
    async def create_message(thread_id: str, request: Request) -> Response:
        if thread_id not in fake.threads:
            return _no_thread(thread_id)
        active = fake.active_run(thread_id)
        if active is not None:
            return openai_error(400, f"Can't add messages to {thread_id} while a run {active['id']} is active.")
        body = await _json(request)
        message = fake.new_message(thread_id, body.get("role", "user"), body["content"])
        fake.messages[thread_id].append(message)
        return JSONResponse(message)

    @app.get("/v1/threads/{thread_id}/messages")
    async def list_messages(
        thread_id: str, order: str = "desc", limit: int = 20, after: str | None = None, before: str | None = None
    ) -> Response:
        if thread_id not in fake.threads:
            return _no_thread(thread_id)
        for run in fake.runs[thread_id]:
            fake.run_status(run)
        return JSONResponse(_page(fake.messages[thread_id], order, limit, after, before))


def _add_run_routes(app: FastAPI, fake: FakeOpenAI) -> None:
    @app.post("/v1/threads/{thread_id}/runs")
    async def create_run(thread_id: str, request: Request) -> Response:
        if thread_id not in fake.threads:
            return _no_thread(thread_id)
        body = await _json(request)
        assistant_id = body.get("assistant_id")
        if assistant_id not in fake.assistants:
            return openai_error(404, f"No assistant found with id '{assistant_id}'.")
        active = fake.active_run(thread_id)
        if active is not None:
            return openai_error(400, f"Thread {thread_id} already has an active run {active['id']}.")
        for message in body.get("additional_messages") or []:
            fake.messages[thread_id].append(fake.new_message(thread_id, message["role"], message["content"]))
        run = fake.new_run(thread_id, assistant_id, body)
        if body.get("stream"):
            return fake.stream_run(run)
        return JSONResponse(fake.public(run))

    @app.get("/v1/threads/{thread_id}/runs")
    async def list_runs(
        thread_id: str, order: str = "desc", limit: int = 20, after: str | None = None, before: str | None = None
    ) -> Response:
        if thread_id not in fake.threads:
            return _no_thread(thread_id)
        for run in fake.runs[thread_id]:
            fake.run_status(run)
        runs = [fake.public(r) for r in reversed(fake.runs[thread_id])]
        return JSONResponse(_page(runs, order, limit, after, before))


def _add_one_run_routes(app: FastAPI, fake: FakeOpenAI) -> None:
    @app.get("/v1/threads/{thread_id}/runs/{run_id}")
    async def retrieve_run(thread_id: str, run_id: str) -> Response:
        run = fake.find_run(thread_id, run_id)
        if run is None:
            return _no_run(run_id)
        fake.run_status(run)
        return JSONResponse(fake.public(run))

    @app.post("/v1/threads/{thread_id}/runs/{run_id}/submit_tool_outputs")
    async def submit_tool_outputs(thread_id: str, run_id: str, request: Request) -> Response:
        run = fake.find_run(thread_id, run_id)
        if run is None:
            return _no_run(run_id)
        if run["status"] != "requires_action":
            return openai_error(
                400, f'Runs in status "{run["status"]}" do not accept tool outputs.', code="invalid_state"
            )
        body = await _json(request)
        run.update(status="queued", required_action=None, _tool_outputs=body.get("tool_outputs") or [])
        if body.get("stream"):
            run["status"] = "in_progress"
            return fake.stream_run(run)
        fake.complete_run(run)
        return JSONResponse(fake.public(run))

    @app.post("/v1/threads/{thread_id}/runs/{run_id}/cancel")
    async def cancel_run(thread_id: str, run_id: str) -> Response:
        run = fake.find_run(thread_id, run_id)
        if run is None:
            return _no_run(run_id)
        if fake.run_status(run) not in ACTIVE_RUN_STATUSES:
            return openai_error(400, f"Cannot cancel run with status '{run['status']}'.")
        run.update(status="cancelled", cancelled_at=int(time.time()))
        return JSONResponse(fake.public(run))


class DisconnectAwareStreamingResponse(StreamingResponse):
    """Notices a client that hangs up even while the body waits (Starlette's pre-ASGI-2.4 path)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await super().__call__({**scope, "asgi": {**scope.get("asgi", {}), "spec_version": "2.3"}}, receive, send)


class _RecordAndFail:
    """Records every request, adds the latency, answers planned failures (plain ASGI: cheap per request)."""

    def __init__(self, app: Any, fake: FakeOpenAI) -> None:
        self.app = app
        self.fake = fake

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_fake/"):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        raw = b"".join(chunks)
        failure = await self._planned(Request(scope), raw)
        if failure is not None and failure.mode == "before":
            await _failure_response(failure)(scope, receive, send)
            return
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        if failure is None:
            await self.app(scope, replay, send)
        else:
            await _after_the_work(failure, self.app, scope, replay, send)

    async def _planned(self, request: Request, raw: bytes) -> PlannedFailure | None:
        fake = self.fake
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        if fake.record:
            fake.requests.append(RecordedRequest(request.method, request.url.path, body, dict(request.headers)))
        if fake.latency_s:
            await asyncio.sleep(fake.latency_s)
        if fake.valid_keys is not None:
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            if token not in fake.valid_keys:
                return PlannedFailure(
                    401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key", {}, None
                )
        for failure in list(fake.failures):
            if failure.method not in (None, request.method):
                continue
            if failure.path_contains is None or failure.path_contains in request.url.path:
                fake.failures.remove(failure)
                if failure.hang_s and failure.mode in ("before", "slow"):
                    await asyncio.sleep(failure.hang_s)
                return failure
        return None


def _failure_response(failure: PlannedFailure) -> Response:
    response = openai_error(failure.status, failure.message, failure.type_, failure.code)
    response.headers.update(failure.headers)
    return response


async def _after_the_work(failure: PlannedFailure, app: Any, scope: Any, receive: Any, send: Any) -> None:
    """Do the work; then answer it (slow), answer the failure instead (after), or cut the answer (drop)."""
    if failure.mode == "slow":
        await app(scope, receive, send)
        return
    started: list[dict[str, Any]] = []

    async def hold(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.append(message)

    await app(scope, receive, hold)
    if failure.mode == "drop":
        head = started[0] if started else {"type": "http.response.start", "status": 200, "headers": []}
        headers = [(k, v) for k, v in head["headers"] if k.lower() != b"content-length"]
        await send({**head, "headers": [*headers, (b"content-length", b"1000")]})
        await send({"type": "http.response.body", "body": b'{"id": "run_', "more_body": True})
        raise ConnectionAbortedError("the fake cuts the answer")  # the server closes the connection mid-answer
    if failure.hang_s:
        await asyncio.sleep(failure.hang_s)
    await _failure_response(failure)(scope, receive, send)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    return json.loads(raw) if raw else {}


def _no_thread(thread_id: str) -> JSONResponse:
    return openai_error(404, f"No thread found with id '{thread_id}'.")


def _no_run(run_id: str) -> JSONResponse:
    return openai_error(404, f"No run found with id '{run_id}'.")


def _page(items: list[dict[str, Any]], order: str, limit: int, after: str | None, before: str | None) -> dict[str, Any]:
    ordered = list(items) if order == "asc" else list(reversed(items))
    ids = [item["id"] for item in ordered]
    if after in ids:
        ordered = ordered[ids.index(after) + 1 :]
    elif before in ids:
        ordered = ordered[: ids.index(before)]
    page = ordered[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(ordered) > limit,
    }


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Run the fake OpenAI server on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument("--run-seconds", type=float, default=0.5, help="how long a run stays active")
    parser.add_argument("--assistant-id", default="asst_fake")
    parser.add_argument("--threads", type=int, default=0, help="threads to pre-create (ids printed)")
    parser.add_argument("--thread-prefix", default="", help="pre-created thread ids are thread_<prefix><n>")
    parser.add_argument("--record", action="store_true", help="keep every request, for GET /_fake/requests")
    parser.add_argument("--model-flavour", choices=FLAVOURS, default="strict", help="which model server's rules")
    parser.add_argument("--context-tokens", type=int, default=None, help="the model server's context size")
    args = parser.parse_args()
    fake = FakeOpenAI(latency_s=args.latency, run_seconds=args.run_seconds, record=args.record)
    fake.models.flavour, fake.models.context_tokens = args.model_flavour, args.context_tokens
    fake.add_assistant(args.assistant_id)
    fake.add_thread("thread_demo")
    for n in range(args.threads):
        fake.add_thread(f"thread_{args.thread_prefix}{n}")
    uvicorn.run(fake.app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
