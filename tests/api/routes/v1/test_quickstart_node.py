"""The quickstart's own Next.js backend calls (openai-node 4.46.0, unchanged) against /v1 on a real port.

tests/node/quickstart_backend.cjs makes the calls of the quickstart's app/api/assistants routes and reads each
stream as chat.tsx does, and tests/node/poll_run.cjs polls a run with the SDK's createAndPoll; they skip (fail
under CI) without node and tests/node/node_modules.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from app.main import create_app
from tests.fakes.embedded_stores import embedded_stores
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_settings
from tests.fakes.node_decoder import node_decoder_available, run_node_script
from tests.fakes.servers import serve_in_thread

CALLER_KEY = "sk-quickstart-caller-key-0123456789"


@pytest.fixture
def live_hosted_app(live_fake: str) -> Iterator[str]:
    """Our app (ENGINE=hosted, API_KEYS set) served by uvicorn, its model calls going to the live fake."""
    node_decoder_available()
    settings = hosted_settings(openai_base_url=live_fake, openai_max_retries=0, api_keys=f"{CALLER_KEY}:quickstart")
    app = create_app(settings, stores=embedded_stores())
    with serve_in_thread(app, lifespan="on") as url:
        yield url


def test_quickstart_backend_calls_through_a_function_call_round_trip(live_hosted_app: str, fake: FakeOpenAI) -> None:
    fake.models.plan(calls=[{"name": "get_weather", "arguments": '{"location":"Oslo"}', "call_id": "call_w1"}])
    fake.models.plan(reply="It is sunny and 12 C in Oslo.")
    summary = run_node_script(
        "quickstart_backend.cjs", {"OPENAI_BASE_URL": live_hosted_app + "/v1", "OPENAI_API_KEY": CALLER_KEY}
    )
    assert summary["errors"] == [], summary
    assert summary["assistant"]["tools"] == ["code_interpreter", "function", "file_search"]
    first, second = summary["first"], summary["second"]
    assert first["events"][:3] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress"]
    assert first["events"][-1] == "thread.run.requires_action"
    assert first["finalRunStatus"] == "requires_action"
    [call] = first["requiresAction"]["toolCalls"]
    assert call["id"] == "call_w1"
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"location": "Oslo"}
    assert first["messages"] == []
    assert second["events"][0] == "thread.run.queued"
    assert "thread.message.delta" in second["events"]
    assert second["events"][-1] == "thread.run.completed"
    assert second["finalRunStatus"] == "completed"
    assert second["messages"] == [{"role": "assistant", "text": "It is sunny and 12 C in Oslo."}]
    # The tool output the page submitted reached the model call that wrote the reply.
    assert '\\"conditions\\":\\"Sunny\\"' in json.dumps(fake.models.calls[-1].body)
    print(json.dumps(summary))  # the transcript (pytest -s shows it)


def test_create_and_poll_waits_as_long_as_the_poll_hint_says(
    live_hosted_app: str, live_fake: str, fake: FakeOpenAI
) -> None:
    # The model call waits until the poller has seen the run going on (the script then opens the gate).
    fake.models.plan(gate=asyncio.Event(), reply="Hi there.")
    summary = run_node_script(
        "poll_run.cjs",
        {
            "OPENAI_BASE_URL": live_hosted_app + "/v1",
            "OPENAI_API_KEY": CALLER_KEY,
            "FAKE_URL": live_fake.removesuffix("/v1"),
        },
    )
    assert summary["errors"] == [], summary
    assert summary["finalStatus"] == "completed"
    assert summary["created"] == {"status": "queued", "pollAfter": "200"}
    *going_on, last = summary["polls"]
    # Each answer with the run going on told the poller to come back after 200 ms (its default: 5 s).
    assert going_on, summary
    assert all(poll["status"] in ("queued", "in_progress") for poll in going_on)
    assert {poll["pollAfter"] for poll in going_on} == {"200"}
    assert last == {"status": "completed", "pollAfter": None}
