"""The outermost middleware: every answer carries a request id, the caller's when it is safe."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import engine_of, hosted_app


async def test_request_id_is_taken_when_safe_else_made(app_client) -> None:
    async with app_client() as client:
        given = await client.get("/", headers={"X-Request-ID": "req-123.abc:7"})
        made = await client.get("/")
        unsafe = [
            await client.get("/", headers={"X-Request-ID": value})
            for value in ("has space", "x" * 65, "semi;colon", "<script>")
        ]
        error = await client.get("/nope", headers={"X-Request-ID": "req-404"})
    assert given.headers["x-request-id"] == "req-123.abc:7"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    for response in unsafe:
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    assert error.status_code == 404
    assert error.headers["x-request-id"] == "req-404"


async def test_an_unexpected_error_under_v1_answers_in_openais_shape(
    fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with hosted_app(fake) as client:
        engine = engine_of(client)

        async def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("secret internals")

        monkeypatch.setattr(engine.threads, "get", broken)
        answer = await client.get("/v1/threads/thread_abc")
        assert answer.status_code == 500
        assert set(answer.json()["error"]) == {"message", "type", "param", "code"}
        assert answer.json()["error"]["type"] == "server_error"
        assert "secret" not in answer.text
