"""The engine's own upstream requests send what the SDK's methods send, and fail as they fail.

Over real loopback sockets with the client the lifespan builds (aiohttp under both), so these pin
the production path: the run request next to one the SDK's `runs.create` makes, retries with the
SDK's headers and rules, and answers the SDK would not accept either. (The streamed calls are in
test_streams.py.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tests.fakes.app_support import ASSISTANT_ID, TEST_API_KEY
from tests.fakes.fake_openai import FakeOpenAI

# Headers the SDK sets on every request; the hot path must send the same values.
SDK_HEADERS = (
    "authorization",
    "openai-beta",
    "content-type",
    "accept",
    "user-agent",
    "x-stainless-lang",
    "x-stainless-package-version",
    "x-stainless-runtime",
    "x-stainless-async",
    "x-stainless-read-timeout",
)


async def test_the_run_request_is_the_one_the_sdk_sends(fake: FakeOpenAI, live_fake: str, app_client) -> None:
    ours, theirs = fake.add_thread(), fake.add_thread()
    settings = {"openai_base_url": live_fake, "truncation_last_messages": 7, "max_completion_tokens": 321}
    async with app_client(client_from_settings=True, **settings) as client:
        response = await client.post("/chat", json={"content": "Hello, ünïcode ✓", "threadId": ours})
        sdk = client.app.state.upstream.sdk  # the same SDK client, making the call its own way
        await sdk.beta.threads.runs.create(
            theirs,
            assistant_id=ASSISTANT_ID,
            model="gpt-4o-mini",
            additional_messages=[{"role": "user", "content": "Hello, ünïcode ✓"}],
            max_completion_tokens=321,
            truncation_strategy={"type": "last_messages", "last_messages": 7},
            metadata={"chat_backend_request": response.headers["x-request-id"]},
        )

    assert response.status_code == 200, response.text
    [sent] = fake.requests_to("POST", f"/threads/{ours}/runs")
    [expected] = fake.requests_to("POST", f"/threads/{theirs}/runs")
    assert sent.body == expected.body
    assert {h: sent.headers.get(h) for h in SDK_HEADERS} == {h: expected.headers.get(h) for h in SDK_HEADERS}
    assert sent.headers["authorization"] == f"Bearer {TEST_API_KEY}"
    assert sent.headers["x-stainless-retry-count"] == "0"


async def test_retries_follow_the_sdk_rules_and_count_in_the_header(
    fake: FakeOpenAI, live_fake: str, app_client
) -> None:
    thread_id = fake.add_thread()
    fake.fail_next(500, path_contains="/runs", method="POST")
    fake.fail_next(429, headers={"retry-after-ms": "10"}, path_contains="/runs", method="POST")
    async with app_client(client_from_settings=True, openai_base_url=live_fake, openai_max_retries=2) as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
        metrics = (await client.get("/metrics")).text

    assert response.status_code == 200, response.text
    attempts = fake.requests_to("POST", f"/threads/{thread_id}/runs")
    assert [r.headers["x-stainless-retry-count"] for r in attempts] == ["0", "1", "2"]
    assert [run["id"] for run in fake.runs[thread_id]] == [response.json()["run_id"]]
    endpoint = 'endpoint="/v1/threads/{thread_id}/runs",method="POST"'
    for outcome in ("500", "429", "200"):
        assert f'chat_backend_upstream_requests_total{{{endpoint},outcome="{outcome}"}} 1.0' in metrics


async def test_an_upstream_saying_do_not_retry_is_not_retried(fake: FakeOpenAI, live_fake: str, app_client) -> None:
    thread_id = fake.add_thread()
    fake.fail_next(503, headers={"x-should-retry": "false"}, path_contains="/runs")
    async with app_client(client_from_settings=True, openai_base_url=live_fake, openai_max_retries=2) as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
    assert len(fake.requests_to("POST", f"/threads/{thread_id}/runs")) == 1


async def _answering(body: bytes, status: int = 200) -> tuple[asyncio.Server, Callable[[], int]]:
    """A loopback HTTP server answering every request with `body` as JSON; returns it and a request counter."""
    count = 0

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
        )
        await reader.readexactly(length)
        count += 1
        writer.write(
            b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (status, len(body), body)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    return server, lambda: count


async def test_an_answer_that_is_not_a_run_is_a_502_not_a_crash(app_client) -> None:
    for body in (b"<html>not json</html>", b"[1, 2]", b'{"object": "thread.run"}', b'{"id": ""}'):
        server, requests = await _answering(body)
        port = server.sockets[0].getsockname()[1]
        async with (
            server,
            app_client(client_from_settings=True, openai_base_url=f"http://127.0.0.1:{port}/v1") as client,
        ):
            response = await client.post("/chat", json={"content": "hi", "threadId": "thread_abc"})
            assert response.status_code == 502, body
            assert response.json()["error"]["code"] == "upstream_error"
            assert body.decode() not in response.text
            assert requests() >= 1


async def test_a_malformed_run_or_message_page_is_a_502_not_a_crash(app_client) -> None:
    answers = {
        "/runs/run_abc": b'{"id": "run_abc", "status": "no-such-status", "created_at": 1}',
        "/messages": b'{"object": "list", "data": [{"id": "msg_1", "role": "robot"}]}',
    }
    for path, body in answers.items():
        server, _ = await _answering(body)
        port = server.sockets[0].getsockname()[1]
        async with (
            server,
            app_client(client_from_settings=True, openai_base_url=f"http://127.0.0.1:{port}/v1") as client,
        ):
            response = await client.get(f"/threads/thread_abc{path}")
            assert response.status_code == 502, (path, response.text)
            assert response.json()["error"]["code"] == "upstream_error"
            assert "robot" not in response.text
            assert "no-such-status" not in response.text
