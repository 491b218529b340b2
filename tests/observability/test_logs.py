"""Logs: JSON or text lines carrying the request id; no secret in any answer or log line."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from app.observability.logs import build_handler
from tests.fakes.access import API_KEYS, BOB_KEY
from tests.fakes.app_support import TEST_API_KEY
from tests.fakes.fake_openai import FakeOpenAI

ALICE_SECRET = "alice-SECRET-api-key-7f3e9a1c"


@pytest.fixture
def log_lines():
    """Everything logged while the test runs, through the production handler (JSON lines)."""
    stream = io.StringIO()
    handler = build_handler("json", secrets=[TEST_API_KEY, ALICE_SECRET], stream=stream)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


async def test_log_lines_carry_the_request_id_as_json(app_client, fake: FakeOpenAI, log_lines) -> None:
    thread_id = fake.add_thread()
    fake.fail_next(500, path_contains="/runs")
    async with app_client() as client:
        await client.post("/chat", json={"content": "hi", "threadId": thread_id}, headers={"X-Request-ID": "req-777"})
    lines = log_lines()
    during = [line for line in lines if line["request_id"] == "req-777"]
    assert {line["logger"] for line in during} >= {"app.api.error_handlers", "app.access"}
    access = next(line for line in during if line["logger"] == "app.access")
    assert access["message"].startswith("POST /chat 502 ")
    assert all(set(line) >= {"time", "level", "logger", "message", "request_id"} for line in lines)
    startup = [line for line in lines if "engine=assistants" in line["message"]]
    assert startup
    assert startup[0]["request_id"] == "-"


async def test_text_log_format_shows_the_request_id() -> None:
    stream = io.StringIO()
    handler = build_handler("text", secrets=["sekret-value-1"], stream=stream)
    record = logging.LogRecord("app.x", logging.INFO, __file__, 1, "key is %s", ("sekret-value-1",), None)
    record.request_id = "req-9"
    handler.emit(record)
    assert stream.getvalue().rstrip().endswith("INFO app.x [req-9]: key is [REDACTED]")


async def test_no_secret_reaches_a_response_or_a_log_line(app_client, fake: FakeOpenAI, caplog, log_lines) -> None:
    """A whole scenario with recognisable keys: good and bad keys, upstream errors echoing the key, limits."""
    keys = f"{ALICE_SECRET}:alice,{API_KEYS}"
    alice = {"Authorization": f"Bearer {ALICE_SECRET}"}
    thread_id = fake.add_thread()
    responses = []
    caplog.set_level(logging.DEBUG)
    async with app_client(api_keys=keys, rate_limit="30/minute", max_body_bytes=2048) as client:
        created = await client.post("/threads", headers=alice)
        own = created.json()["thread_id"]
        responses.append(created)
        responses.append(await client.post("/chat", json={"content": "hi", "threadId": own}, headers=alice))
        for headers in ({"X-API-Key": ALICE_SECRET[:-1]}, {"Authorization": f"Bearer {ALICE_SECRET}x"}, {}):
            responses.append(await client.post("/chat", json={"content": "hi", "threadId": own}, headers=headers))
        fake.fail_next(401, f"Incorrect API key provided: {TEST_API_KEY}", path_contains="/messages")
        responses.append(await client.get(f"/threads/{own}/messages", headers=alice))
        fake.fail_next(429, f"Rate limit for key {TEST_API_KEY}", headers={"retry-after": "3"}, path_contains="/runs")
        responses.append(await client.post("/chat/stream", json={"content": "x", "threadId": own}, headers=alice))
        responses.append(
            await client.post("/chat", json={"content": ALICE_SECRET, "threadId": "bad id"}, headers=alice)
        )
        responses.append(await client.post("/chat", content=ALICE_SECRET.encode() * 200, headers=alice))
        responses.append(
            await client.post(
                f"/api/assistants/threads/{thread_id}/messages", content=b'{"content": "hi"}', headers=alice
            )
        )
        responses.append(await client.get("/metrics", headers=alice))
        for _ in range(30):
            responses.append(await client.get("/conversations", headers=alice))
    assert responses[-1].status_code == 429
    statuses = {r.status_code for r in responses}
    assert {200, 401, 404, 413, 422, 429} <= statuses
    secrets = (ALICE_SECRET, TEST_API_KEY, BOB_KEY)
    for response in responses:
        for secret in secrets:
            assert secret not in response.text
            assert all(secret not in value for value in response.headers.values())
    captured = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "unauthorized" in captured
    assert "upstream error" in captured
    for secret in secrets:
        assert secret not in captured
        assert secret not in json.dumps(log_lines())


async def test_an_unexpected_error_text_is_redacted_in_the_production_log(app_client, log_lines) -> None:
    from app.api.deps import get_chat_service

    class Broken:
        async def post_message(self, *args: object, **kwargs: object) -> None:
            raise RuntimeError(f"leaked {TEST_API_KEY}")

    async with app_client() as client:
        client.app.dependency_overrides[get_chat_service] = lambda: Broken()
        response = await client.post("/chat", json={"content": "hi", "threadId": "thread_abc"})
    assert response.status_code == 500
    assert TEST_API_KEY not in response.text
    errors = [line for line in log_lines() if line["level"] == "ERROR"]
    assert errors
    assert "RuntimeError: leaked [REDACTED]" in errors[0]["exception"]
    assert TEST_API_KEY not in json.dumps(log_lines())


def test_text_log_escapes_control_characters_so_a_record_is_one_line() -> None:
    stream = io.StringIO()
    handler = build_handler("text", stream=stream)
    forged = "/x\n2026-01-01 00:00:00,000 INFO app.access [-]: GET /admin 200\r\x00\x1b[31m\x85\u2028\tend"
    record = logging.LogRecord("app.access", logging.INFO, __file__, 1, "%s %s %d", ("GET", forged, 404), None)
    handler.handle(record)

    line = stream.getvalue()
    assert line.count("\n") == 1
    assert line.endswith(
        "GET /x\\n2026-01-01 00:00:00,000 INFO app.access [-]: GET /admin 200\\r\\x00\\x1b[31m\\x85\\u2028\\tend 404\n"
    )
    assert len(line.splitlines()) == 1  # no other line boundary either (\x85, \u2028)
    assert record.getMessage().startswith("GET /x\n")  # the record itself is left as it was


def test_text_log_keeps_the_traceback_on_its_own_lines() -> None:
    stream = io.StringIO()
    handler = build_handler("text", stream=stream)
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("app.x", logging.ERROR, __file__, 1, "failed:\n%s", ("path\x00",), sys.exc_info())
    handler.handle(record)

    first, *rest = stream.getvalue().splitlines()
    assert first.endswith("failed:\\npath\\x00")
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "ValueError: boom"
