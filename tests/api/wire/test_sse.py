"""The SSE body: frames as openai-python/openai-node parse them, keep-alive comments while a run is quiet."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from types import SimpleNamespace

import pytest
from starlette.types import Message

from app.api.wire import event_stream, sse
from app.engines.base import StreamEvent


def test_frames_are_event_and_compact_json_data_lines() -> None:
    assert sse.sse_frame("thread.run.created", {"id": "run_1", "n": [1, 2]}) == (
        b'event: thread.run.created\ndata: {"id":"run_1","n":[1,2]}\n\n'
    )
    assert sse.sse_frame("done", "[DONE]") == b"event: done\ndata: [DONE]\n\n"


def test_the_farewell_is_an_error_then_done() -> None:
    assert sse.SSE_FAREWELL == (
        b'event: error\ndata: {"code":"shutting_down","message":"The service restarted before the run\'s stream '
        b'ended."}\n\nevent: done\ndata: [DONE]\n\n'
    )


async def test_a_quiet_stream_gets_keep_alive_comments_and_then_its_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_stream, "PING_INTERVAL_S", 0.01)
    pinged = asyncio.Event()

    async def events() -> AsyncGenerator[StreamEvent, None]:
        yield StreamEvent("thread.run.created", {"id": "run_1"})
        await pinged.wait()  # the model thinks until the client has seen a keep-alive
        yield StreamEvent("thread.run.completed", {"id": "run_1"})

    bodies: list[bytes] = []

    async def send(message: Message) -> None:
        if message["type"] == "http.response.body":
            bodies.append(message["body"])
            if message["body"] == b": ping\n\n":
                pinged.set()

    async def receive() -> Message:
        await asyncio.Event().wait()  # the client stays
        raise AssertionError("unreachable")

    scope = {"type": "http", "app": SimpleNamespace(state=SimpleNamespace())}
    await sse.sse_response(events())(scope, receive, send)

    assert bodies[0] == b'event: thread.run.created\ndata: {"id":"run_1"}\n\n'
    assert b": ping\n\n" in bodies[1:-3]
    assert bodies[-3:] == [
        b'event: thread.run.completed\ndata: {"id":"run_1"}\n\n',
        b"event: done\ndata: [DONE]\n\n",
        b"",
    ]


async def test_closing_the_body_closes_the_run_s_events() -> None:
    closed = asyncio.Event()

    async def events() -> AsyncGenerator[StreamEvent, None]:
        try:
            yield StreamEvent("thread.run.created", {"id": "run_1"})
            await asyncio.Event().wait()  # never finishes on its own
        finally:
            closed.set()

    body = sse.sse_body(events())
    assert (await anext(body)).startswith(b"event: thread.run.created")
    await body.aclose()  # the client went away
    await asyncio.wait_for(closed.wait(), 10)
