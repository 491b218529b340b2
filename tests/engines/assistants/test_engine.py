"""Engine `assistants`: the run request it sends upstream, the vector store it attaches, refusals it translates."""

from __future__ import annotations

from tests.fakes.app_support import ASSISTANT_ID, TEST_API_KEY
from tests.fakes.fake_openai import FakeOpenAI


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
        # Marks the run as this request's, so a failed attempt can be looked for before any retry.
        "metadata": {"chat_backend_request": response.headers["x-request-id"]},
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


async def test_run_steps_answer_that_they_need_the_hosted_engine(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    async with app_client() as client:
        response = await client.get(f"/threads/{thread_id}/runs/run_abc/steps")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "hosted_engine_required"
    assert "ENGINE=hosted" in response.json()["error"]["message"]
