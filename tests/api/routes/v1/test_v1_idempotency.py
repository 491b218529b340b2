"""Idempotency-Key on /v1's creating routes: a retry gets the first answer and creates nothing more."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest
from openai import AsyncOpenAI

from tests.api.routes.v1.sdk_support import openai_sdk
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _key(value: str) -> dict[str, Any]:
    return {"extra_headers": {"Idempotency-Key": value}}


class AnswerLostOnce(httpx2.AsyncBaseTransport):
    """Hands every request to the app; the first POST's answer is lost on the way back (the connection broke)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.lost = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and self.lost == 0:
            self.lost += 1
            await response.aread()
            raise httpx2.ReadError("connection lost after the request was handled", request=request)
        return response


async def test_an_sdk_retry_after_a_lost_answer_creates_nothing_twice(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini")
        thread = await sdk.beta.threads.create()
        transport = AnswerLostOnce(httpx2.ASGITransport(app=client.app, raise_app_exceptions=False))  # type: ignore[attr-defined]
        async with httpx2.AsyncClient(transport=transport) as http:
            retrying = AsyncOpenAI(
                api_key="sk-unused", base_url="http://testserver/v1", http_client=http, max_retries=2
            )
            message = await retrying.beta.threads.messages.create(
                thread.id, role="user", content="once", **_key("message-1")
            )
            transport.lost = 0
            run = await retrying.beta.threads.runs.create(
                thread_id=thread.id, assistant_id=assistant.id, **_key("run-1")
            )
        assert transport.lost == 1  # the SDK did retry
        messages = await sdk.beta.threads.messages.list(thread.id, order="asc")
        assert [m.id for m in messages.data][:1] == [message.id]
        assert [m.role for m in messages.data].count("user") == 1
        assert [r.id for r in (await sdk.beta.threads.runs.list(thread.id)).data] == [run.id]


async def test_a_replay_returns_the_first_answer_and_a_changed_body_is_refused(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini", **_key("asst-1"))
        again = await sdk.beta.assistants.with_raw_response.create(model="gpt-4o-mini", **_key("asst-1"))
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.parse().id == assistant.id
        assert len((await sdk.beta.assistants.list()).data) == 2  # the built-in default and this one
        thread = await sdk.beta.threads.create(messages=[{"role": "user", "content": "hi"}], **_key("thread-1"))
        assert (await sdk.beta.threads.create(messages=[{"role": "user", "content": "hi"}], **_key("thread-1"))).id == (
            thread.id
        )
        with pytest.raises(openai.BadRequestError) as reused:
            await sdk.beta.threads.create(messages=[{"role": "user", "content": "other"}], **_key("thread-1"))
        assert reused.value.body["code"] == "idempotency_key_reused"  # type: ignore[index]
        both = await sdk.beta.threads.create_and_run(assistant_id=assistant.id, **_key("both-1"))
        replayed = await sdk.beta.threads.create_and_run(assistant_id=assistant.id, **_key("both-1"))
        assert (replayed.id, replayed.thread_id) == (both.id, both.thread_id)


async def test_a_refused_request_frees_its_key_and_streams_refuse_one(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini")
        with pytest.raises(openai.NotFoundError):
            await sdk.beta.threads.messages.create("thread_nope", role="user", content="x", **_key("m-1"))
        thread = await sdk.beta.threads.create()
        with pytest.raises(openai.NotFoundError):  # the same key, another request: the refusal kept nothing
            await sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id="asst_nope", **_key("r-1"))
        run = await sdk.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, **_key("r-1"))
        assert run.assistant_id == assistant.id
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.beta.threads.runs.create(
                thread_id=thread.id, assistant_id=assistant.id, stream=True, **_key("s-1")
            )
        assert refused.value.body["code"] == "idempotency_not_supported"  # type: ignore[index]
        assert "stream" in refused.value.body["message"]  # type: ignore[index]
