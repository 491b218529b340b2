"""JSON bodies as JSON is written: NaN, Infinity and lone surrogates are a 4xx naming where, and nothing is stored."""

from __future__ import annotations

import pytest

from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_app

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("path", "raw", "param"),
    [
        ("/v1/threads", b'{"metadata": {"k": "\\ud800"}}', "metadata.k"),
        ("/v1/threads", b'{"messages": [{"role": "user", "content": "a\\uDC00b"}]}', "messages[0].content"),
        ("/v1/assistants", b'{"model": "m", "metadata": {"\\ud800": "v"}}', "metadata"),
        ("/v1/assistants", b'{"model": "m", "temperature": NaN}', None),
        (
            "/v1/assistants",
            b'{"model": "m", "tools": [{"type": "function", "function": {"name": "f", '
            b'"parameters": {"type": "object", "x": Infinity}}}]}',
            None,
        ),
    ],
)
async def test_v1_refuses_what_cannot_be_stored_or_sent(
    fake: FakeOpenAI, path: str, raw: bytes, param: str | None
) -> None:
    async with hosted_app(fake) as client:
        refused = await client.post(path, content=raw, headers=JSON)
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["param"] == param
        assert (await client.get("/v1/assistants")).status_code == 200  # nothing unreadable was stored


async def test_chat_refuses_a_lone_surrogate_and_takes_an_escaped_emoji(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client:
        thread_id = (await client.post("/threads")).json()["thread_id"]
        body = b'{"threadId": "%s", "content": "\\ud800"}' % thread_id.encode()
        refused = await client.post("/chat", content=body, headers=JSON)
        assert refused.status_code == 422
        assert refused.json()["error"]["fields"][0]["field"] == "content"
        emoji = await client.post("/v1/threads", content=b'{"metadata": {"mood": "\\ud83d\\ude00"}}', headers=JSON)
        assert emoji.status_code == 200
        assert emoji.json()["metadata"] == {"mood": "\U0001f600"}


@pytest.mark.parametrize("content_type", [None, "Application/JSON; charset=utf-8", "application/vnd.api+json"])
async def test_every_body_read_as_json_is_checked(fake: FakeOpenAI, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    async with hosted_app(fake) as client:
        refused = await client.post("/v1/threads", content=b'{"metadata": {"k": "\\uD800"}}', headers=headers)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["param"] == "metadata.k"


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        (b'{"metadata": {"k": "a\xed\xa0\x80b"}}', "UTF-8"),  # a surrogate encoded in UTF-8
        ('{"metadata": {"k": "x"}, "nan": NaN}'.encode("utf-16"), "UTF-8"),
        (b'{"metadata": {"k": "\xff"}}', "pars"),  # the parser itself refuses it
    ],
)
async def test_only_utf8_bodies(fake: FakeOpenAI, raw: bytes, said: str) -> None:
    async with hosted_app(fake) as client:
        refused = await client.post("/v1/threads", content=raw, headers=JSON)
        assert refused.status_code == 400, refused.text
        assert said in refused.json()["error"]["message"]
        assert (await client.post("/v1/threads", content='{"metadata": {"k": "é"}}'.encode(), headers=JSON)).is_success


def _nested(levels: int) -> dict[str, object]:
    schema: dict[str, object] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


@pytest.mark.parametrize("levels", [13, 125])
async def test_json_nested_deeper_than_32_levels_is_refused_naming_the_field_and_not_stored(
    fake: FakeOpenAI, levels: int
) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": _nested(levels)}}
    async with hosted_app(fake) as client:
        before = (await client.get("/v1/assistants")).json()["data"]
        created = await client.post("/v1/assistants", json={"model": "m", "tools": [tool]})
        thread_id = (await client.post("/threads")).json()["thread_id"]
        deep_chat = await client.post("/chat", json={"threadId": thread_id, "content": _nested(levels)})
        listed = await client.get("/v1/assistants")
    assert listed.status_code == 200
    if levels == 13:  # the body, 4 levels around the schema and 2 per its level: 31 in all
        assert created.status_code == 200, created.text
        return
    assert created.status_code == 400
    assert created.json()["error"]["param"] == "tools[0].function.parameters"
    assert "nested deeper than 32 levels" in created.json()["error"]["message"]
    assert listed.json()["data"] == before
    assert deep_chat.status_code == 422
    assert deep_chat.json()["error"]["fields"][0]["field"].startswith("content.")
