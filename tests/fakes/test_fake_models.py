"""The fake model endpoints speak the real wire formats: raw bytes checked, and parsed by the real SDK."""

from __future__ import annotations

import json

import httpx2
from openai.types.responses import (
    ResponseCodeInterpreterCallCodeDeltaEvent,
    ResponseCodeInterpreterToolCall,
    ResponseCompletedEvent,
    ResponseOutputMessage,
    ResponseOutputTextAnnotationAddedEvent,
)

from tests.fakes.app_support import sdk_client_for
from tests.fakes.fake_openai import FakeOpenAI


def raw_client(fake: FakeOpenAI) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=fake.app), base_url="http://fake-openai")


async def test_responses_stream_is_sse_with_event_lines_and_sequence_numbers(fake: FakeOpenAI) -> None:
    fake.models.plan(reply="Hi there")
    body = {"model": "m", "input": [{"role": "user", "content": "hello"}], "stream": True}
    async with raw_client(fake) as client:
        response = await client.post("/v1/responses", json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    blocks = [block for block in response.text.split("\n\n") if block]
    types, datas = [], []
    for block in blocks:
        event_line, data_line = block.split("\n")
        assert event_line.startswith("event: ")
        assert data_line.startswith("data: ")
        data = json.loads(data_line.removeprefix("data: "))
        assert data["type"] == event_line.removeprefix("event: ")
        types.append(data["type"])
        datas.append(data)
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [d["sequence_number"] for d in datas] == list(range(len(datas)))
    assert "".join(d["delta"] for d in datas if d["type"] == "response.output_text.delta") == "Hi there"
    assert "[DONE]" not in response.text


async def test_chat_completions_stream_is_data_lines_ending_with_done(fake: FakeOpenAI) -> None:
    fake.models.plan(reply="Hi there")
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "hello"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with raw_client(fake) as client:
        response = await client.post("/v1/chat/completions", json=body)
    lines = [line for line in response.text.split("\n\n") if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": None}  # as llama-server
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 2


async def test_non_streaming_answers_parse_with_the_sdk(fake: FakeOpenAI) -> None:
    sdk = sdk_client_for(fake)
    response = await sdk.responses.create(model="m", input="hello")
    completion = await sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "hello"}])
    await sdk.close()
    assert response.status == "completed"
    assert response.output_text == "Echo: hello"
    assert response.usage is not None
    assert response.usage.output_tokens == 2
    assert completion.choices[0].message.content == "Echo: hello"
    assert [call.api for call in fake.models.calls] == ["responses", "chat_completions"]


async def test_planned_status_is_the_openai_error_envelope(fake: FakeOpenAI) -> None:
    fake.models.plan(status=429)
    async with raw_client(fake) as client:
        response = await client.post("/v1/responses", json={"model": "m", "input": "hi", "stream": True})
    assert response.status_code == 429
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert fake.models.calls[0].outcome == "http_429"


async def test_citations_and_a_code_interpreter_call_parse_as_the_sdk_types(fake: FakeOpenAI) -> None:
    citation = {"file_id": "file-1", "filename": "notes.txt", "index": 2}
    fake.models.plan(reply="Hi there", citations=[citation], code={"code": "print(1)\n", "logs": "1\n"})
    stream = await sdk_client_for(fake).responses.create(model="m", input="hello", stream=True)
    async with stream:
        events = [event async for event in stream]
    code = [e for e in events if isinstance(e, ResponseCodeInterpreterCallCodeDeltaEvent)]
    assert "".join(e.delta for e in code) == "print(1)\n"
    (added,) = [e for e in events if isinstance(e, ResponseOutputTextAnnotationAddedEvent)]
    assert added.output_index == 1
    assert added.annotation is not None
    assert added.annotation.model_dump() == {"type": "file_citation", **citation}
    final = events[-1]
    assert isinstance(final, ResponseCompletedEvent)
    call, message = final.response.output
    assert isinstance(call, ResponseCodeInterpreterToolCall)
    assert call.code == "print(1)\n"
    assert call.outputs is not None
    assert call.outputs[0].model_dump() == {"type": "logs", "logs": "1\n"}
    assert isinstance(message, ResponseOutputMessage)
    assert message.content[0].model_dump()["annotations"] == [{"type": "file_citation", **citation}]
