"""/v1 errors in OpenAI's shape (routes and middleware), API keys and isolation, ENGINE=assistants, and /chat."""

from __future__ import annotations

import re

import openai
import pytest

from tests.api.routes.v1.sdk_support import openai_error_body, openai_sdk
from tests.fakes.access import ALICE_KEY, API_KEYS, BOB_KEY
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import engine_of, hosted_app, wait_for_run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def test_not_found_and_bad_requests_read_as_openai_errors(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        with pytest.raises(openai.NotFoundError, match=re.escape("No thread found with id 'thread_x'.")) as missing:
            await sdk.beta.threads.retrieve("thread_x")
        assert openai_error_body(missing.value)["type"] == "invalid_request_error"
        with pytest.raises(openai.NotFoundError, match=re.escape("No assistant found with id 'asst_x'.")):
            await sdk.beta.assistants.retrieve("asst_x")
        thread = await sdk.beta.threads.create()
        with pytest.raises(openai.NotFoundError, match=re.escape("No run found with id 'run_x'.")):
            await sdk.beta.threads.runs.retrieve("run_x", thread_id=thread.id)
        with pytest.raises(openai.NotFoundError, match=re.escape("No assistant found with id 'asst_x'.")):
            await sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id="asst_x")
        with pytest.raises(openai.BadRequestError) as unknown:
            await sdk.beta.threads.create(extra_body={"foo": 1})
        assert openai_error_body(unknown.value) == {
            "message": "Unrecognized request argument supplied: foo",
            "type": "invalid_request_error",
            "param": "foo",
            "code": "unknown_parameter",
        }
        with pytest.raises(openai.BadRequestError) as missing_param:
            await sdk.beta.threads.messages.create(thread.id, role="user", content="x", extra_body={"role": None})
        assert openai_error_body(missing_param.value)["param"] == "role"
        bad_content = await client.post(f"/v1/threads/{thread.id}/messages", json={"role": "user"})
        assert bad_content.status_code == 400
        assert bad_content.json()["error"]["message"] == "Missing required parameter: 'content'."
        nowhere = await client.get("/v1/nowhere")
        assert nowhere.status_code == 404
        assert set(nowhere.json()["error"]) == {"message", "type", "param", "code"}


async def test_keys_are_checked_and_each_user_sees_only_their_own(fake: FakeOpenAI) -> None:
    async with (
        hosted_app(fake, api_keys=API_KEYS) as client,
        openai_sdk(client, ALICE_KEY) as alice,
        openai_sdk(client, BOB_KEY) as bob,
        openai_sdk(client, "wrong-key-0123456789abcdef") as stranger,
    ):
        with pytest.raises(openai.AuthenticationError) as refused:
            await stranger.beta.assistants.list()
        assert openai_error_body(refused.value)["code"] == "invalid_api_key"
        assert openai_error_body(refused.value)["type"] == "invalid_request_error"
        assistant = await alice.beta.assistants.create(model="gpt-4o-mini")
        thread = await alice.beta.threads.create(messages=[{"role": "user", "content": "mine"}])
        run = await alice.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=5
        )
        assert run.status == "completed"
        with pytest.raises(openai.NotFoundError, match=re.escape(f"No thread found with id '{thread.id}'.")):
            await bob.beta.threads.messages.list(thread.id)
        with pytest.raises(openai.NotFoundError, match=re.escape(f"No assistant found with id '{assistant.id}'.")):
            await bob.beta.assistants.retrieve(assistant.id)
        bobs_thread = await bob.beta.threads.create()
        with pytest.raises(openai.NotFoundError):  # alice's assistant cannot run on bob's thread
            await bob.beta.threads.runs.create(thread_id=bobs_thread.id, assistant_id=assistant.id)
        with pytest.raises(openai.NotFoundError):
            await bob.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
        assert [a.id for a in (await bob.beta.assistants.list()).data] == []


async def test_middleware_refusals_in_openai_shape(fake: FakeOpenAI) -> None:
    async with hosted_app(fake, rate_limit="2/minute", max_body_bytes=1024) as client:
        too_big = await client.post("/v1/threads", json={"metadata": {"k": "x" * 2000}})
        assert too_big.status_code == 413
        assert set(too_big.json()["error"]) == {"message", "type", "param", "code"}
        # Refused by its Content-Length before the route's dependencies run: the rate limit did not count it.
        assert [(await client.get("/v1/assistants")).status_code for _ in range(2)] == [200, 200]
        limited = await client.get("/v1/assistants")
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "rate_limit_exceeded"
        assert "Retry-After" in limited.headers


async def test_engine_assistants_answers_400_naming_engine_hosted(app_client) -> None:
    async with app_client() as client, openai_sdk(client) as sdk:
        with pytest.raises(openai.BadRequestError, match="ENGINE=hosted"):
            await sdk.beta.threads.create()
        with pytest.raises(openai.BadRequestError, match="ENGINE=hosted"):
            await sdk.beta.assistants.list()


async def test_one_state_with_chat_and_the_json_api(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        thread = await sdk.beta.threads.create(messages=[{"role": "user", "content": "from v1"}])
        started = await client.post("/chat", json={"content": "from chat", "threadId": thread.id})
        assert started.status_code == 200, started.text
        await wait_for_run(engine_of(client), thread.id, started.json()["run_id"])
        texts = [m.content[0].text.value for m in (await sdk.beta.threads.messages.list(thread.id, order="asc")).data]  # type: ignore[union-attr]
        assert texts[:2] == ["from v1", "from chat"]
        assert len(texts) == 3
        conversations = (await client.get("/conversations")).json()["data"]
        assert thread.id in [c["threadId"] for c in conversations]
        # And the other way round: a thread of POST /threads is a /v1 thread.
        made = (await client.post("/threads")).json()["thread_id"]
        assert (await sdk.beta.threads.retrieve(made)).id == made


@pytest.mark.parametrize("name", ["stream_options", "interval", "boolean_flag", "string"])
async def test_an_unknown_argument_is_named_whatever_it_starts_with(fake: FakeOpenAI, name: str) -> None:
    async with hosted_app(fake) as client:
        refused = await client.post("/v1/threads", json={name: 1})
    assert refused.status_code == 400
    assert refused.json()["error"] == {
        "message": f"Unrecognized request argument supplied: {name}",
        "type": "invalid_request_error",
        "param": name,
        "code": "unknown_parameter",
    }
