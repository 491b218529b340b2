"""The engine in use while a required setting is missing: chat answers 503 naming the setting, health still answers."""

from __future__ import annotations

import pytest

from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_app


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


async def test_hosted_without_api_key_answers_503(fake: FakeOpenAI) -> None:
    async with hosted_app(fake, openai_api_key=None) as client:
        response = await client.post("/chat", json={"content": "hi", "threadId": "thread_abc"})
        steps = await client.get("/threads/thread_abc/runs/run_abc/steps")
    assert response.status_code == 503
    assert response.json()["error"]["missing"] == "OPENAI_API_KEY"
    assert steps.status_code == 503
    assert steps.json()["error"]["missing"] == "OPENAI_API_KEY"


async def test_a_post_refused_for_configuration_writes_nothing(app_client) -> None:
    async with app_client(openai_api_key=None) as client:
        stores = client.app.state.stores  # type: ignore[attr-defined]
        chat = await client.post("/chat", json={"content": "hi", "threadId": "thread_abc"})
        streamed = await client.post("/chat/stream", json={"content": "hi", "threadId": "thread_abc"})
        conversations = await client.get("/conversations")
        owner = await stores.thread_owners.owner_of("thread_abc")
    assert (chat.status_code, streamed.status_code) == (503, 503)
    assert conversations.json()["data"] == [], "no conversation row"
    assert owner is None, "and the thread is not claimed"
