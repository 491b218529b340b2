"""The embedded store persists: `python -m app` killed with SIGKILL and started again on the same DATA_DIR.

No MONGODB_URI, so the server keeps its data in DATA_DIR's SQLite file. The fake upstream runs as
a process of its own and outlives the server. Everything a client saw before the kill is there
after the restart: threads and who owns them, messages, runs (a `hosted` run that was active ends
`expired`: its lease lapsed with its process), conversations, idempotency keys, thread counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from app.storage.sqlite.database import DATABASE_FILE
from tests.fakes.access import ALICE, API_KEYS, BOB
from tests.fakes.processes import Server, fake_upstream_process, wait_for

TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def make(**settings: str) -> Server:
        server = Server(tmp_path, DATA_DIR="data", API_KEYS=API_KEYS, **settings)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def _run(client: httpx2.Client, thread_id: str, run_id: str) -> dict[str, Any]:
    response = client.get(f"/threads/{thread_id}/runs/{run_id}", headers=ALICE)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _finished_run(client: httpx2.Client, thread_id: str, run_id: str) -> dict[str, Any]:
    return wait_for(lambda: _run(client, thread_id, run_id), lambda r: r["status"] in TERMINAL, f"run {run_id}")


def _visible_state(client: httpx2.Client, thread_ids: list[str]) -> dict[str, Any]:
    """What alice can read of her threads and conversations, and what bob gets for them."""
    conversations = client.get("/conversations", headers=ALICE)
    assert conversations.status_code == 200, conversations.text
    state: dict[str, Any] = {"conversations": conversations.json()}
    for thread_id in thread_ids:
        messages = client.get(f"/threads/{thread_id}/messages", params={"order": "asc"}, headers=ALICE)
        assert messages.status_code == 200, messages.text
        state[thread_id] = messages.json()
        state[f"{thread_id} for bob"] = client.get(f"/threads/{thread_id}/messages", headers=BOB).status_code
    return state


def _post_chat(client: httpx2.Client, thread_id: str, content: str, key: str | None = None) -> httpx2.Response:
    headers = {**ALICE, **({"Idempotency-Key": key} if key else {})}
    return client.post("/chat", json={"content": content, "threadId": thread_id}, headers=headers)


def test_assistants_engine_keeps_owners_conversations_keys_and_counts_across_a_kill(
    tmp_path: Path, server_factory: Callable[..., Server]
) -> None:
    with fake_upstream_process() as fake:
        server = server_factory(
            ENGINE="assistants",
            OPENAI_API_KEY="sk-restart-test",
            OPENAI_ASSISTANT_ID="asst_fake",
            OPENAI_BASE_URL=f"{fake}/v1",
            OPENAI_MAX_RETRIES="0",
            MAX_THREADS_PER_USER="2",
        )
        with httpx2.Client(base_url=server.start(), timeout=10) as client:
            threads = [client.post("/threads", headers=ALICE).json()["thread_id"] for _ in range(2)]
            first = _post_chat(client, threads[0], "Hello", key="key-restart-1")
            second = _post_chat(client, threads[1], "Hi there")
            assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
            runs = [_finished_run(client, t, r.json()["run_id"]) for t, r in zip(threads, (first, second), strict=True)]
            renamed = client.patch(f"/conversations/{threads[1]}", json={"name": "kept"}, headers=ALICE)
            assert renamed.status_code == 200, renamed.text
            before = _visible_state(client, threads)
            assert client.post("/threads", headers=ALICE).status_code == 429  # at MAX_THREADS_PER_USER
        server.kill()

        with httpx2.Client(base_url=server.start(), timeout=10) as client:
            after = _visible_state(client, threads)
            runs_after = [_run(client, t, run["id"]) for t, run in zip(threads, runs, strict=True)]
            replay = _post_chat(client, threads[0], "Hello", key="key-restart-1")
            other_body = _post_chat(client, threads[0], "Hello again", key="key-restart-1")
            over_limit = client.post("/threads", headers=ALICE)
            bobs_thread = client.post("/threads", headers=BOB)
            health = client.get("/").json()

    assert after == before
    assert [c["threadId"] for c in after["conversations"]["data"]] == threads[::-1]
    assert after["conversations"]["data"][0]["name"] == "kept"
    assert [after[f"{t} for bob"] for t in threads] == [404, 404]
    assert [run["status"] for run in runs_after] == ["completed", "completed"]
    assert [run["reply"] for run in runs_after] == ["Echo: Hello", "Echo: Hi there"]
    assert replay.status_code == 200
    assert replay.json() == first.json()
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert other_body.status_code == 422
    assert other_body.json()["error"]["code"] == "idempotency_key_reused"
    assert over_limit.status_code == 429
    assert over_limit.json()["error"]["code"] == "thread_limit_reached"
    assert bobs_thread.status_code == 201
    assert health["storage"] == "sqlite"
    assert (tmp_path / "data" / DATABASE_FILE).is_file()
    assert "storage=sqlite" in server.log()


def test_hosted_engine_keeps_threads_messages_runs_and_expires_the_run_the_kill_interrupted(
    tmp_path: Path, server_factory: Callable[..., Server]
) -> None:
    with fake_upstream_process() as fake:
        server = server_factory(
            ENGINE="hosted",
            OPENAI_API_KEY="sk-restart-test",
            OPENAI_BASE_URL=f"{fake}/v1",
            OPENAI_MAX_RETRIES="0",
            RUN_LEASE_S="1",
        )
        with httpx2.Client(base_url=server.start(), timeout=10) as client:
            done_thread, busy_thread = (client.post("/threads", headers=ALICE).json()["thread_id"] for _ in range(2))
            first = _post_chat(client, done_thread, "first", key="key-hosted-1")
            assert first.status_code == 200, first.text
            first_run = _finished_run(client, done_thread, first.json()["run_id"])
            second = _post_chat(client, done_thread, "second")
            assert second.status_code == 200, second.text
            second_run = _finished_run(client, done_thread, second.json()["run_id"])
            # The next model call hangs: its run stays in progress until the kill.
            assert httpx2.post(f"{fake}/_fake/models/plan", json={"hang_s": 120}).status_code == 200
            slow = _post_chat(client, busy_thread, "slow one")
            assert slow.status_code == 200, slow.text
            slow_id = slow.json()["run_id"]
            wait_for(lambda: _run(client, busy_thread, slow_id), lambda r: r["status"] == "in_progress", "the slow run")
            before = _visible_state(client, [done_thread, busy_thread])
        server.kill()

        with httpx2.Client(base_url=server.start(), timeout=10) as client:
            slow_after = _finished_run(client, busy_thread, slow_id)
            after = _visible_state(client, [done_thread, busy_thread])
            runs_after = [_run(client, done_thread, run["id"]) for run in (first_run, second_run)]
            replay = _post_chat(client, done_thread, "first", key="key-hosted-1")
            again = _post_chat(client, busy_thread, "after the restart")
            assert again.status_code == 200, again.text
            again_run = _finished_run(client, busy_thread, again.json()["run_id"])
            health = client.get("/").json()

    assert after == before
    assert [m["text"] for m in after[done_thread]["data"]] == ["first", "Echo: first", "second", "Echo: second"]
    assert [m["text"] for m in after[busy_thread]["data"]] == ["slow one"]
    assert [after[f"{t} for bob"] for t in (done_thread, busy_thread)] == [404, 404]
    assert {c["threadId"] for c in after["conversations"]["data"]} == {done_thread, busy_thread}
    assert runs_after == [first_run, second_run]
    assert slow_after["status"] == "expired"
    assert replay.status_code == 200
    assert replay.json() == first.json()
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert again_run["status"] == "completed"
    assert again_run["reply"] == "Echo: after the restart"
    assert health == {**health, "engine": "hosted", "storage": "sqlite"}
    assert (tmp_path / "data" / DATABASE_FILE).is_file()
