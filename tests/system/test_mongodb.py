"""Black box on MongoDB: two `python -m app` processes (ENGINE=hosted) share one real database server.

The server is SecantusDB, started here as a one-node replica set (its data in a directory of its own, so it
can be stopped and started again); the model server is the fake upstream process. Leases are 1 s
(RUN_LEASE_S), so a run whose process was killed expires within the test.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from openai import OpenAI

from tests.fakes.mongodb import MongoServer
from tests.fakes.processes import Server, fake_upstream_process, wait_for

pytestmark = pytest.mark.mongodb

WAIT_S = 30.0
TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}


class Cluster:
    """The database server, the fake model server and two service processes on them."""

    def __init__(self, database: MongoServer, fake: str, services: list[Server]) -> None:
        self.database = database
        self.fake = fake
        self.services = services

    def client(self, n: int) -> httpx2.Client:
        return httpx2.Client(base_url=self.services[n].base, timeout=20)

    def plan_model_call(self, **behaviour: Any) -> None:
        """The next model call behaves so (`hang_s`: the run stays in progress that long)."""
        assert httpx2.post(f"{self.fake}/_fake/models/plan", json=behaviour, timeout=5).status_code == 200

    def model_calls(self) -> int:
        """How many model calls the fake has received (each is recorded as it arrives)."""
        received = httpx2.get(f"{self.fake}/_fake/requests", timeout=5).json()
        return sum(r["method"] == "POST" and r["path"].endswith("/responses") for r in received)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir = tmp_path_factory.mktemp("mongodb-system")
    database = MongoServer(workdir / "db")
    database.start()
    services: list[Server] = []
    try:
        with fake_upstream_process() as fake:
            for n in range(2):
                (workdir / f"service-{n}").mkdir()
                services.append(
                    Server(
                        workdir / f"service-{n}",
                        MONGODB_URI=database.uri,
                        MONGODB_DB="chat_system",
                        ENGINE="hosted",
                        OPENAI_API_KEY="sk-mongodb-system-test",
                        OPENAI_BASE_URL=f"{fake}/v1",
                        OPENAI_MAX_RETRIES="0",
                        RUN_LEASE_S="1",
                    )
                )
            for service in services:
                service.start()
            yield Cluster(database, fake, services)
    finally:
        for service in services:
            service.stop()
        database.stop()


def run_of(client: httpx2.Client, thread_id: str, run_id: str) -> dict[str, Any]:
    response = client.get(f"/threads/{thread_id}/runs/{run_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def finished(client: httpx2.Client, thread_id: str, run_id: str) -> dict[str, Any]:
    return wait_for(lambda: run_of(client, thread_id, run_id), lambda r: r["status"] in TERMINAL, run_id, WAIT_S)


def new_thread(client: httpx2.Client) -> str:
    response = client.post("/threads")
    assert response.status_code == 201, response.text
    return str(response.json()["thread_id"])


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the SDK marks its Assistants API calls
def test_chat_the_nextjs_stream_and_v1_work_across_two_processes_on_one_database(cluster: Cluster) -> None:
    with cluster.client(0) as first, cluster.client(1) as second:
        thread_id = new_thread(first)
        started = first.post("/chat", json={"content": "hello", "threadId": thread_id})
        assert started.status_code == 200, started.text
        run = finished(second, thread_id, started.json()["run_id"])
        streamed_thread = new_thread(first)
        with second.stream(
            "POST",
            f"/api/assistants/threads/{streamed_thread}/messages",
            content=json.dumps({"content": "and again"}).encode(),
            headers={"content-type": "text/plain;charset=UTF-8"},
        ) as stream:
            assert stream.status_code == 200
            events = [json.loads(line) for line in stream.iter_lines() if line]
        messages = [
            first.get(f"/threads/{thread}/messages", params={"order": "asc"}).json()["data"]
            for thread in (thread_id, streamed_thread)
        ]
        conversations = second.get("/conversations").json()["data"]

    sdk_first = OpenAI(base_url=f"{cluster.services[0].base}/v1", api_key="unused", max_retries=0)
    sdk_second = OpenAI(base_url=f"{cluster.services[1].base}/v1", api_key="unused", max_retries=0)
    assistant = sdk_first.beta.assistants.create(model="gpt-4o-mini", instructions="Be brief.")
    v1_thread = sdk_second.beta.threads.create(messages=[{"role": "user", "content": "over /v1"}])
    v1_run = sdk_first.beta.threads.runs.create_and_poll(
        thread_id=v1_thread.id, assistant_id=assistant.id, poll_interval_ms=50
    )
    v1_messages = sdk_second.beta.threads.messages.list(thread_id=v1_thread.id, order="asc")

    assert all("(the oldest supported: 5.0)" in service.log() for service in cluster.services)  # buildInfo
    assert run["status"] == "completed"
    assert [event["event"] for event in events][-1] == "thread.run.completed"
    assert any(event["event"] == "thread.message.delta" for event in events)
    assert [[m["text"] for m in page] for page in messages] == [
        ["hello", "Echo: hello"],
        ["and again", "Echo: and again"],
    ]
    assert {thread_id, streamed_thread} <= {c["threadId"] for c in conversations}
    assert v1_run.status == "completed"
    assert [m.content[0].text.value for m in v1_messages.data] == ["over /v1", "Echo: over /v1"]  # type: ignore[union-attr]


async def test_fifty_posts_at_once_on_one_thread_across_both_processes_start_exactly_one_run(
    cluster: Cluster,
) -> None:
    with cluster.client(0) as client:
        thread_id = new_thread(client)
    calls = cluster.model_calls()
    cluster.plan_model_call(hang_s=60)  # the winner's run stays in progress while the others arrive
    bases = [service.base for service in cluster.services]
    async with httpx2.AsyncClient(timeout=30) as http:
        responses = await asyncio.gather(
            *(
                http.post(f"{bases[n % 2]}/chat", json={"content": f"message {n}", "threadId": thread_id})
                for n in range(50)
            )
        )
    started = [r for r in responses if r.status_code == 200]
    assert len(started) == 1, [r.text for r in responses]
    run_id = started[0].json()["run_id"]
    refused = [r.json()["error"] for r in responses if r.status_code != 200]
    assert [(e["code"], e["run_id"]) for e in refused] == [("active_run", run_id)] * 49
    wait_for(cluster.model_calls, lambda n: n > calls, "the hanging model call")  # the plan is used up
    with cluster.client(1) as client:
        cancelled = client.post(f"/threads/{thread_id}/runs/{run_id}/cancel")
        messages = client.get(f"/threads/{thread_id}/messages").json()["data"]
    assert cancelled.status_code == 200, cancelled.text
    assert len(messages) == 1


def test_a_killed_process_s_run_expires_after_its_lease_and_the_thread_works_again(cluster: Cluster) -> None:
    victim, survivor = cluster.services
    with cluster.client(0) as first, cluster.client(1) as second:
        thread_id = new_thread(first)
        calls = cluster.model_calls()
        cluster.plan_model_call(hang_s=60)
        started = first.post("/chat", json={"content": "interrupted", "threadId": thread_id})
        assert started.status_code == 200, started.text
        run_id = started.json()["run_id"]
        wait_for(cluster.model_calls, lambda n: n > calls, "the run's model call")
        victim.kill()
        expired = wait_for(lambda: run_of(second, thread_id, run_id), lambda r: r["status"] != "in_progress", "expiry")
        again = second.post("/chat", json={"content": "after the kill", "threadId": thread_id})
        assert again.status_code == 200, again.text
        after = finished(second, thread_id, again.json()["run_id"])
    victim.start()  # back for the next tests
    assert expired["status"] == "expired"
    assert after["status"] == "completed"
    assert after["reply"] == "Echo: after the kill"
    assert survivor.process is not None
    assert survivor.process.poll() is None


async def test_a_database_stop_answers_503_then_the_service_recovers_after_the_start(cluster: Cluster) -> None:
    with cluster.client(0) as first, cluster.client(1) as second:
        thread_id = new_thread(first)
        before = first.post("/chat", json={"content": "before the outage", "threadId": thread_id})
        assert before.status_code == 200, before.text
        finished(first, thread_id, before.json()["run_id"])
    bases = [service.base for service in cluster.services]
    cluster.database.stop()
    try:
        async with httpx2.AsyncClient(timeout=30) as http:  # each waits for the driver's server selection: at once
            down = await asyncio.gather(
                *(http.get(f"{base}/threads/{thread_id}/messages") for base in bases),
                http.post(f"{bases[1]}/chat", json={"content": "during the outage", "threadId": thread_id}),
            )
    finally:
        cluster.database.start()
    with cluster.client(0) as first, cluster.client(1) as second:
        back = wait_for(lambda: first.get(f"/threads/{thread_id}/messages"), lambda r: r.status_code == 200, "up")
        after = second.post("/chat", json={"content": "after the outage", "threadId": thread_id})
        assert after.status_code == 200, after.text
        finished(second, thread_id, after.json()["run_id"])
        messages = first.get(f"/threads/{thread_id}/messages", params={"order": "asc"}).json()["data"]

    assert [r.status_code for r in down] == [503, 503, 503]
    assert {r.json()["error"]["code"] for r in down} == {"storage_unavailable"}
    assert [m["text"] for m in back.json()["data"]][::-1] == ["before the outage", "Echo: before the outage"]
    assert [m["text"] for m in messages] == [
        "before the outage",
        "Echo: before the outage",
        "after the outage",
        "Echo: after the outage",
    ]
