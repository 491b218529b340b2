"""/v1 files attached to messages, and threads' tool_resources: the thread's vector store and code files."""

from __future__ import annotations

import asyncio
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


async def test_a_new_threads_vector_store_made_from_files(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        file_id = await _upload(sdk)
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini", tools=FILE_SEARCH)
        thread = await sdk.beta.threads.create(
            messages=[{"role": "user", "content": "When is the launch?"}],
            tool_resources={"file_search": {"vector_stores": [{"file_ids": [file_id]}]}},
        )
        store_ids = thread.tool_resources.file_search.vector_store_ids  # type: ignore[union-attr]
        assert store_ids is not None
        assert fake.vector_stores[store_ids[0]] == [file_id]
        assert fake.vector_store_expiry[store_ids[0]] == {"anchor": "last_active_at", "days": 7}
        await sdk.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=5)
        assert _tool(fake.models.calls[-1].body, "file_search")["vector_store_ids"] == store_ids
        with pytest.raises(openai.BadRequestError) as both:
            await sdk.beta.threads.create(
                tool_resources={"file_search": {"vector_store_ids": store_ids, "vector_stores": [{"file_ids": []}]}}
            )
        assert str(both.value.body["param"]).startswith("tool_resources.file_search")  # type: ignore[index]
        with pytest.raises(openai.BadRequestError) as on_update:  # only a new thread makes a store
            await sdk.beta.threads.update(
                thread.id,
                tool_resources={"file_search": {"vector_stores": [{"file_ids": [file_id]}]}},  # type: ignore[typeddict-unknown-key]
            )
        assert "vector_stores" in str(on_update.value.body["param"])  # type: ignore[index]


async def test_a_refused_create_leaves_no_thread_and_no_store(fake: FakeOpenAI) -> None:
    async with hosted_app(fake, max_threads_per_user=1) as client, openai_sdk(client) as sdk:
        file_id = await _upload(sdk)
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini", tools=FILE_SEARCH)
        bad: Any = [
            {"role": "user", "content": "hi", "attachments": [{"file_id": file_id, "tools": FILE_SEARCH}]},
            {"role": "user", "content": "x", "attachments": [{"file_id": "file-nope", "tools": FILE_SEARCH}]},
        ]
        for _ in range(2):  # a retry with the same key runs again, and again leaves nothing
            with pytest.raises(openai.BadRequestError) as refused:
                await sdk.beta.threads.create(messages=bad, extra_headers={"Idempotency-Key": "t-1"})
            assert refused.value.body["param"] == "messages[1].attachments[0].file_id"  # type: ignore[index]
        with pytest.raises(openai.BadRequestError) as no_tool:
            await sdk.beta.threads.create_and_run(
                assistant_id=assistant.id,
                thread={"messages": [{"role": "user", "content": "hi"}]},
                tool_choice={"type": "function", "function": {"name": "nowhere"}},
            )
        assert no_tool.value.body["param"] == "tool_choice"  # type: ignore[index]
        assert fake.vector_stores == {}
        # The user's one thread is still free: nothing above kept one.
        kept = await sdk.beta.threads.create(messages=bad[:1])
        assert kept.tool_resources.file_search.vector_store_ids  # type: ignore[union-attr]
        assert len(fake.vector_stores) == 1


async def test_a_refused_run_leaves_the_threads_files_as_they_were(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        file_id = await _upload(sdk)
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini", tools=[*FILE_SEARCH, *CODE])
        thread = await sdk.beta.threads.create()
        both: Any = [{"file_id": file_id, "tools": [*CODE, *FILE_SEARCH]}]
        with pytest.raises(openai.BadRequestError) as missing:
            await sdk.beta.threads.runs.create(
                thread_id=thread.id,
                assistant_id=assistant.id,
                additional_messages=[
                    {"role": "user", "content": "a", "attachments": both},
                    {"role": "user", "content": "b", "attachments": [{"file_id": "file-missing", "tools": CODE}]},
                ],
            )
        assert missing.value.body["param"] == "additional_messages[1].attachments[0].file_id"  # type: ignore[index]
        code_only: Any = [{"file_id": file_id, "tools": CODE}]
        with pytest.raises(openai.BadRequestError) as nothing_to_search:  # refused after the files were added
            await sdk.beta.threads.runs.create(
                thread_id=thread.id,
                assistant_id=assistant.id,
                tool_choice={"type": "file_search"},
                additional_messages=[{"role": "user", "content": "a", "attachments": code_only}],
            )
        assert nothing_to_search.value.body["param"] == "tool_choice"  # type: ignore[index]
        after = await sdk.beta.threads.retrieve(thread.id)
        assert after.tool_resources.model_dump(exclude_none=True) == {}  # type: ignore[union-attr]
        assert (await sdk.beta.threads.messages.list(thread.id)).data == []
        assert fake.vector_stores == {}
        twenty = [await _upload(sdk, f"c{n}.csv") for n in range(20)]  # tool_resources name the caller's own files
        limit: Any = {"code_interpreter": {"file_ids": twenty}}
        full = await sdk.beta.threads.create(tool_resources=limit)
        with pytest.raises(openai.BadRequestError, match="at most 20"):
            await sdk.beta.threads.messages.create(full.id, role="user", content="x", attachments=both)
        assert fake.vector_stores == {}  # refused before any upstream call


async def test_messages_with_attachments_posted_at_once_all_land_in_one_store(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        files = [await _upload(sdk, f"f{n}.txt") for n in range(4)]
        thread = await sdk.beta.threads.create()
        posted = await asyncio.gather(
            *(
                sdk.beta.threads.messages.create(
                    thread.id, role="user", content=f"m{n}", attachments=[{"file_id": file_id, "tools": FILE_SEARCH}]
                )
                for n, file_id in enumerate(files)
            )
        )
        assert len({m.id for m in posted}) == 4
        store_ids = (await sdk.beta.threads.retrieve(thread.id)).tool_resources.file_search.vector_store_ids  # type: ignore[union-attr]
        assert store_ids is not None
        assert list(fake.vector_stores) == store_ids  # the stores made at the same time were deleted
        assert sorted(fake.vector_stores[store_ids[0]]) == sorted(files)
        assert len((await sdk.beta.threads.messages.list(thread.id)).data) == 4


async def test_create_and_run_keeps_the_threads_and_the_runs_resources(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        code_file = await _upload(sdk, "data.csv")
        store = await sdk.vector_stores.create(name="docs")
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini", tools=[*FILE_SEARCH, *CODE])
        run = await sdk.beta.threads.create_and_run_poll(
            assistant_id=assistant.id,
            thread={"tool_resources": {"code_interpreter": {"file_ids": [code_file]}}},
            tool_resources={"file_search": {"vector_store_ids": [store.id]}},
            poll_interval_ms=5,
        )
        thread = await sdk.beta.threads.retrieve(run.thread_id)
        assert thread.tool_resources.model_dump(exclude_none=True) == {  # type: ignore[union-attr]
            "code_interpreter": {"file_ids": [code_file]},
            "file_search": {"vector_store_ids": [store.id]},
        }
        body = fake.models.calls[-1].body
        assert _tool(body, "file_search")["vector_store_ids"] == [store.id]
        assert _tool(body, "code_interpreter")["container"]["file_ids"] == [code_file]


async def test_a_store_made_from_files_is_checked_first_and_deleted_with_a_refused_create(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        file_id = await _upload(sdk)
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini", tools=FILE_SEARCH)
        with pytest.raises(openai.BadRequestError) as unknown:
            await sdk.beta.threads.create(
                tool_resources={"file_search": {"vector_stores": [{"file_ids": [file_id, "file-nope"]}]}}
            )
        assert unknown.value.body["param"] == "tool_resources.file_search.vector_stores[0].file_ids[1]"  # type: ignore[index]
        with pytest.raises(openai.BadRequestError):
            await sdk.beta.threads.create_and_run(
                assistant_id=assistant.id,
                thread={"tool_resources": {"file_search": {"vector_stores": [{"file_ids": [file_id]}]}}},
                tool_choice={"type": "function", "function": {"name": "nowhere"}},
            )
        assert fake.vector_stores == {}  # the store the refused create made was deleted
