"""Honest errors: a failed run's last_error names what happened (the context, a timeout, a connection dropped
mid-answer, the server's status), the server's own text goes to the log only, and a refusal that would
fail again (a 4xx, a 500 whose body is a validation error) is not retried."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from openai import AsyncOpenAI

from tests.fakes.app_support import TEST_API_KEY, sdk_client_for
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_engine, wait_for_run

APIS = ["responses", "chat_completions"]
PATHS = {"responses": "/responses", "chat_completions": "/chat/completions"}
# llama-cpp-python's answer to a message its request models do not take (llama-cpp-python-null-content-500.txt).
VALIDATION_500 = (
    "7 validation errors:\n  {'type': 'string_type', 'loc': ('body', 'messages', 2, "
    "'ChatCompletionRequestAssistantMessage', 'content'), 'msg': 'Input should be a valid string', 'input': None}"
)


async def _one_run(fake: FakeOpenAI, api: str, client: AsyncOpenAI | None = None) -> Any:
    async with hosted_engine(fake, client=client, hosted_model_api=api) as engine:
        thread_id = await engine.create_thread()
        ref = await engine.start_run(thread_id, "one")
        return await wait_for_run(engine, thread_id, ref.run_id)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(
    ("status", "message", "attempts"),
    [
        pytest.param(500, VALIDATION_500, 1, id="validation-500"),
        pytest.param(400, "Unrecognized request argument supplied: foo", 1, id="400"),
        pytest.param(500, "The server had an error while processing your request.", 3, id="plain-500"),
    ],
)
async def test_deterministic_refusals_are_not_retried(
    fake: FakeOpenAI, api: str, status: int, message: str, attempts: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app.engines.hosted")
    fake.fail_next(status, message, type_="internal_server_error", path_contains=PATHS[api], times=3)
    run = await _one_run(fake, api, sdk_client_for(fake, max_retries=2))
    assert len(fake.requests_to("POST", PATHS[api])) == attempts
    assert run.status == "failed"
    assert run.last_error is not None
    assert f"status {status}" in run.last_error.message
    said = message.splitlines()[-1][-30:]
    assert said not in run.last_error.message
    assert said in caplog.text  # the server's text: in the log


@pytest.mark.parametrize("api", APIS)
async def test_a_mid_stream_error_event_is_logged_with_the_servers_message(
    fake: FakeOpenAI, api: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="app.engines.hosted")
    fake.models.plan(cut_after=1, error_event=True, error_message="slot 3: KV cache is full")
    run = await _one_run(fake, api)
    assert run.last_error is not None
    assert run.last_error.message == "The model server reported an error while answering."
    assert "KV cache is full" in caplog.text
    assert "KV cache" not in run.last_error.message


@pytest.mark.parametrize("api", APIS)
async def test_a_connection_dropped_mid_answer_says_so_and_keeps_the_text(
    fake: FakeOpenAI, live_fake: str, api: str
) -> None:
    fake.models.plan(reply="The first words and then", cut_after=2, drop=True)
    upstream = AsyncOpenAI(api_key=TEST_API_KEY, base_url=live_fake, max_retries=0)
    async with upstream, hosted_engine(fake, client=upstream, hosted_model_api=api) as engine:
        thread_id = await engine.create_thread()
        ref = await engine.start_run(thread_id, "one")
        run = await wait_for_run(engine, thread_id, ref.run_id)
        messages = await engine.list_messages(thread_id, order="asc")
    assert fake.models.calls[0].outcome == "dropped"
    assert run.last_error is not None
    assert run.last_error.message == "The connection to the model server dropped while it was answering."
    assert [m.text for m in messages.data] == ["one", "The first"]  # what was streamed stays visible
