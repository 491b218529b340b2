"""The Next.js routes, decoded by openai-node's own AssistantStream with chat.tsx's handlers."""

from __future__ import annotations

import pytest

from tests.fakes.event_streams import ndjson_lines
from tests.fakes.fake_assistant_streams import StreamScript
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.nextjs_client import post_text_plain
from tests.fakes.node_decoder import decode_like_chat_tsx


def _has_null(value: object) -> bool:
    if isinstance(value, dict):
        return any(v is None or _has_null(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_null(v) for v in value)
    return False


async def test_frontend_flow_renders_the_reply_and_unlocks_the_input(app_client, fake: FakeOpenAI) -> None:
    async with app_client(openai_vector_store_id="vs_docs") as client:
        created = await client.post("/api/assistants/threads")
        thread_id = created.json()["threadId"]
        response = await post_text_plain(client, thread_id, "Grüße aus Oslo 👋, how are you?")

    assert created.status_code == 200
    assert fake.threads[thread_id]["tool_resources"]["file_search"] == {"vector_store_ids": ["vs_docs"]}
    assert response.status_code == 200
    body = response.content
    body.decode("ascii")  # ASCII-only JSON: immune to openai-node 4.46's split-UTF-8 bug
    for line in ndjson_lines(body):
        assert set(line) == {"event", "data"}
        if line["event"].endswith(".delta"):
            assert not _has_null(line["data"]), line
    decoded = decode_like_chat_tsx(body, chunk_bytes=5)
    assert decoded["errors"] == []
    assert decoded["messages"] == [{"role": "assistant", "text": "Echo: Grüße aus Oslo 👋, how are you?"}]
    assert decoded["inputDisabled"] is False
    assert fake.last_user_text(thread_id) == "Grüße aus Oslo 👋, how are you?"


async def test_function_call_requires_action_then_finishes_after_actions(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    fake.stream_script = StreamScript(function_call=("get_weather", '{"location":"Oslo"}'))
    async with app_client() as client:
        first = await post_text_plain(client, thread_id, "Weather in Oslo?")
        decoded = decode_like_chat_tsx(first.content)
        action = decoded["requiresAction"]
        assert decoded["errors"] == []
        assert decoded["inputDisabled"] is True
        assert action["toolCalls"][0]["function"] == {"name": "get_weather", "arguments": '{"location":"Oslo"}'}
        # chat.tsx drops `output` when its handler returns undefined.
        second = await client.post(
            f"/api/assistants/threads/{thread_id}/actions",
            json={"runId": action["runId"], "toolCallOutputs": [{"tool_call_id": action["toolCalls"][0]["id"]}]},
        )
    finished = decode_like_chat_tsx(second.content)
    assert finished["errors"] == []
    assert finished["messages"] == [{"role": "assistant", "text": "Tool said: "}]
    assert finished["inputDisabled"] is False
    submitted = fake.requests_to("POST", f"/runs/{action['runId']}/submit_tool_outputs")[0].body
    assert submitted["tool_outputs"] == [{"tool_call_id": action["toolCalls"][0]["id"], "output": ""}]
    assert submitted["stream"] is True


async def test_code_interpreter_steps_and_file_annotations_render(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    fake.stream_script = StreamScript(
        code_input=["import pandas", " as pd\nprint(1)"],
        text=["Here: ", "sandbox:/mnt/data/out.csv"],
        file_path_annotation="file-abc123",
    )
    async with app_client() as client:
        response = await post_text_plain(client, thread_id, "make a csv")
    decoded = decode_like_chat_tsx(response.content)
    assert decoded["errors"] == []
    assert decoded["messages"] == [
        {"role": "code", "text": " as pd\nprint(1)"},
        {"role": "assistant", "text": "Here: /api/files/file-abc123"},
    ]
    assert decoded["inputDisabled"] is False


async def test_upstream_error_mid_stream_is_shown_and_unlocks(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    fake.stream_script = StreamScript(text=["Partial", " answer", " never"], error_after_deltas=2)
    async with app_client() as client:
        response = await post_text_plain(client, thread_id, "hi")
    decoded = decode_like_chat_tsx(response.content)
    assert decoded["errors"] == []
    assert decoded["messages"][0] == {"role": "assistant", "text": "Partial answer"}
    assert decoded["messages"][1]["text"].startswith("Error: ")
    assert decoded["inputDisabled"] is False


async def test_failed_run_is_shown_and_unlocks(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    fake.stream_script = StreamScript(text=["One", " two"], fail_run_after_deltas=1)
    async with app_client() as client:
        response = await post_text_plain(client, thread_id, "hi")
    decoded = decode_like_chat_tsx(response.content)
    assert decoded["errors"] == []
    assert decoded["messages"][-1]["text"] == "The run failed: Sorry, something went wrong."
    assert decoded["inputDisabled"] is False


@pytest.mark.parametrize(
    ("thread_id", "setup", "status", "phrase"),
    [
        ("undefined", None, 422, "threadId"),
        ("thread_unknown", None, 404, "No thread found"),
        ("existing", "active", 400, "already has an active run"),
    ],
)
async def test_errors_before_the_stream_are_shown_and_unlock(
    app_client, fake: FakeOpenAI, thread_id: str, setup: str | None, status: int, phrase: str
) -> None:
    fake.run_seconds = 60
    if thread_id == "existing":
        thread_id = fake.add_thread()
    async with app_client() as client:
        if setup == "active":
            await client.post("/chat", json={"content": "first", "threadId": thread_id})
        response = await post_text_plain(client, thread_id, "hi")
    assert response.status_code == status
    decoded = decode_like_chat_tsx(response.content)
    assert decoded["errors"] == []
    assert phrase in decoded["messages"][-1]["text"]
    assert decoded["inputDisabled"] is False


@pytest.mark.parametrize("raw", [b"not json", b"", b'{"content": ""}', b'{"text": "hi"}', b'{"content": "   "}'])
async def test_bad_message_bodies_are_shown_and_unlock(app_client, fake: FakeOpenAI, raw: bytes) -> None:
    thread_id = fake.add_thread()
    async with app_client() as client:
        response = await client.post(f"/api/assistants/threads/{thread_id}/messages", content=raw)
    assert response.status_code in (400, 422)
    decoded = decode_like_chat_tsx(response.content)
    assert decoded["inputDisabled"] is False
    assert decoded["messages"][-1]["text"].startswith("Error: ")
    assert not [r for r in fake.requests if r.path.endswith("/runs")]


async def test_actions_for_a_run_not_waiting_is_shown_and_unlocks(app_client, fake: FakeOpenAI) -> None:
    thread_id = fake.add_thread()
    async with app_client() as client:
        started = await client.post("/chat", json={"content": "hi", "threadId": thread_id})
        response = await client.post(
            f"/api/assistants/threads/{thread_id}/actions",
            json={"runId": started.json()["run_id"], "toolCallOutputs": [{"tool_call_id": "call_1", "output": "x"}]},
        )
    assert response.status_code == 409
    decoded = decode_like_chat_tsx(response.content)
    assert decoded["inputDisabled"] is False


@pytest.mark.parametrize("route", ["messages", "actions"])
@pytest.mark.parametrize("content_type", ["text/plain;charset=UTF-8", "application/json"])
async def test_deeply_nested_json_is_a_422_naming_the_body(
    app_client, fake: FakeOpenAI, caplog: pytest.LogCaptureFixture, route: str, content_type: str
) -> None:
    thread_id = fake.add_thread()
    nested = b"[" * 3000 + b"]" * 3000  # deeper than json's parser recurses
    async with app_client() as client:
        response = await client.post(
            f"/api/assistants/threads/{thread_id}/{route}", content=nested, headers={"content-type": content_type}
        )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/x-ndjson")
    decoded = decode_like_chat_tsx(response.content)
    assert decoded["messages"][-1]["text"] == "Error: body: JSON nested too deeply"
    assert decoded["inputDisabled"] is False
    assert not [r for r in caplog.records if r.exc_info or "RecursionError" in r.getMessage()]
