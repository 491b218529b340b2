"""/v1 files attached to messages, and threads' tool_resources: the thread's vector store and code files."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from tests.api.routes.v1.sdk_support import openai_sdk
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FILE_SEARCH: Any = [{"type": "file_search"}]
CODE: Any = [{"type": "code_interpreter"}]


async def _upload(sdk: AsyncOpenAI, name: str = "notes.txt") -> str:
    return (await sdk.files.create(file=(name, b"the launch is on Tuesday"), purpose="assistants")).id


def _tool(body: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(tool for tool in body.get("tools") or [] if tool["type"] == kind)


async def test_a_file_search_attachment_fills_the_threads_vector_store_and_runs_search_it(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        first, second = await _upload(sdk), await _upload(sdk, "more.txt")
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini", tools=FILE_SEARCH)
        thread = await sdk.beta.threads.create()
        message = await sdk.beta.threads.messages.create(
            thread.id,
            role="user",
            content="When is the launch?",
            attachments=[{"file_id": first, "tools": FILE_SEARCH}],
        )
        assert [(a.file_id, [t.type for t in a.tools or []]) for a in message.attachments or []] == [
            (first, ["file_search"])
        ]
        stored = await sdk.beta.threads.retrieve(thread.id)
        store_ids = stored.tool_resources.file_search.vector_store_ids  # type: ignore[union-attr]
        assert store_ids is not None
        assert len(store_ids) == 1
        assert fake.vector_stores[store_ids[0]] == [first]
        assert fake.vector_store_names[store_ids[0]] == f"thread {thread.id}"
        assert fake.vector_store_expiry[store_ids[0]] == {"anchor": "last_active_at", "days": 7}
        await sdk.beta.threads.messages.create(
            thread.id, role="user", content="and this", attachments=[{"file_id": second, "tools": FILE_SEARCH}]
        )
        assert list(fake.vector_stores) == store_ids  # the same store, no second one
        assert fake.vector_stores[store_ids[0]] == [first, second]
        listed = await sdk.beta.threads.messages.list(thread.id, order="asc")
        assert [m.attachments[0].file_id for m in listed.data] == [first, second]  # type: ignore[index]
        run = await sdk.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=5
        )
        assert run.status == "completed"
        assert _tool(fake.models.calls[-1].body, "file_search")["vector_store_ids"] == store_ids


async def test_a_run_searches_its_assistants_store_and_its_threads(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        library = await sdk.vector_stores.create(name="library")
        assistant = await sdk.beta.assistants.create(
            model="gpt-4o-mini", tools=FILE_SEARCH, tool_resources={"file_search": {"vector_store_ids": [library.id]}}
        )
        own = await sdk.vector_stores.create(name="the thread's")
        thread = await sdk.beta.threads.create(
            messages=[{"role": "user", "content": "hi"}],
            tool_resources={"file_search": {"vector_store_ids": [own.id]}},
        )
        assert thread.tool_resources.file_search.vector_store_ids == [own.id]  # type: ignore[union-attr]
        await sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=5)
        assert _tool(fake.models.calls[-1].body, "file_search")["vector_store_ids"] == [library.id, own.id]
        cleared = await sdk.beta.threads.update(thread.id, tool_resources={})
        assert cleared.tool_resources.file_search is None  # type: ignore[union-attr]
        await sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=5)
        assert _tool(fake.models.calls[-1].body, "file_search")["vector_store_ids"] == [library.id]


async def test_code_interpreter_attachments_and_resources_reach_the_container(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        data, extra = await _upload(sdk, "data.csv"), await _upload(sdk, "extra.csv")
        assistant = await sdk.beta.assistants.create(
            model="gpt-4o-mini", tools=CODE, tool_resources={"code_interpreter": {"file_ids": [extra]}}
        )
        run = await sdk.beta.threads.create_and_run_poll(
            assistant_id=assistant.id,
            thread={
                "messages": [{"role": "user", "content": "plot it", "attachments": [{"file_id": data, "tools": CODE}]}]
            },
            poll_interval_ms=5,
        )
        assert run.status == "completed"
        thread = await sdk.beta.threads.retrieve(run.thread_id)
        assert thread.tool_resources.code_interpreter.file_ids == [data]  # type: ignore[union-attr]
        container = _tool(fake.models.calls[-1].body, "code_interpreter")["container"]
        assert container == {"type": "auto", "file_ids": [extra, data]}
        assert fake.vector_stores == {}  # no file_search attachment: no store made


async def test_attachments_on_a_runs_additional_messages(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        file_id = await _upload(sdk)
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini", tools=FILE_SEARCH)
        thread = await sdk.beta.threads.create()
        run = await sdk.beta.threads.runs.create_and_poll(
            thread_id=thread.id,
            assistant_id=assistant.id,
            additional_messages=[
                {"role": "user", "content": "read it", "attachments": [{"file_id": file_id, "tools": FILE_SEARCH}]}
            ],
            poll_interval_ms=5,
        )
        assert run.status == "completed"
        store_ids = (await sdk.beta.threads.retrieve(thread.id)).tool_resources.file_search.vector_store_ids  # type: ignore[union-attr]
        assert store_ids is not None
        assert fake.vector_stores[store_ids[0]] == [file_id]
        assert _tool(fake.models.calls[-1].body, "file_search")["vector_store_ids"] == store_ids


async def test_an_unknown_file_is_a_400_naming_it_and_stores_nothing(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        thread = await sdk.beta.threads.create()
        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.beta.threads.messages.create(
                thread.id, role="user", content="x", attachments=[{"file_id": "file-nope", "tools": FILE_SEARCH}]
            )
        assert refused.value.body["param"] == "attachments[0].file_id"  # type: ignore[index]
        assert "file-nope" in refused.value.body["message"]  # type: ignore[index]
        assert (await sdk.beta.threads.messages.list(thread.id)).data == []
        assert fake.vector_stores == {}
        with pytest.raises(openai.BadRequestError) as bad_tool:
            await sdk.beta.threads.messages.create(
                thread.id,
                role="user",
                content="x",
                attachments=[{"file_id": "file-1", "tools": [{"type": "web"}]}],  # type: ignore[list-item]
            )
        assert str(bad_tool.value.body["param"]).startswith("attachments")  # type: ignore[index]


async def test_attachments_need_the_responses_api(fake: FakeOpenAI) -> None:
    async with hosted_app(fake, hosted_model_api="chat_completions") as client, openai_sdk(client) as sdk:
        file_id = await _upload(sdk)
        thread = await sdk.beta.threads.create()
        with pytest.raises(openai.BadRequestError, match="HOSTED_MODEL_API=responses") as refused:
            await sdk.beta.threads.messages.create(
                thread.id, role="user", content="x", attachments=[{"file_id": file_id, "tools": FILE_SEARCH}]
            )
        assert refused.value.body["param"] == "attachments"  # type: ignore[index]
        assert (await sdk.beta.threads.messages.list(thread.id)).data == []
        assert fake.vector_stores == {}
