"""The same routes, the same answers, whichever engine runs the threads (assistants or hosted).

Each test runs once per engine: the `assistants` engine against the fake Assistants API, the
`hosted` engine against the fake Responses API (its threads and runs in our storage).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import pytest

from app.main import create_app
from tests.fakes.app_support import make_settings, sdk_client_for
from tests.fakes.embedded_stores import embedded_stores
from tests.fakes.event_streams import ndjson_lines, parse_sse
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import wait_until
from tests.fakes.node_decoder import decode_like_chat_tsx

ID = r"[A-Za-z0-9]{24}"
FINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}


class Harness:
    """Our app on one engine, plus a way to keep the next run busy."""

    def __init__(self, engine: str, fake: FakeOpenAI) -> None:
        self.engine = engine
        self.fake = fake
        self._gate: asyncio.Event | None = None

    @asynccontextmanager
    async def client(self) -> AsyncIterator[httpx2.AsyncClient]:
        overrides: dict[str, Any] = {"engine": self.engine}
        if self.engine == "hosted":
            overrides["openai_assistant_id"] = None
        app = create_app(
            make_settings(**overrides),
            openai_client=sdk_client_for(self.fake),
            stores=embedded_stores(),
        )
        async with app.router.lifespan_context(app):
            transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx2.AsyncClient(transport=transport, base_url="http://testserver") as http:
                yield http
            if self._gate is not None:
                self._gate.set()

    def hold_next_run(self) -> None:
        """The next run stays active until `release()` (or the end of the test)."""
        if self.engine == "assistants":
            self.fake.run_seconds = 60
        else:
            self._gate = asyncio.Event()
            self.fake.models.plan(gate=self._gate)

    def release(self) -> None:
        if self.engine == "assistants":
            self.fake.run_seconds = 0
        elif self._gate is not None:
            self._gate.set()


@pytest.fixture(params=["assistants", "hosted"])
def harness(request: pytest.FixtureRequest, fake: FakeOpenAI) -> Harness:
    fake.run_seconds = 0.05
    return Harness(request.param, fake)


async def _new_thread(client: httpx2.AsyncClient) -> str:
    response = await client.post("/threads")
    assert response.status_code == 201
    thread_id = response.json()["thread_id"]
    assert re.fullmatch("thread_" + ID, thread_id)
    return thread_id


async def _final_state(client: httpx2.AsyncClient, thread_id: str, run_id: str) -> dict[str, Any]:
    state: dict[str, Any] = {}

    async def finished() -> bool:
        state.update((await client.get(f"/threads/{thread_id}/runs/{run_id}")).json())
        return state["status"] in FINAL

    await wait_until(finished, f"run {run_id} to finish")
    return state


async def test_chat_then_poll_to_the_reply(harness: Harness) -> None:
    async with harness.client() as client:
        thread_id = await _new_thread(client)
        started = await client.post("/chat", json={"content": "Hello, engines!", "threadId": thread_id})
        run_id = started.json()["run_id"]
        state = await _final_state(client, thread_id, run_id)
        messages = (await client.get(f"/threads/{thread_id}/messages", params={"order": "asc"})).json()
        conversation = await client.get(f"/conversations/{thread_id}")

    assert started.status_code == 200
    assert started.json() == {"success": True, "run_id": run_id, "thread_id": thread_id}
    assert re.fullmatch("run_" + ID, run_id)
    assert state["status"] == "completed"
    assert state["reply"] == "Echo: Hello, engines!"
    assert state["usage"]["total_tokens"] > 0
    assert [(m["role"], m["text"]) for m in messages["data"]] == [
        ("user", "Hello, engines!"),
        ("assistant", "Echo: Hello, engines!"),
    ]
    assert all(re.fullmatch("msg_" + ID, m["id"]) for m in messages["data"])
    assert conversation.status_code == 200


async def test_second_message_during_a_run_is_refused_with_its_id(harness: Harness) -> None:
    async with harness.client() as client:
        thread_id = await _new_thread(client)
        harness.hold_next_run()
        first = await client.post("/chat", json={"content": "one", "threadId": thread_id})
        second = await client.post("/chat", json={"content": "two", "threadId": thread_id})
        harness.release()
        await _final_state(client, thread_id, first.json()["run_id"])
        third = await client.post("/chat", json={"content": "three", "threadId": thread_id})

    assert first.status_code == 200
    assert second.status_code == 400
    assert second.json()["error"]["code"] == "active_run"
    assert second.json()["error"]["run_id"] == first.json()["run_id"]
    assert third.status_code == 200


async def test_concurrent_messages_on_one_thread_give_one_run(harness: Harness) -> None:
    async with harness.client() as client:
        thread_id = await _new_thread(client)
        harness.hold_next_run()
        responses = await asyncio.gather(
            *(client.post("/chat", json={"content": f"m{i}", "threadId": thread_id}) for i in range(6))
        )
        harness.release()
    winners = [r for r in responses if r.status_code == 200]
    losers = [r for r in responses if r.status_code == 400]
    assert len(winners) == 1
    assert len(losers) == 5
    assert {r.json()["error"]["run_id"] for r in losers} == {winners[0].json()["run_id"]}


async def test_unknown_thread_is_404_everywhere(harness: Harness) -> None:
    async with harness.client() as client:
        chat = await client.post("/chat", json={"content": "hi", "threadId": "thread_" + "x" * 24})
        messages = await client.get("/threads/thread_" + "x" * 24 + "/messages")
        stream = await client.post("/chat/stream", json={"content": "hi", "threadId": "thread_" + "x" * 24})
    for response in (chat, messages, stream):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "thread_not_found"


async def test_chat_stream_is_the_assistants_event_sequence(harness: Harness) -> None:
    async with harness.client() as client:
        thread_id = await _new_thread(client)
        response = await client.post("/chat/stream", json={"content": "Stream me", "threadId": thread_id})
    frames = parse_sse(response.text)
    names = [name for name, _ in frames]
    assert response.headers["content-type"].startswith("text/event-stream")
    assert names[0] == "thread.run.created"
    assert names.index("thread.message.created") < names.index("thread.message.delta")
    assert names[-2:] == ["thread.run.completed", "done"]
    deltas = [json.loads(data) for name, data in frames if name == "thread.message.delta"]
    text = "".join(part["text"]["value"] for d in deltas for part in d["delta"]["content"])
    assert text == "Echo: Stream me"
    created = json.loads(frames[names.index("thread.message.created")][1])
    assert created["content"] == []


async def test_nextjs_frontend_flow_decodes_with_openai_node(harness: Harness) -> None:
    async with harness.client() as client:
        thread_id = (await client.post("/api/assistants/threads")).json()["threadId"]
        response = await client.post(
            f"/api/assistants/threads/{thread_id}/messages",
            content=json.dumps({"content": "Hej från Malmö ☕"}).encode(),
            headers={"content-type": "text/plain;charset=UTF-8"},
        )
    decoded = decode_like_chat_tsx(response.content, chunk_bytes=3)
    assert decoded["errors"] == []
    assert decoded["messages"] == [{"role": "assistant", "text": "Echo: Hej från Malmö ☕"}]
    assert decoded["inputDisabled"] is False


async def test_cancel_an_active_run_frees_the_thread(harness: Harness) -> None:
    async with harness.client() as client:
        thread_id = await _new_thread(client)
        harness.hold_next_run()
        run_id = (await client.post("/chat", json={"content": "long task", "threadId": thread_id})).json()["run_id"]
        cancelled = await client.post(f"/threads/{thread_id}/runs/{run_id}/cancel")
        state = await _final_state(client, thread_id, run_id)
        harness.release()
        after = await client.post("/chat", json={"content": "next", "threadId": thread_id})
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] in ("cancelling", "cancelled")
    assert state["status"] == "cancelled"
    assert state["reply"] is None
    assert after.status_code == 200


async def test_cancelling_a_finished_run_is_409_run_not_active(harness: Harness) -> None:
    async with harness.client() as client:
        thread_id = await _new_thread(client)
        run_id = (await client.post("/chat", json={"content": "quick", "threadId": thread_id})).json()["run_id"]
        state = await _final_state(client, thread_id, run_id)
        refused = await client.post(f"/threads/{thread_id}/runs/{run_id}/cancel")
    assert state["status"] == "completed"
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "run_not_active"


async def test_run_events_on_the_stream_routes_carry_no_instructions(harness: Harness) -> None:
    async with harness.client() as client:
        thread_id = await _new_thread(client)
        sse = await client.post("/chat/stream", json={"content": "hi", "threadId": thread_id})
        ndjson = await client.post(f"/api/assistants/threads/{thread_id}/messages", content='{"content": "again"}')
    events = [(name, json.loads(data)) for name, data in parse_sse(sse.text) if name not in ("done", "error")]
    events += [(line["event"], line["data"]) for line in ndjson_lines(ndjson.content)]
    run_objects = [
        data for name, data in events if name.startswith("thread.run.") and data.get("object") == "thread.run"
    ]
    assert len(run_objects) >= 4
    assert all(not run.get("instructions") for run in run_objects)
