"""One rule for a message's text on every route: 1 to MAX_CONTENT_CHARS characters; a refused message is a 4xx naming
its field, and nothing is written. With ENGINE=hosted, one over the prompt budget fails its run at once, saying so."""

from __future__ import annotations

import pytest

from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import engine_of, hosted_app, wait_for_run

# MAX_PROMPT_TOKENS=1000 (about 3 bytes a token): 3,000 characters fit, 3,100 cannot.
BUDGET = {"max_prompt_tokens": 1000, "max_content_chars": 5000}
OVER_BUDGET = "x" * 3100


async def _stored_texts(client: object, thread_id: str) -> list[str]:
    return [message.text for message in (await engine_of(client).list_messages(thread_id)).data]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "said"),
    [("", "at least 1 character"), ("x" * 5001, "at most 5000 characters")],
)
async def test_every_route_refuses_the_same_messages_naming_the_field(fake: FakeOpenAI, text: str, said: str) -> None:
    async with hosted_app(fake, **BUDGET) as client:
        thread_id = (await client.post("/threads")).json()["thread_id"]
        assistant_id = (await client.post("/v1/assistants", json={"model": "m"})).json()["id"]
        user = {"role": "user", "content": text}
        answers = {
            "content": await client.post("/chat", json={"threadId": thread_id, "content": text}),
            "/v1 content": await client.post(f"/v1/threads/{thread_id}/messages", json=user),
            "messages[0].content": await client.post("/v1/threads", json={"messages": [user]}),
            "additional_messages[0].content": await client.post(
                f"/v1/threads/{thread_id}/runs", json={"assistant_id": assistant_id, "additional_messages": [user]}
            ),
            "thread.messages[0].content": await client.post(
                "/v1/threads/runs", json={"assistant_id": assistant_id, "thread": {"messages": [user]}}
            ),
        }
        stored = await _stored_texts(client, thread_id)
        threads = await client.get("/conversations")
    chat = answers.pop("content")
    assert chat.status_code == 422, chat.text
    assert chat.json()["error"]["fields"][0]["field"] == "content"
    assert said in chat.json()["error"]["message"]
    for field, answer in answers.items():
        assert answer.status_code == 400, (field, answer.text)
        error = answer.json()["error"]
        assert (error["type"], error["param"]) == ("invalid_request_error", field.removeprefix("/v1 ")), error
        assert said in error["message"]
    assert stored == []
    assert threads.json()["data"] == [], "no conversation was recorded"


async def test_a_message_over_the_prompt_budget_fails_its_run_at_once_saying_why(fake: FakeOpenAI) -> None:
    async with hosted_app(fake, **BUDGET) as client:
        engine = engine_of(client)
        thread_id = (await client.post("/threads")).json()["thread_id"]
        posted = await client.post("/chat", json={"threadId": thread_id, "content": OVER_BUDGET})
        assert posted.status_code == 200, posted.text
        run = await wait_for_run(engine, thread_id, posted.json()["run_id"])
    assert run.status == "failed"
    assert run.last_error is not None
    assert "too long for the model's prompt budget" in run.last_error.message
    assert fake.models.calls == [], "no model call was made for it"
