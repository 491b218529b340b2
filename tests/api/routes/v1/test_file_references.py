"""Requests that name files and vector stores (attachments, tool_resources) name only the caller's own; stores the
service makes for a thread or an assistant are its owner's; the operator's stores are read-only on /v1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from tests.api.routes.v1.sdk_support import openai_sdk
from tests.fakes.access import ALICE_KEY, API_KEYS, BOB_KEY
from tests.fakes.fake_files import put_upstream_file
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import engine_of, hosted_app, wait_for_run

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FILE_SEARCH: Any = [{"type": "file_search"}]
CODE: Any = [{"type": "code_interpreter"}]


async def _upload(sdk: AsyncOpenAI, name: str = "notes.txt") -> str:
    return (await sdk.files.create(file=(name, b"the launch is on Tuesday"), purpose="assistants")).id


@asynccontextmanager
async def _alice_and_bob(fake: FakeOpenAI) -> AsyncIterator[tuple[AsyncOpenAI, AsyncOpenAI]]:
    async with (
        hosted_app(fake, api_keys=API_KEYS) as client,
        openai_sdk(client, api_key=ALICE_KEY) as alice,
        openai_sdk(client, api_key=BOB_KEY) as bob,
    ):
        yield alice, bob


async def _refused_param(call: Any) -> str:
    with pytest.raises(openai.BadRequestError) as refused:
        await call
    body: Any = refused.value.body
    return str(body["param"])


async def test_another_users_files_and_stores_cannot_be_named(fake: FakeOpenAI) -> None:
    async with _alice_and_bob(fake) as (alice, bob):
        file_id = await _upload(alice)
        store_id = (await alice.vector_stores.create(name="alice's")).id
        assistant = await bob.beta.assistants.create(model="gpt-4o-mini", tools=[*FILE_SEARCH, *CODE])
        thread = await bob.beta.threads.create()
        stores: Any = {"file_search": {"vector_store_ids": [store_id]}}
        code: Any = {"code_interpreter": {"file_ids": [file_id]}}
        attached: Any = [{"file_id": file_id, "tools": FILE_SEARCH}]
        refusals = [
            (
                bob.beta.threads.messages.create(thread.id, role="user", content="x", attachments=attached),
                "attachments[0].file_id",
            ),
            (bob.beta.threads.create(tool_resources=stores), "tool_resources.file_search.vector_store_ids[0]"),
            (bob.beta.threads.create(tool_resources=code), "tool_resources.code_interpreter.file_ids[0]"),
            (
                bob.beta.threads.create(tool_resources={"file_search": {"vector_stores": [{"file_ids": [file_id]}]}}),
                "tool_resources.file_search.vector_stores[0].file_ids[0]",
            ),
            (
                bob.beta.threads.create(messages=[{"role": "user", "content": "x", "attachments": attached}]),
                "messages[0].attachments[0].file_id",
            ),
            (
                bob.beta.threads.update(thread.id, tool_resources=stores),
                "tool_resources.file_search.vector_store_ids[0]",
            ),
            (
                bob.beta.assistants.create(model="m", tool_resources=stores),
                "tool_resources.file_search.vector_store_ids[0]",
            ),
            (
                bob.beta.assistants.update(assistant.id, tool_resources=code),
                "tool_resources.code_interpreter.file_ids[0]",
            ),
            (
                bob.beta.threads.runs.create(
                    thread.id,
                    assistant_id=assistant.id,
                    additional_messages=[{"role": "user", "content": "x", "attachments": attached}],
                ),
                "additional_messages[0].attachments[0].file_id",
            ),
            (
                bob.beta.threads.create_and_run(assistant_id=assistant.id, tool_resources=stores),
                "tool_resources.file_search.vector_store_ids[0]",
            ),
        ]
        params = [await _refused_param(call) for call, _ in refusals]
        assert params == [param for _, param in refusals]
        assert (await bob.beta.threads.messages.list(thread.id)).data == []
        assert [t.id async for t in bob.beta.threads.runs.list(thread.id)] == []
    assert fake.vector_stores == {store_id: []}, "no store made for Bob"


async def test_stores_made_for_a_thread_belong_to_its_owner(fake: FakeOpenAI) -> None:
    async with _alice_and_bob(fake) as (alice, bob):
        file_id = await _upload(alice)
        thread = await alice.beta.threads.create()
        await alice.beta.threads.messages.create(
            thread.id, role="user", content="x", attachments=[{"file_id": file_id, "tools": FILE_SEARCH}]
        )
        made = await alice.beta.threads.create(
            tool_resources={"file_search": {"vector_stores": [{"file_ids": [file_id]}]}}
        )
        thread_store = (await alice.beta.threads.retrieve(thread.id)).tool_resources.file_search.vector_store_ids[0]  # type: ignore[union-attr,index]
        made_store = made.tool_resources.file_search.vector_store_ids[0]  # type: ignore[union-attr,index]
        listed = [s.id async for s in alice.vector_stores.list()]
        assert sorted(listed) == sorted([thread_store, made_store])
        assert (await alice.vector_stores.search(thread_store, query="launch")).data[0].file_id == file_id
        for store_id in (thread_store, made_store):
            with pytest.raises(openai.NotFoundError):
                await bob.vector_stores.retrieve(store_id)
            with pytest.raises(openai.NotFoundError):
                await bob.vector_stores.files.delete(file_id, vector_store_id=store_id)
        assert [s.id async for s in bob.vector_stores.list()] == []
    assert fake.vector_stores[thread_store] == [file_id]


async def test_assistants_make_their_vector_store_from_file_ids_as_openai_does(fake: FakeOpenAI) -> None:
    async with hosted_app(fake, api_keys=API_KEYS) as client, openai_sdk(client, api_key=ALICE_KEY) as sdk:
        file_id = await _upload(sdk)
        assistant = await sdk.beta.assistants.create(
            model="gpt-4o-mini",
            tools=FILE_SEARCH,
            tool_resources={"file_search": {"vector_stores": [{"file_ids": [file_id], "metadata": {"k": "v"}}]}},
        )
        store_ids = assistant.tool_resources.file_search.vector_store_ids  # type: ignore[union-attr]
        assert store_ids is not None
        assert len(store_ids) == 1
        assert [s.id async for s in sdk.vector_stores.list()] == store_ids
        assert (await sdk.beta.assistants.retrieve(assistant.id)).tool_resources == assistant.tool_resources
        run = await sdk.beta.threads.create_and_run_poll(
            assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "when?"}]}, poll_interval_ms=5
        )
        assert run.status == "completed"
        searched = next(t for t in fake.models.calls[-1].body["tools"] if t["type"] == "file_search")
        assert searched["vector_store_ids"] == store_ids
        refused = await _refused_param(
            sdk.beta.assistants.create(
                model="m", tool_resources={"file_search": {"vector_stores": [{"file_ids": [file_id, "file-nope"]}]}}
            )
        )
        assert refused == "tool_resources.file_search.vector_stores[0].file_ids[1]"
    assert fake.vector_stores[store_ids[0]] == [file_id]
    assert store_ids[0] not in fake.vector_store_expiry, "an assistant's store does not expire"
    assert len(fake.vector_stores) == 1, "nothing made for the refused create"


async def test_the_operators_stores_are_searched_by_runs_and_read_only_on_v1(fake: FakeOpenAI) -> None:
    put_upstream_file(fake, "file-ops", "faq.txt", b"refunds take a week")
    fake.vector_stores["vs_ops"] = ["file-ops"]
    async with (
        hosted_app(fake, api_keys=API_KEYS, openai_vector_store_id="vs_ops") as client,
        openai_sdk(client, api_key=ALICE_KEY) as sdk,
    ):
        assert (await sdk.vector_stores.retrieve("vs_ops")).id == "vs_ops"
        assert [f.id async for f in sdk.vector_stores.files.list("vs_ops")] == ["file-ops"]
        assert (await sdk.vector_stores.search("vs_ops", query="refunds")).data[0].file_id == "file-ops"
        own = await _upload(sdk)
        writes = [
            sdk.vector_stores.update("vs_ops", name="mine"),
            sdk.vector_stores.delete("vs_ops"),
            sdk.vector_stores.files.create("vs_ops", file_id=own),
            sdk.vector_stores.files.delete("file-ops", vector_store_id="vs_ops"),
            sdk.vector_stores.file_batches.create("vs_ops", file_ids=[own]),
        ]
        for write in writes:
            with pytest.raises(openai.PermissionDeniedError) as refused:
                await write
            assert refused.value.body["code"] == "read_only"  # type: ignore[index]
        with pytest.raises(openai.NotFoundError):
            await sdk.files.retrieve("file-ops")  # its files are not the caller's
        assert [s.id async for s in sdk.vector_stores.list()] == []
        param = await _refused_param(
            sdk.beta.threads.create(tool_resources={"file_search": {"vector_store_ids": ["vs_ops"]}})
        )
        assert param == "tool_resources.file_search.vector_store_ids[0]"
        alice = {"Authorization": f"Bearer {ALICE_KEY}"}
        thread_id = (await client.post("/threads", headers=alice)).json()["thread_id"]
        started = await client.post("/chat", json={"content": "refund?", "threadId": thread_id}, headers=alice)
        await wait_for_run(engine_of(client), thread_id, started.json()["run_id"])
    searched = next(t for t in fake.models.calls[-1].body["tools"] if t["type"] == "file_search")
    assert searched["vector_store_ids"] == ["vs_ops"]
    assert fake.vector_stores["vs_ops"] == ["file-ops"]
    assert fake.vector_store_names.get("vs_ops", "") == ""
