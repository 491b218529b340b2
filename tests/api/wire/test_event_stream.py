"""Streaming over real sockets: SSE format, no buffering, mid-stream failure, client disconnect."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx2
import pytest

from app.main import create_app
from tests.fakes.app_support import make_settings
from tests.fakes.embedded_stores import embedded_stores
from tests.fakes.event_streams import parse_sse
from tests.fakes.fake_assistant_streams import StreamScript
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import wait_until
from tests.fakes.servers import serve_in_thread


@pytest.fixture
def live_app(fake: FakeOpenAI, live_fake: str) -> Iterator[str]:
    """Our app served by uvicorn (lifespan on), its OpenAI client pointed at the live fake."""
    app = create_app(make_settings(openai_base_url=live_fake, openai_max_retries=0), stores=embedded_stores())
    with serve_in_thread(app, lifespan="on") as url:
        yield url


async def test_chat_stream_sends_assistants_events_as_sse(live_app: str, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    async with httpx2.AsyncClient(base_url=live_app, timeout=10) as client:
        response = await client.post("/chat/stream", json={"content": "Hello there", "threadId": thread_id})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = parse_sse(response.text)
    names = [name for name, _ in frames]
    assert names[:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
    assert names[-2:] == ["thread.run.completed", "done"]
    assert frames[-1][1] == "[DONE]"
    text = "".join(
        part["text"]["value"]
        for name, data in frames
        if name == "thread.message.delta"
        for part in json.loads(data)["delta"]["content"]
    )
    assert text == "Echo: Hello there"


async def test_chat_stream_errors_before_the_stream_are_json(live_app: str, fake: FakeOpenAI) -> None:
    fake.run_seconds = 60
    thread_id = fake.add_thread()
    async with httpx2.AsyncClient(base_url=live_app, timeout=10) as client:
        await client.post("/chat", json={"content": "first", "threadId": thread_id})
        busy = await client.post("/chat/stream", json={"content": "second", "threadId": thread_id})
        unknown = await client.post("/chat/stream", json={"content": "x", "threadId": "thread_nope"})
        invalid = await client.post("/chat/stream", json={"content": "", "threadId": thread_id})
    assert busy.status_code == 400
    assert busy.json()["error"]["code"] == "active_run"
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "thread_not_found"
    assert invalid.status_code == 422
    assert invalid.json()["error"]["fields"][0]["field"] == "content"


async def test_first_event_arrives_before_the_run_ends(live_app: str, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    gate = threading.Event()
    fake.stream_script = StreamScript(text=["first", " second"], gate=gate)
    seen: list[str] = []
    async with (
        httpx2.AsyncClient(base_url=live_app, timeout=10) as client,
        client.stream("POST", "/chat/stream", json={"content": "hi", "threadId": thread_id}) as response,
    ):
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                seen.append(line.removeprefix("event: "))
            if line.startswith("data: ") and seen.count("thread.message.delta") == 1 and not gate.is_set():
                # The upstream is held after its first delta: we already have it, so nothing buffers.
                assert fake.runs[thread_id][0]["status"] == "in_progress"
                assert "thread.run.completed" not in seen
                gate.set()
    assert seen[-1] == "done"
    assert seen.count("thread.message.delta") == 2


async def test_mid_stream_upstream_error_reaches_the_client_and_the_stream_ends(
    live_app: str, fake: FakeOpenAI
) -> None:
    thread_id = fake.add_thread()
    fake.stream_script = StreamScript(text=["a", "b", "c"], error_after_deltas=1)
    async with httpx2.AsyncClient(base_url=live_app, timeout=10) as client:
        response = await client.post("/chat/stream", json={"content": "hi", "threadId": thread_id})
    frames = parse_sse(response.text)
    assert [name for name, _ in frames][-3:] == ["thread.message.delta", "error", "done"]
    error = json.loads(frames[-2][1])
    assert error["code"] == "upstream_error"


async def test_cut_upstream_connection_reaches_the_client(live_app: str, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    fake.stream_script = StreamScript(text=["a", "b", "c"], cut_after_deltas=1)
    async with httpx2.AsyncClient(base_url=live_app, timeout=10) as client:
        response = await client.post("/chat/stream", json={"content": "hi", "threadId": thread_id})
    frames = parse_sse(response.text)
    assert [name for name, _ in frames][-2:] == ["error", "done"]
    assert json.loads(frames[-2][1])["code"] in {"upstream_unreachable", "upstream_error", "upstream_stream_broken"}


async def test_client_disconnect_closes_the_upstream_stream(live_app: str, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    gate = threading.Event()
    fake.stream_script = StreamScript(text=["a", "b"], gate=gate)
    async with (
        httpx2.AsyncClient(base_url=live_app, timeout=10) as client,
        client.stream("POST", "/chat/stream", json={"content": "hi", "threadId": thread_id}) as response,
    ):
        async for line in response.aiter_lines():
            if line == "event: thread.message.delta":
                break
    # The upstream is held at its gate (never opened): only our closing the connection ends its body.
    await wait_until(lambda: fake.open_streams == 0, "the upstream stream to be closed")
    assert fake.open_streams == 0
    assert not gate.is_set()
    gate.set()  # release the fake's waiting thread (else shutdown and interpreter exit wait up to 30 s for it)


async def test_nextjs_message_stream_is_not_buffered(live_app: str, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    gate = threading.Event()
    fake.stream_script = StreamScript(text=["first", " second"], gate=gate)
    events: list[str] = []
    async with (
        httpx2.AsyncClient(base_url=live_app, timeout=10) as client,
        client.stream(
            "POST", f"/api/assistants/threads/{thread_id}/messages", content=json.dumps({"content": "hi"})
        ) as response,
    ):
        async for line in response.aiter_lines():
            events.append(json.loads(line)["event"])
            if events[-1] == "thread.message.delta" and not gate.is_set():
                assert fake.runs[thread_id][0]["status"] == "in_progress"
                gate.set()
    assert events[-1] == "thread.run.completed"
