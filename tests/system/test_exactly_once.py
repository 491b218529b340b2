"""A message is posted at most once, and the caller learns what happened: faults over real sockets.

The fake upstream runs as a process of its own (`python -m tests.fakes.fake_openai`), planned to
fail through its `/_fake/` routes; the service talks to it over loopback with its own HTTP client
(timeouts, retries), as in production.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.fakes.crashes import CrashProbe, crash_server
from tests.fakes.event_streams import parse_sse
from tests.fakes.processes import fake_upstream_process

ASSISTANT = "asst_fake"


@pytest.fixture(scope="module")
def fake_process() -> Iterator[str]:
    """The fake upstream as a real process; yields its base URL."""
    with fake_upstream_process() as base_url:
        yield base_url


class Upstream:
    """The fake process's control routes."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx2.AsyncClient(base_url=base_url, timeout=10)

    async def new_thread(self) -> str:
        return str((await self.http.post("/_fake/threads")).json()["id"])

    async def plan(self, **failure: Any) -> None:
        (await self.http.post("/_fake/fail_next", json={"path_contains": "/runs", "method": "POST", **failure}))

    async def user_messages(self, thread_id: str) -> list[str]:
        state = (await self.http.get(f"/_fake/threads/{thread_id}")).json()
        return [m["content"][0]["text"]["value"] for m in state["messages"] if m["role"] == "user"]

    async def runs(self, thread_id: str) -> list[dict[str, Any]]:
        return list((await self.http.get(f"/_fake/threads/{thread_id}")).json()["runs"])


@pytest.fixture
async def upstream(fake_process: str) -> AsyncIterator[Upstream]:
    control = Upstream(fake_process)
    yield control
    await control.http.aclose()


@asynccontextmanager
async def service(app_client: Any, upstream: Upstream, **overrides: Any) -> AsyncIterator[httpx2.AsyncClient]:
    settings = {
        "openai_base_url": upstream.base_url + "/v1",
        "openai_assistant_id": ASSISTANT,
        "openai_timeout_s": 0.5,
        "openai_max_retries": 2,
        **overrides,
    }
    async with app_client(client_from_settings=True, **settings) as client:
        yield client


FAULTS = {
    "upstream slower than the timeout": {"status": 200, "mode": "slow", "hang_s": 0.8},
    "500 after the run was created": {"status": 500, "mode": "after"},
    "500 before it was created": {"status": 500, "mode": "before"},
    "connection dropped mid-response": {"status": 200, "mode": "drop"},
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_chat_posts_the_message_once_and_answers_with_its_run(app_client, upstream: Upstream, fault: str) -> None:
    thread_id = await upstream.new_thread()
    await upstream.plan(**FAULTS[fault])
    async with service(app_client, upstream) as client:
        response = await client.post("/chat", json={"content": f"once: {fault}", "threadId": thread_id})
    runs = await upstream.runs(thread_id)
    assert await upstream.user_messages(thread_id) == [f"once: {fault}"]
    assert response.status_code == 200, response.text
    assert [run["id"] for run in runs] == [response.json()["run_id"]]


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_chat_stream_posts_the_message_once_and_streams_its_run(
    app_client, upstream: Upstream, fault: str
) -> None:
    thread_id = await upstream.new_thread()
    await upstream.plan(**FAULTS[fault])
    async with service(app_client, upstream) as client:
        response = await client.post("/chat/stream", json={"content": f"stream: {fault}", "threadId": thread_id})
    frames = parse_sse(response.text)
    events = [name for name, _ in frames]
    runs = await upstream.runs(thread_id)
    assert await upstream.user_messages(thread_id) == [f"stream: {fault}"]
    assert response.status_code == 200, response.text
    assert events[0] == "thread.run.created"
    assert json.loads(frames[0][1])["id"] == runs[0]["id"]
    assert "thread.run.completed" in events, events
    assert events[-1] == "done"
    assert len(runs) == 1


async def test_a_failure_with_nothing_posted_says_so(app_client, upstream: Upstream) -> None:
    thread_id = await upstream.new_thread()
    await upstream.plan(status=500, mode="before")
    async with service(app_client, upstream, openai_max_retries=0) as client:
        response = await client.post("/chat", json={"content": "never", "threadId": thread_id})
    assert response.status_code == 502
    assert response.json()["error"]["posted"] is False
    assert "The message was not posted." in response.json()["error"]["message"]
    assert await upstream.user_messages(thread_id) == []
    assert await upstream.runs(thread_id) == []


async def test_a_timeout_whose_outcome_cannot_be_known_says_so(app_client, upstream: Upstream) -> None:
    thread_id = await upstream.new_thread()
    await upstream.plan(status=500, mode="before", hang_s=2.0)  # no answer in time, and nothing done
    async with service(app_client, upstream) as client:
        response = await client.post("/chat", json={"content": "unknown", "threadId": thread_id})
    assert response.status_code == 504
    assert response.json()["error"]["posted"] is None
    assert "may have been posted" in response.json()["error"]["message"]
    assert len([r for r in await upstream.runs(thread_id)]) == 0, "and no blind retry posted it"


@pytest.mark.parametrize("engine", ["hosted", "assistants"])
async def test_kill_9_with_requests_in_flight_and_retried_keys_posts_each_message_once(
    fake_process: str, tmp_path: Path, engine: str
) -> None:
    """A few kills here; bench/crash_retries.py runs 200 per engine."""
    server = crash_server(tmp_path, engine, fake_process)
    outcome = await CrashProbe(server, engine, fake_process, concurrency=8, seed=19).run(kills=4)
    assert outcome.unanswered == [], outcome
    assert outcome.duplicates == 0, outcome
    assert outcome.lost == 0, outcome
    assert outcome.interrupted > 0, "the kills cut requests off"
