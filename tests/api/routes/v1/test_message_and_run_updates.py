"""/v1 message update and delete, and run update (metadata), through the real openai SDK."""

from __future__ import annotations

import re

import openai
import pytest

from tests.api.routes.v1.sdk_support import WEATHER, openai_error_body, openai_sdk
from tests.fakes.access import ALICE_KEY, API_KEYS, BOB_KEY
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def test_message_metadata_is_updated_and_messages_deleted(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        thread = await sdk.beta.threads.create(
            messages=[{"role": "user", "content": "keep"}, {"role": "user", "content": "drop", "metadata": {"a": "1"}}]
        )
        keep, drop = (await sdk.beta.threads.messages.list(thread.id, order="asc")).data

        updated = await sdk.beta.threads.messages.update(drop.id, thread_id=thread.id, metadata={"b": "2"})
        assert (updated.id, updated.object, updated.metadata) == (drop.id, "thread.message", {"b": "2"})
        assert updated.content[0].text.value == "drop"  # type: ignore[union-attr]
        assert (await sdk.beta.threads.messages.retrieve(drop.id, thread_id=thread.id)).metadata == {"b": "2"}
        unchanged = await sdk.beta.threads.messages.update(drop.id, thread_id=thread.id)
        assert unchanged.metadata == {"b": "2"}

        deleted = await sdk.beta.threads.messages.delete(drop.id, thread_id=thread.id)
        assert (deleted.id, deleted.object, deleted.deleted) == (drop.id, "thread.message.deleted", True)
        assert [m.id for m in (await sdk.beta.threads.messages.list(thread.id)).data] == [keep.id]
        with pytest.raises(openai.NotFoundError, match=re.escape(f"No message found with id '{drop.id}'.")):
            await sdk.beta.threads.messages.retrieve(drop.id, thread_id=thread.id)
        with pytest.raises(openai.NotFoundError, match=re.escape(f"No message found with id '{drop.id}'.")):
            await sdk.beta.threads.messages.delete(drop.id, thread_id=thread.id)
        with pytest.raises(openai.NotFoundError, match=re.escape(f"No message found with id '{drop.id}'.")):
            await sdk.beta.threads.messages.update(drop.id, thread_id=thread.id, metadata={})
        # A message of another thread is not this thread's.
        other = await sdk.beta.threads.create()
        with pytest.raises(openai.NotFoundError):
            await sdk.beta.threads.messages.delete(keep.id, thread_id=other.id)
        with pytest.raises(openai.NotFoundError, match=re.escape("No thread found with id 'thread_x'.")):
            await sdk.beta.threads.messages.delete(keep.id, thread_id="thread_x")

        with pytest.raises(openai.BadRequestError) as unknown:
            await sdk.beta.threads.messages.update(keep.id, thread_id=thread.id, extra_body={"content": "new"})
        assert openai_error_body(unknown.value) == {
            "message": "Unrecognized request argument supplied: content",
            "type": "invalid_request_error",
            "param": "content",
            "code": "unknown_parameter",
        }
        too_many = {f"k{n}": "v" for n in range(17)}
        with pytest.raises(openai.BadRequestError):
            await sdk.beta.threads.messages.update(keep.id, thread_id=thread.id, metadata=too_many)

        # A new message still comes after the others.
        added = await sdk.beta.threads.messages.create(thread.id, role="user", content="later")
        listed = await sdk.beta.threads.messages.list(thread.id, order="asc")
        assert [m.id for m in listed.data] == [keep.id, added.id]


async def test_deleting_a_message_is_refused_while_a_run_is_active(fake: FakeOpenAI) -> None:
    fake.models.plan(calls=[{"name": "get_weather", "arguments": "{}", "call_id": "call_1"}])
    fake.models.plan(reply="Done.")
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini", tools=[WEATHER])  # type: ignore[list-item]
        thread = await sdk.beta.threads.create(messages=[{"role": "user", "content": "go"}])
        message = (await sdk.beta.threads.messages.list(thread.id)).data[0]
        run = await sdk.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=5
        )
        assert run.status == "requires_action"

        with pytest.raises(openai.BadRequestError) as refused:
            await sdk.beta.threads.messages.delete(message.id, thread_id=thread.id)
        assert openai_error_body(refused.value)["message"] == f"Thread {thread.id} already has an active run {run.id}."
        # Metadata can change meanwhile, the message's and the run's.
        tagged = await sdk.beta.threads.messages.update(message.id, thread_id=thread.id, metadata={"t": "1"})
        assert tagged.metadata == {"t": "1"}
        waiting = await sdk.beta.threads.runs.update(run.id, thread_id=thread.id, metadata={"phase": "waiting"})
        assert (waiting.status, waiting.metadata) == ("requires_action", {"phase": "waiting"})

        done = await sdk.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id,
            thread_id=thread.id,
            tool_outputs=[{"tool_call_id": "call_1", "output": "ok"}],
            poll_interval_ms=5,
        )
        assert (done.status, done.metadata) == ("completed", {"phase": "waiting"})
        assert (await sdk.beta.threads.messages.delete(message.id, thread_id=thread.id)).deleted is True
        remaining = (await sdk.beta.threads.messages.list(thread.id)).data
        assert [m.role for m in remaining] == ["assistant"]


async def test_run_metadata_is_updated(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        assistant = await sdk.beta.assistants.create(model="gpt-4o-mini")
        thread = await sdk.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
        run = await sdk.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, metadata={"a": "1"}, poll_interval_ms=5
        )
        assert run.status == "completed"

        updated = await sdk.beta.threads.runs.update(run.id, thread_id=thread.id, metadata={"b": "2"})
        assert (updated.id, updated.object, updated.status, updated.metadata) == (
            run.id,
            "thread.run",
            "completed",
            {"b": "2"},
        )
        assert updated.completed_at == run.completed_at
        assert (await sdk.beta.threads.runs.retrieve(run.id, thread_id=thread.id)).metadata == {"b": "2"}
        assert (await sdk.beta.threads.runs.list(thread.id)).data[0].metadata == {"b": "2"}
        assert (await sdk.beta.threads.runs.update(run.id, thread_id=thread.id)).metadata == {"b": "2"}
        cleared = await sdk.beta.threads.runs.update(run.id, thread_id=thread.id, metadata={})
        assert cleared.metadata == {}

        with pytest.raises(openai.NotFoundError, match=re.escape("No run found with id 'run_x'.")):
            await sdk.beta.threads.runs.update("run_x", thread_id=thread.id, metadata={})
        other = await sdk.beta.threads.create()
        with pytest.raises(openai.NotFoundError):
            await sdk.beta.threads.runs.update(run.id, thread_id=other.id, metadata={})
        with pytest.raises(openai.BadRequestError) as unknown:
            await sdk.beta.threads.runs.update(run.id, thread_id=thread.id, extra_body={"model": "x"})
        assert openai_error_body(unknown.value)["code"] == "unknown_parameter"
        assert openai_error_body(unknown.value)["param"] == "model"


async def test_another_users_messages_and_runs_are_not_found(fake: FakeOpenAI) -> None:
    async with (
        hosted_app(fake, api_keys=API_KEYS) as client,
        openai_sdk(client, ALICE_KEY) as alice,
        openai_sdk(client, BOB_KEY) as bob,
    ):
        assistant = await alice.beta.assistants.create(model="gpt-4o-mini")
        thread = await alice.beta.threads.create(messages=[{"role": "user", "content": "mine"}])
        message = (await alice.beta.threads.messages.list(thread.id)).data[0]
        run = await alice.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, metadata={"owner": "alice"}, poll_interval_ms=5
        )
        not_found = re.escape(f"No thread found with id '{thread.id}'.")
        with pytest.raises(openai.NotFoundError, match=not_found):
            await bob.beta.threads.messages.update(message.id, thread_id=thread.id, metadata={"x": "y"})
        with pytest.raises(openai.NotFoundError, match=not_found):
            await bob.beta.threads.messages.delete(message.id, thread_id=thread.id)
        with pytest.raises(openai.NotFoundError, match=not_found):
            await bob.beta.threads.runs.update(run.id, thread_id=thread.id, metadata={"x": "y"})
        # Nor through a thread of bob's own.
        bobs = await bob.beta.threads.create()
        with pytest.raises(openai.NotFoundError):
            await bob.beta.threads.messages.update(message.id, thread_id=bobs.id, metadata={"x": "y"})
        with pytest.raises(openai.NotFoundError):
            await bob.beta.threads.messages.delete(message.id, thread_id=bobs.id)
        with pytest.raises(openai.NotFoundError):
            await bob.beta.threads.runs.update(run.id, thread_id=bobs.id, metadata={"x": "y"})
        # Alice's objects are as they were.
        assert (await alice.beta.threads.messages.retrieve(message.id, thread_id=thread.id)).metadata == {}
        assert (await alice.beta.threads.runs.retrieve(run.id, thread_id=thread.id)).metadata == {"owner": "alice"}
