"""Upstream failures become the documented answers: statuses, timeouts, unreachable servers; no upstream text leaks."""

from __future__ import annotations

import pytest
from openai import AsyncOpenAI

from tests.fakes.app_support import TEST_API_KEY
from tests.fakes.fake_openai import FakeOpenAI


@pytest.mark.parametrize(
    ("status", "headers", "expected_status", "expected_code"),
    [
        (401, {}, 401, "upstream_auth_failed"),
        (429, {"retry-after": "17"}, 429, "upstream_rate_limited"),
        (500, {}, 502, "upstream_error"),
        (503, {}, 502, "upstream_error"),
        (403, {}, 502, "upstream_forbidden"),
    ],
)
async def test_upstream_errors_map_to_documented_statuses(
    app_client, fake: FakeOpenAI, status: int, headers: dict, expected_status: int, expected_code: str
) -> None:
    thread_id = fake.add_thread()
    fake.fail_next(status, f"upstream says no; key {TEST_API_KEY}", headers=headers, path_contains="/runs")
    async with app_client() as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
    assert response.status_code == expected_status
    assert response.json()["error"]["code"] == expected_code
    if headers:
        assert response.headers["retry-after"] == "17"
    assert TEST_API_KEY not in response.text
    assert "upstream says no" not in response.text


async def test_upstream_timeout_is_504(app_client, fake: FakeOpenAI, live_fake: str) -> None:
    thread_id = fake.add_thread()
    fake.fail_next(500, hang_s=1.0, path_contains="/runs")
    upstream = AsyncOpenAI(api_key=TEST_API_KEY, base_url=live_fake, max_retries=0, timeout=0.3)
    async with upstream, app_client(openai_client=upstream, openai_timeout_s=0.3) as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"


async def test_unreachable_upstream_is_502(app_client) -> None:
    unreachable = AsyncOpenAI(api_key=TEST_API_KEY, base_url="http://127.0.0.1:9/v1", max_retries=0, timeout=2)
    async with app_client(openai_client=unreachable) as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": "thread_abc"})
    await unreachable.close()
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_unreachable"


@pytest.mark.parametrize(
    ("status", "message", "headers", "expected_status", "expected_code"),
    [
        (401, "Incorrect API key provided", {}, 401, "upstream_auth_failed"),
        (404, "No thread found with id 'thread_x'.", {}, 404, "thread_not_found"),
        (404, "No assistant found with id 'asst_test'.", {}, 502, "upstream_not_found"),
        (429, "Rate limit reached", {"retry-after": "7"}, 429, "upstream_rate_limited"),
        (500, "The server had an error", {}, 502, "upstream_error"),
    ],
)
async def test_upstream_error_statuses_map_to_documented_answers(
    upstream_app, fake: FakeOpenAI, status: int, message: str, headers: dict, expected_status: int, expected_code: str
) -> None:
    thread_id = fake.add_thread()
    fake.fail_next(status, message, headers=headers, path_contains="/runs")
    async with upstream_app() as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
    assert response.status_code == expected_status
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == expected_code
    assert message not in response.text, "upstream texts stay in the log"
    if headers:
        assert response.headers["retry-after"] == "7"
