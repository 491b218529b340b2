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


TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}


async def test_strict_refuses_what_llama_cpp_python_and_llama_server_refuse(fake: FakeOpenAI) -> None:
    null_content = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": [CALL]}]
    untyped = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello"}]
    async with raw_client(fake) as client:
        chat = await client.post("/v1/chat/completions", json={"model": "m", "messages": null_content})
        responses = await client.post("/v1/responses", json={"model": "m", "input": untyped})
        typed = [untyped[0], {**untyped[1], "type": "message"}]
        accepted = await client.post("/v1/responses", json={"model": "m", "input": typed})
        fake.models.flavour = "llama-cpp-python"
        no_responses_api = await client.post("/v1/responses", json={"model": "m", "input": typed})
        fake.models.flavour = "openai"
        openai_takes_both = [
            await client.post("/v1/chat/completions", json={"model": "m", "messages": null_content}),
            await client.post("/v1/responses", json={"model": "m", "input": untyped}),
        ]
    assert chat.status_code == 500  # llama-cpp-python: a pydantic validation error
    assert chat.json()["error"]["type"] == "internal_server_error"
    assert "'messages', 1, 'ChatCompletionRequestAssistantMessage', 'content'" in chat.json()["error"]["message"]
    assert "Input should be a valid string" in chat.json()["error"]["message"]
    assert responses.status_code == 400  # llama-server
    assert responses.json()["error"] == {
        "code": 400,
        "message": "Cannot determine type of 'item'",
        "type": "invalid_request_error",
    }
    assert accepted.status_code == 200
    assert no_responses_api.status_code == 404
    assert [answer.status_code for answer in openai_takes_both] == [200, 200]


async def test_context_refusals_are_worded_as_each_server_words_them(fake: FakeOpenAI) -> None:
    fake.models.context_tokens = 50
    body = {"model": "m", "messages": [{"role": "user", "content": "x" * 60}], "max_tokens": 10, "stream": True}
    answers = {}
    async with raw_client(fake) as client:
        for flavour in ("strict", "llama-server", "openai", "llama-cpp-python"):
            fake.models.flavour = flavour  # type: ignore[assignment]
            answers[flavour] = await client.post("/v1/chat/completions", json=body)
    llama = "the request exceeds the available context size (50 tokens), try increasing it"
    assert answers["strict"].json()["error"]["message"] == llama
    assert answers["llama-server"].status_code == answers["strict"].status_code == 400
    assert answers["llama-server"].json()["error"]["type"] == "exceed_context_size_error"
    assert answers["openai"].status_code == 400
    assert answers["openai"].json()["error"]["code"] == "context_length_exceeded"
    assert "maximum context length is 50 tokens" in answers["openai"].json()["error"]["message"]
    assert "(64 in the messages, 10 in the completion)" in answers["openai"].json()["error"]["message"]
    assert (answers["llama-cpp-python"].status_code, answers["llama-cpp-python"].content) == (200, b"")


async def test_tool_choice_is_taken_as_each_server_takes_it(fake: FakeOpenAI) -> None:
    fake.models.plan(reply="Not a call.")  # a reply planned, no call
    named = {"type": "function", "function": {"name": "get_weather"}}
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": TOOLS, "stream": True}

    async def finish(client: httpx2.AsyncClient, **extra: object) -> str:
        text = (await client.post("/v1/chat/completions", json={**base, **extra})).text
        chunks = [json.loads(line.removeprefix("data: ")) for line in text.split("\n\n") if line[6:7] == "{"]
        reasons = [choice["finish_reason"] for chunk in chunks for choice in chunk["choices"]]
        return next(reason for reason in reasons if reason)

    async with raw_client(fake) as client:
        honoured = await finish(client, tool_choice=named)  # strict: as OpenAI and llama-cpp-python do
        fake.models.flavour = "llama-server"
        ignored = await finish(client, tool_choice=named)
        fake.models.flavour = "strict"
        fake.models.plan(calls=[{"name": "get_weather", "arguments": "{}"}])
        dropped = await finish(client)  # no tool_choice: llama-cpp-python drops the tools
        required = await client.post("/v1/chat/completions", json={**base, "tool_choice": "required"})
    assert (honoured, ignored, dropped) == ("tool_calls", "stop", "stop")
    assert (required.status_code, required.content) == (200, b"")  # llama-cpp-python's assert: nothing
