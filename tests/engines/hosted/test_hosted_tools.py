"""The hosted engine's built-in tools on the Responses API: file_search over the run's assistant's
stores, file citations as Assistants annotations, code_interpreter calls as tool_calls steps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.engines.hosted.citations import Citation, CitedText
from app.storage.threads import ThreadStore
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import engine_of, hosted_app, hosted_engine, new_store, wait_for_run
from tests.fakes.node_decoder import decode_like_chat_tsx

REPLY = "The answer is 42. Ask again."
CITED = {"file_id": "file-notes1", "filename": "notes.txt", "index": len("The answer is 42.")}
MARKER = "【0:0†notes.txt】"
CODE = "print(6 * 7)\n"
LOGS = "42\n"


def ndjson(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines() if line]


def text_parts(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line["data"]["delta"]["content"][0]["text"] for line in lines if line["event"] == "thread.message.delta"]


def code_assistant(tmp_path: Path, **fields: Any) -> dict[str, Any]:
    """Settings for a run assistant (ASSISTANTS_FILE) with code_interpreter."""
    path = tmp_path / "assistants.json"
    entry = {"id": "asst_code", "model": "m", "tools": [{"type": "code_interpreter"}], **fields}
    path.write_text(json.dumps([entry]))
    return {"assistants_file": str(path), "openai_assistant_id": "asst_code"}


async def post_message(client: Any, content: str) -> tuple[str, bytes]:
    thread_id = (await client.post("/api/assistants/threads")).json()["threadId"]
    body = json.dumps({"content": content}).encode()
    response = await client.post(f"/api/assistants/threads/{thread_id}/messages", content=body)
    assert response.status_code == 200
    return thread_id, response.content


@pytest.mark.parametrize("in_stream", [True, False], ids=["annotation-event", "final-response-only"])
async def test_a_citation_reaches_the_deltas_and_the_stored_message(fake: FakeOpenAI, in_stream: bool) -> None:
    fake.models.plan(reply=REPLY, citations=[CITED], cite_in_stream=in_stream)
    async with hosted_app(fake, openai_vector_store_id="vs_docs") as client:
        thread_id, body = await post_message(client, "What is the answer?")
        stored = (await client.get(f"/threads/{thread_id}/messages", params={"order": "asc"})).json()["data"]

    lines = ndjson(body)
    parts = text_parts(lines)
    assert all("annotations" not in part or part["annotations"] is not None for part in parts)
    assert parts[0]["annotations"] == [] or parts[0]["annotations"][0]["type"] == "file_citation"
    text = "".join(part["value"] for part in parts)
    # The citation's position was streamed before the annotation arrived: the marker follows the text.
    assert text == REPLY + MARKER
    start = len(REPLY)
    annotation = {
        "type": "file_citation",
        "text": MARKER,
        "start_index": start,
        "end_index": start + len(MARKER),
        "file_citation": {"file_id": "file-notes1"},
    }
    annotated = [a for part in parts for a in part.get("annotations", [])]
    assert annotated == [{"index": 0, **annotation}]
    assert text[start : start + len(MARKER)] == MARKER
    completed = next(line for line in lines if line["event"] == "thread.message.completed")
    assert completed["data"]["content"] == [{"type": "text", "text": {"value": text, "annotations": [annotation]}}]
    assert stored[1]["text"] == text
    assert stored[1]["content"] == [{"type": "text", "text": {"value": text, "annotations": [annotation]}}]
    assert stored[0]["content"][0]["text"]["annotations"] == []
    assert fake.models.calls[0].body["tools"] == [{"type": "file_search", "vector_store_ids": ["vs_docs"]}]


@pytest.fixture(params=["sqlite", "mongomock", "mongodb"])
def any_thread_store(request: pytest.FixtureRequest) -> ThreadStore:
    real = request.getfixturevalue("real_mongo_database") if request.param == "mongodb" else None
    return new_store(request.param, real)


async def test_annotations_are_stored_on_both_stores(fake: FakeOpenAI, any_thread_store: ThreadStore) -> None:
    fake.models.plan(reply=REPLY, citations=[CITED])
    async with hosted_engine(fake, any_thread_store, openai_vector_store_id="vs_docs") as engine:
        thread_id = await engine.create_thread()
        ref = await engine.start_run(thread_id, "What is the answer?")
        assert (await wait_for_run(engine, thread_id, ref.run_id)).status == "completed"
        page = await engine.list_messages(thread_id, order="asc")
    assert page.data[1].content[0]["text"]["annotations"][0]["file_citation"] == {"file_id": "file-notes1"}
    assert page.data[1].text.endswith(MARKER)


def test_a_marker_goes_in_at_its_position_when_the_text_has_not_reached_it() -> None:
    cited = CitedText()
    assert cited.cite(Citation("file-a", "a.txt", 6)) == []
    assert cited.cite(Citation("file-b", "", 50)) == []
    pieces = cited.text("Hello world")
    assert [text for text, _ in pieces] == ["Hello ", "【0:0†a.txt】", "world"]
    assert pieces[1][1] == {"index": 0, **cited.annotations[0]}
    assert cited.annotations[0]["start_index"] == 6
    assert cited.annotations[0]["end_index"] == 6 + len("【0:0†a.txt】")
    late = cited.cite(Citation("file-c", "c.txt", 3))  # already streamed: at the end of the text so far
    assert late[0][0] == "【1:0†c.txt】"
    assert cited.annotations[1]["start_index"] == len("Hello 【0:0†a.txt】world")
    assert [text for text, _ in cited.finish()] == ["【2:0†source】"]


async def test_an_uploaded_store_is_searched_by_the_next_run(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client:
        await post_message(client, "Before any upload")
        uploaded = await client.post("/api/assistants/files", files={"file": ("a.txt", b"hello", "text/plain")})
        assert uploaded.status_code == 200
        _, body = await post_message(client, "After the upload")
        run = await engine_of(client).store.get_run(ndjson(body)[0]["data"]["id"])
    (store_id,) = fake.vector_stores
    assert run is not None
    assert run.vector_store_ids == [store_id]
    before, after = fake.models.calls
    assert "tools" not in before.body
    assert after.body["tools"] == [{"type": "file_search", "vector_store_ids": [store_id]}]


async def test_an_assistant_without_file_search_searches_nothing(fake: FakeOpenAI, tmp_path: Path) -> None:
    settings = code_assistant(tmp_path, tool_resources={"file_search": {"vector_store_ids": ["vs_unused"]}})
    async with hosted_app(fake, openai_vector_store_id="vs_docs", **settings) as client:
        await post_message(client, "Hi")
    assert fake.models.calls[0].body["tools"] == [{"type": "code_interpreter", "container": {"type": "auto"}}]


async def test_a_code_interpreter_call_becomes_a_tool_calls_step(fake: FakeOpenAI, tmp_path: Path) -> None:
    fake.models.plan(reply="It is 42.", code={"code": CODE, "logs": LOGS})
    async with hosted_app(fake, **code_assistant(tmp_path)) as client:
        thread_id, body = await post_message(client, "Compute 6 * 7")
        lines = ndjson(body)
        run_id = lines[0]["data"]["id"]
        steps = (await client.get(f"/threads/{thread_id}/runs/{run_id}/steps", params={"order": "asc"})).json()

    assert fake.models.calls[0].body["tools"] == [{"type": "code_interpreter", "container": {"type": "auto"}}]
    created = [line["data"] for line in lines if line["event"] == "thread.run.step.created"]
    assert created[0]["step_details"] == {"type": "tool_calls", "tool_calls": []}
    code_step = created[0]["id"]
    deltas = [
        line["data"]["delta"]["step_details"]["tool_calls"][0]
        for line in lines
        if line["event"] == "thread.run.step.delta"
    ]
    first = deltas[0]
    assert first["type"] == "code_interpreter"
    assert first["id"].startswith("call_")
    assert first["code_interpreter"] == {"input": "", "outputs": []}
    assert "".join(d["code_interpreter"].get("input", "") for d in deltas) == CODE
    assert deltas[-1]["code_interpreter"] == {"outputs": [{"index": 0, "type": "logs", "logs": LOGS}]}
    assert all(d["index"] == 0 for d in deltas)
    events = [line["event"] for line in lines]
    completed_at = events.index("thread.run.step.completed")
    assert lines[completed_at]["data"]["id"] == code_step
    assert events.index("thread.message.created") > completed_at
    assert events[-1] == "thread.run.completed"

    stored = steps["data"]
    assert [step["type"] for step in stored] == ["tool_calls", "message_creation"]
    assert stored[0]["id"] == code_step
    assert stored[0]["status"] == "completed"
    assert stored[0]["step_details"] == {
        "type": "tool_calls",
        "tool_calls": [
            {
                "id": first["id"],
                "type": "code_interpreter",
                "code_interpreter": {"input": CODE, "outputs": [{"type": "logs", "logs": LOGS}]},
            }
        ],
    }


async def test_chat_completions_runs_offer_no_built_in_tools(fake: FakeOpenAI, tmp_path: Path) -> None:
    settings = code_assistant(tmp_path, tools=[{"type": "code_interpreter"}, {"type": "file_search"}])
    async with hosted_app(fake, hosted_model_api="chat_completions", openai_vector_store_id="vs_docs", **settings) as c:
        await post_message(c, "Hi")
    assert "tools" not in fake.models.calls[0].body


async def test_chat_tsx_shows_the_code_bubble_and_gets_the_citation(fake: FakeOpenAI, tmp_path: Path) -> None:
    fake.models.plan(reply=REPLY, citations=[CITED], code={"code": CODE, "logs": LOGS})
    settings = code_assistant(tmp_path, tools=[{"type": "code_interpreter"}, {"type": "file_search"}])
    settings["openai_vector_store_id"] = "vs_docs"
    async with hosted_app(fake, **settings) as client:
        _, body = await post_message(client, "Compute and cite")
    decoded = decode_like_chat_tsx(body)
    assert decoded["errors"] == []
    assert decoded["messages"] == [{"role": "code", "text": CODE}, {"role": "assistant", "text": REPLY + MARKER}]
    assert [a["type"] for a in decoded["annotations"]] == ["file_citation"]
    assert decoded["annotations"][0]["text"] == MARKER
    assert decoded["annotations"][0]["file_citation"] == {"file_id": "file-notes1"}
    assert decoded["inputDisabled"] is False


async def test_file_search_settings_are_reported_and_reach_the_model(fake: FakeOpenAI, tmp_path: Path) -> None:
    settings = {"max_num_results": 5, "ranking_options": {"score_threshold": 0.5}}
    assistant = code_assistant(
        tmp_path,
        tools=[{"type": "file_search", "file_search": settings}],
        tool_resources={"file_search": {"vector_store_ids": ["vs_docs"]}},
    )
    async with hosted_app(fake, **assistant) as client:
        await post_message(client, "Search my notes")
        reported = (await client.get("/v1/assistants/asst_code")).json()["tools"]
    assert reported == [
        {
            "type": "file_search",
            "file_search": {"max_num_results": 5, "ranking_options": {"ranker": "auto", "score_threshold": 0.5}},
        }
    ]
    assert fake.models.calls[0].body["tools"] == [{"type": "file_search", "vector_store_ids": ["vs_docs"], **settings}]
