"""Idempotency-Key across a crash or an outage (ENGINE=hosted): a retry that takes over a first attempt which never
settled looks for what that attempt wrote (its marker) first, and answers with its run; nothing is posted twice."""

from __future__ import annotations

from typing import Any

import pytest

from app.api.deps import request_marker
from app.clock import utc_now
from app.engines.hosted.objects import new_id
from app.errors import StorageUnavailable
from app.services.idempotency import fingerprint
from app.storage.threads import MessageRecord, RunRecord, ThreadStore
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import engine_of, hosted_app, new_store, wait_for_run

USER = "default-user"


@pytest.fixture(params=["sqlite", "mongomock"])
def hosted_store(request: pytest.FixtureRequest) -> ThreadStore:
    return new_store(request.param)


async def _user_messages(client: Any, thread_id: str) -> list[str]:
    page = await engine_of(client).list_messages(thread_id, order="asc")
    return [message.text for message in page.data if message.role == "user"]


async def _first_attempt_died(client: Any, thread_id: str, key: str, content: str) -> None:
    """The key held by a first attempt whose process died at once (a lease of 0: lapsed)."""
    stores = client.app.state.stores
    payload = {"threadId": thread_id, "content": content}
    held = await stores.idempotency_keys.claim(USER, key, fingerprint("POST /chat", payload), lease_s=0, ttl_s=60)
    assert held is None


async def test_a_retry_after_the_first_attempt_died_answers_with_its_run(
    fake: FakeOpenAI, hosted_store: ThreadStore
) -> None:
    async with hosted_app(fake, hosted_store=hosted_store) as client:
        engine = engine_of(client)
        thread_id = await engine.create_thread()
        await _first_attempt_died(client, thread_id, "order-1", "once")
        first = await engine.start_run(thread_id, "once", request_marker(USER, "order-1"))  # then it died
        await wait_for_run(engine, thread_id, first.run_id)
        retry = await client.post(
            "/chat", json={"content": "once", "threadId": thread_id}, headers={"Idempotency-Key": "order-1"}
        )
        again = await client.post(
            "/chat", json={"content": "once", "threadId": thread_id}, headers={"Idempotency-Key": "order-1"}
        )
        messages = await _user_messages(client, thread_id)
    assert retry.status_code == 200, retry.text
    assert retry.json()["run_id"] == first.run_id
    assert retry.headers["idempotent-replayed"] == "true"
    assert again.json() == retry.json(), "and the answer is kept"
    assert messages == ["once"]


async def test_a_start_cut_off_between_its_message_and_its_run_is_completed_by_the_retry(
    fake: FakeOpenAI, hosted_store: ThreadStore
) -> None:
    async with hosted_app(fake, hosted_store=hosted_store) as client:
        engine = engine_of(client)
        thread_id = await engine.create_thread()
        await _first_attempt_died(client, thread_id, "order-2", "half")
        # The dead attempt claimed the thread and stored the marked message, but never its run.
        dead_run = new_id("run_")
        claim = await hosted_store.claim_active_run(thread_id, dead_run, holder=None, claim_expires_at=utc_now())
        assert claim.thread is not None
        marker = request_marker(USER, "order-2")
        position = claim.thread.message_count
        await hosted_store.insert_message(
            MessageRecord(new_id("msg_"), thread_id, position, "user", "half", utc_now(), marker=marker)
        )
        retry = await client.post(
            "/chat", json={"content": "half", "threadId": thread_id}, headers={"Idempotency-Key": "order-2"}
        )
        assert retry.status_code == 200, retry.text
        run = await wait_for_run(engine, thread_id, retry.json()["run_id"])
        messages = await _user_messages(client, thread_id)
    assert run.status == "completed"
    assert messages == ["half"]
    assert retry.headers["idempotent-replayed"] == "true"


class AckLostOnce:
    """A thread store whose first run insert is written, but answers as if the database went away (ack lost)."""

    def __init__(self, inner: ThreadStore) -> None:
        self._inner = inner
        self.lost = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def insert_run(self, run: RunRecord) -> None:
        await self._inner.insert_run(run)
        if not self.lost:
            self.lost += 1
            raise StorageUnavailable()


async def test_a_lost_acknowledgement_is_answered_503_and_the_retry_posts_once(
    fake: FakeOpenAI, hosted_store: ThreadStore
) -> None:
    flaky = AckLostOnce(hosted_store)
    body = {"content": "outage", "threadId": ""}
    async with hosted_app(fake, hosted_store=flaky) as client:  # type: ignore[arg-type]
        engine = engine_of(client)
        body["threadId"] = await engine.create_thread()
        first = await client.post("/chat", json=body, headers={"Idempotency-Key": "order-3"})
        retry = await client.post("/chat", json=body, headers={"Idempotency-Key": "order-3"})
        assert retry.status_code == 200, retry.text
        await wait_for_run(engine, body["threadId"], retry.json()["run_id"])
        messages = await _user_messages(client, body["threadId"])
    assert first.status_code == 503
    assert messages == ["outage"]


async def test_v1_creates_after_their_first_attempt_died_answer_with_what_it_wrote(
    fake: FakeOpenAI, hosted_store: ThreadStore
) -> None:
    from app.engines.hosted.run_spec import NewMessage, RunSpec

    async with hosted_app(fake, hosted_store=hosted_store) as client:
        engine = engine_of(client)
        keys = client.app.state.stores.idempotency_keys  # type: ignore[attr-defined]
        assistant_id = (await client.post("/v1/assistants", json={"model": "m"})).json()["id"]
        thread_id = (await client.post("/v1/threads")).json()["id"]
        messages_path, runs_path = f"/v1/threads/{thread_id}/messages", f"/v1/threads/{thread_id}/runs"
        message_body, run_body = {"role": "user", "content": "hi"}, {"assistant_id": assistant_id}
        # Each first attempt wrote its message or run, then its process died.
        await keys.claim(USER, "m-1", fingerprint(f"POST {messages_path}", message_body), lease_s=0, ttl_s=60)
        message = await engine.messages.add(thread_id, NewMessage("user", "hi"), marker=request_marker(USER, "m-1"))
        await keys.claim(USER, "r-1", fingerprint(f"POST {runs_path}", run_body), lease_s=0, ttl_s=60)
        assistant = await client.app.state.assistants.get(USER, assistant_id)  # type: ignore[attr-defined]
        run = await engine.runs.start(thread_id, RunSpec(assistant, marker=request_marker(USER, "r-1")))
        assert isinstance(run, RunRecord)
        await wait_for_run(engine, thread_id, run.id)
        message_retry = await client.post(messages_path, json=message_body, headers={"Idempotency-Key": "m-1"})
        run_retry = await client.post(runs_path, json=run_body, headers={"Idempotency-Key": "r-1"})
        listed_runs = (await client.get(runs_path)).json()["data"]
        texts = await _user_messages(client, thread_id)
    assert message_retry.status_code == 200, message_retry.text
    assert message_retry.json()["id"] == message.id
    assert run_retry.status_code == 200, run_retry.text
    assert run_retry.json()["id"] == run.id
    assert [listed["id"] for listed in listed_runs] == [run.id]
    assert texts == ["hi"]
