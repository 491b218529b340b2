"""POST /chat on the assistants engine: what the client gets, what reached the upstream, what was stored."""

from __future__ import annotations

import asyncio
import re

import pytest
from openai import AsyncOpenAI

from tests.conftest import ASSISTANT_ID, TEST_API_KEY
from tests.fake_openai import FakeOpenAI


async def test_chat_starts_run_and_answers_with_its_id(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    async with app_client() as client:
        response = await client.post("/chat", json={"content": "Hello!", "threadId": thread_id})

    assert response.status_code == 200
    body = response.json()
    assert body == {"success": True, "run_id": body["run_id"], "thread_id": thread_id}
    assert re.fullmatch(r"run_[A-Za-z0-9]{24}", body["run_id"])
    assert [run["id"] for run in fake.runs[thread_id]] == [body["run_id"]]


async def test_chat_sends_the_seed_run_settings_in_one_upstream_request(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    async with app_client(truncation_last_messages=7, max_completion_tokens=321, openai_model="gpt-4.1-mini") as client:
        response = await client.post("/chat", json={"content": "Hello!", "threadId": thread_id})

    assert response.status_code == 200
    assert [(r.method, r.path) for r in fake.requests if "/threads/" in r.path] == [
        ("POST", f"/v1/threads/{thread_id}/runs")
    ]
    sent = fake.requests_to("POST", f"/threads/{thread_id}/runs")[0]
    assert sent.body == {
        "assistant_id": ASSISTANT_ID,
        "model": "gpt-4.1-mini",
        "additional_messages": [{"role": "user", "content": "Hello!"}],
        "truncation_strategy": {"type": "last_messages", "last_messages": 7},
        "max_completion_tokens": 321,
    }
    assert sent.headers["authorization"] == f"Bearer {TEST_API_KEY}"
    assert sent.headers["openai-beta"] == "assistants=v2"
    assert fake.messages[thread_id][0]["content"][0]["text"]["value"] == "Hello!"


async def test_vector_store_is_attached_once_and_file_search_enabled_on_runs(app_client, fake: FakeOpenAI) -> None:
    fake.add_assistant(ASSISTANT_ID, tools=[{"type": "code_interpreter"}])
    thread_id = fake.add_thread()
    async with app_client(openai_vector_store_id="vs_docs") as client:
        first = await client.post("/chat", json={"content": "one", "threadId": thread_id})
        fake.runs[thread_id][0]["status"] = "completed"
        second = await client.post("/chat", json={"content": "two", "threadId": thread_id})

    assert first.status_code == second.status_code == 200
    updates = fake.requests_to("POST", f"/v1/threads/{thread_id}")
    assert [u.body for u in updates] == [{"tool_resources": {"file_search": {"vector_store_ids": ["vs_docs"]}}}]
    assert fake.threads[thread_id]["tool_resources"]["file_search"] == {"vector_store_ids": ["vs_docs"]}
    for run_request in fake.requests_to("POST", f"/threads/{thread_id}/runs"):
        assert run_request.body["tools"] == [{"type": "code_interpreter"}, {"type": "file_search"}]


async def test_active_run_answers_400_with_code_and_run_id(app_client, fake: FakeOpenAI) -> None:
    fake.run_seconds = 60
    thread_id = fake.add_thread()
    async with app_client() as client:
        first = await client.post("/chat", json={"content": "one", "threadId": thread_id})
        second = await client.post("/chat", json={"content": "two", "threadId": thread_id})

    assert first.status_code == 200
    assert second.status_code == 400
    error = second.json()["error"]
    assert error["code"] == "active_run"
    assert error["run_id"] == first.json()["run_id"]
    assert error["thread_id"] == thread_id
    assert second.json()["success"] is False
    user_messages = [m for m in fake.messages[thread_id] if m["role"] == "user"]
    assert len(user_messages) == 1, "the refused message must not be posted"


async def test_requires_action_run_also_blocks(app_client, fake: FakeOpenAI) -> None:
    fake.run_seconds = 60
    thread_id = fake.add_thread()
    async with app_client() as client:
        first = await client.post("/chat", json={"content": "one", "threadId": thread_id})
        fake.runs[thread_id][0]["status"] = "requires_action"
        second = await client.post("/chat", json={"content": "two", "threadId": thread_id})
    assert second.status_code == 400
    assert second.json()["error"]["run_id"] == first.json()["run_id"]


async def test_unknown_thread_is_404_and_leaves_no_conversation(app_client, fake: FakeOpenAI, mongo_stores) -> None:
    async with app_client() as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": "thread_doesnotexist"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "thread_not_found"
    assert await mongo_stores.conversations.get_conversation("default-user", "thread_doesnotexist") is None


HOSTILE_THREAD_IDS = [
    "thread_a/../../x",
    "",
    "thread_" + "a" * 10_000,
    "thread_ünïcödé",
    "thread_abc?x=1",
    "thread_abc#frag",
    "thread_abc%2F..",
    "../v1/assistants",
    "thread_abc\n",
    "run_abc123",
    " thread_abc",
]


@pytest.mark.parametrize("thread_id", HOSTILE_THREAD_IDS)
async def test_hostile_thread_ids_never_reach_the_upstream(app_client, fake: FakeOpenAI, thread_id: str) -> None:
    async with app_client() as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [f["field"] for f in error["fields"]] == ["threadId"]
    assert [r for r in fake.requests if "/threads" in r.path] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"threadId": "thread_abc"}, "content"),
        ({"content": "", "threadId": "thread_abc"}, "content"),
        ({"content": "   \n\t", "threadId": "thread_abc"}, "content"),
        ({"content": "x" * 32_001, "threadId": "thread_abc"}, "content"),
        ({"content": 42, "threadId": "thread_abc"}, "content"),
        ({"content": "hi"}, "threadId"),
        ({"content": "hi", "threadId": 12}, "threadId"),
    ],
)
async def test_bad_bodies_answer_422_naming_the_field(app_client, fake: FakeOpenAI, body: dict, field: str) -> None:
    async with app_client() as client:
        response = await client.post("/chat", json=body)
    assert response.status_code == 422
    assert field in [f["field"] for f in response.json()["error"]["fields"]]
    assert field in response.json()["error"]["message"]
    assert [r for r in fake.requests if "/threads" in r.path] == []


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'"just a string"'])
async def test_malformed_json_answers_422_in_the_error_shape(app_client, raw: bytes) -> None:
    async with app_client() as client:
        response = await client.post("/chat", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["success"] is False
    assert response.json()["error"]["code"] == "validation_error"


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
    async with upstream, app_client(openai_client=upstream) as client:
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


async def test_upstream_without_assistants_api_points_to_hosted_engine(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    fake.fail_next(404, f"Invalid URL (POST /v1/threads/{thread_id}/runs)", path_contains="/runs")
    async with app_client() as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "assistants_api_unavailable"
    assert "ENGINE=hosted" in response.json()["error"]["message"]


async def test_unknown_assistant_is_a_502_not_a_missing_thread(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    async with app_client(openai_assistant_id="asst_missing") as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_not_found"


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [({"openai_api_key": None}, "OPENAI_API_KEY"), ({"openai_assistant_id": None}, "OPENAI_ASSISTANT_ID")],
)
async def test_chat_without_configuration_answers_503_naming_the_variable(
    app_client, fake: FakeOpenAI, overrides: dict, variable: str
) -> None:
    async with app_client(**overrides) as client:
        health = await client.get("/")
        response = await client.post("/chat", json={"content": "hi", "threadId": "thread_abc"})
    assert health.status_code == 200
    assert health.json()["chat_configured"] is False
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "chat_not_configured"
    assert variable in response.json()["error"]["message"]
    assert [r for r in fake.requests if "/threads" in r.path] == []


async def test_unexpected_error_is_a_generic_500(app_client, fake: FakeOpenAI) -> None:
    from app.api.deps import get_chat_service

    class Broken:
        async def post_message(self, *args: object) -> None:
            raise RuntimeError(f"database password is hunter2 and key {TEST_API_KEY}")

    async with app_client() as client:
        client.app.dependency_overrides[get_chat_service] = lambda: Broken()
        response = await client.post("/chat", json={"content": "hi", "threadId": "thread_abc"})
    assert response.status_code == 500
    assert response.json() == {
        "success": False,
        "error": {"code": "internal_error", "message": "Internal server error."},
    }


async def test_unknown_route_and_method_use_the_error_shape(app_client) -> None:
    async with app_client() as client:
        missing = await client.get("/nope")
        wrong_method = await client.get("/chat")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_concurrent_first_messages_give_one_run_and_one_conversation(
    app_client, fake: FakeOpenAI, mongo_database
) -> None:
    fake.run_seconds = 60
    thread_id = fake.add_thread()
    async with app_client() as client:
        responses = await asyncio.gather(
            *(client.post("/chat", json={"content": f"m{i}", "threadId": thread_id}) for i in range(8))
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 7
    assert len(fake.runs[thread_id]) == 1
    docs = await mongo_database["conversations"].find({"threadId": thread_id}).to_list(None)
    assert len(docs) == 1
