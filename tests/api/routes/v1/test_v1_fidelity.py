"""/v1 as OpenAI answers, through the real openai SDK: `Invalid URL`, SDK objects as params, `usage` only once a run
has ended, the `openai-poll-after-ms` hint, and the defaults OpenAI reports (issue 20, items 11 and 13-16)."""

from __future__ import annotations

import openai
import pytest

from tests.api.routes.v1.sdk_support import WEATHER, openai_error_body, openai_sdk
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import FILE_SEARCH_REPORTED, hosted_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def test_an_unknown_path_or_method_is_openais_invalid_url(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        thread = await sdk.beta.threads.create()
        with pytest.raises(openai.NotFoundError) as unknown_path:
            await sdk.post(f"/threads/{thread.id}/nowhere", cast_to=object, body={})
        with pytest.raises(openai.NotFoundError) as wrong_method:
            await sdk.get("/threads", cast_to=object)  # POST only
        raw = await client.patch("/v1/assistants", json={})
    assert openai_error_body(unknown_path.value) == {
        "message": f"Invalid URL (POST /v1/threads/{thread.id}/nowhere)",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    assert openai_error_body(wrong_method.value)["message"] == "Invalid URL (GET /v1/threads)"
    assert raw.status_code == 404
    assert raw.json() == {
        "error": {
            "message": "Invalid URL (PATCH /v1/assistants)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


async def test_create_and_run_takes_the_sdks_own_objects_as_params(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini", tools=[{"type": "file_search"}, WEATHER])
        source = await sdk.beta.threads.create(metadata={"topic": "weather"})
        earlier = await sdk.beta.threads.runs.create_and_poll(
            thread_id=source.id, assistant_id=assistant.id, poll_interval_ms=5
        )
        # The SDK sends each object's fields as they were read, read-only ones (id, object, created_at) included.
        run = await sdk.beta.threads.create_and_run_poll(
            assistant_id=assistant.id,
            thread=source,  # type: ignore[arg-type]
            tools=assistant.tools,  # type: ignore[arg-type]
            truncation_strategy=earlier.truncation_strategy,  # type: ignore[arg-type]
            poll_interval_ms=5,
        )
        made = await sdk.beta.threads.retrieve(run.thread_id)
        with pytest.raises(openai.BadRequestError) as unknown:
            await sdk.beta.threads.create_and_run(
                assistant_id=assistant.id,
                thread={**source.model_dump(), "colour": "blue"},  # type: ignore[typeddict-unknown-key]
            )
    assert run.status == "completed"
    assert made.id != source.id
    assert made.metadata == {"topic": "weather"}
    assert run.tools == assistant.tools
    assert openai_error_body(unknown.value) == {
        "message": "Unrecognized request argument supplied: thread.colour",
        "type": "invalid_request_error",
        "param": "thread.colour",
        "code": "unknown_parameter",
    }


async def test_defaults_are_reported_as_openai_reports_them(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        assistant = await sdk.beta.assistants.create(
            model="gpt-4o-mini", tools=[{"type": "file_search"}, WEATHER, {"type": "code_interpreter"}]
        )
        raw = (await client.get(f"/v1/assistants/{assistant.id}")).json()
        thread = await sdk.beta.threads.create(messages=[{"role": "user", "content": "Hello"}])
        run = await sdk.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=5
        )
    assert (assistant.temperature, assistant.top_p) == (1.0, 1.0)
    assert (run.temperature, run.top_p) == (1.0, 1.0)
    assert raw["tools"] == [
        FILE_SEARCH_REPORTED,
        {"type": "function", "function": {**WEATHER["function"], "strict": False}},
        {"type": "code_interpreter"},
    ]
    assert run.tools == assistant.tools
    # Reported, not sent: the model server keeps its own defaults.
    assert not {"temperature", "top_p"} & set(fake.models.calls[-1].body)
