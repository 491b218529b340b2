"""Files, vector stores, file batches and search on /v1 belong to their maker: the real openai SDK, two users."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.api.routes.v1.sdk_support import openai_sdk
from tests.fakes.access import ALICE, ALICE_KEY, API_KEYS, BOB, BOB_KEY
from tests.fakes.fake_files import put_upstream_file
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_app


def _routes(file_id: str, store_id: str, batch_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every files and vector stores route, aimed at another user's objects."""
    store = f"/v1/vector_stores/{store_id}"
    return [
        ("GET", f"/v1/files/{file_id}", {}),
        ("GET", f"/v1/files/{file_id}/content", {}),
        ("DELETE", f"/v1/files/{file_id}", {}),
        ("GET", store, {}),
        ("POST", store, {"json": {"name": "mine now"}}),
        ("DELETE", store, {}),
        ("GET", f"{store}/files", {}),
        ("POST", f"{store}/files", {"json": {"file_id": file_id}}),
        ("GET", f"{store}/files/{file_id}", {}),
        ("POST", f"{store}/files/{file_id}", {"json": {"attributes": {"a": "b"}}}),
        ("DELETE", f"{store}/files/{file_id}", {}),
        ("POST", f"{store}/file_batches", {"json": {"file_ids": [file_id]}}),
        ("GET", f"{store}/file_batches/{batch_id}", {}),
        ("POST", f"{store}/file_batches/{batch_id}/cancel", {}),
        ("GET", f"{store}/file_batches/{batch_id}/files", {}),
        ("POST", f"{store}/search", {"json": {"query": "launch"}}),
    ]


async def test_another_users_files_and_stores_are_unknown_on_every_route(fake: FakeOpenAI) -> None:
    async with hosted_app(fake, api_keys=API_KEYS) as client, openai_sdk(client, api_key=ALICE_KEY) as alice:
        file = await alice.files.create(file=("plan.txt", b"the launch is on Tuesday"), purpose="assistants")
        store = await alice.vector_stores.create(name="alice's", file_ids=[file.id])
        batch = await alice.vector_stores.file_batches.create(store.id, file_ids=[file.id])
        before = len(fake.requests)
        answers = [
            (method, url, await client.request(method, url, headers=BOB, **kwargs))
            for method, url, kwargs in _routes(file.id, store.id, batch.id)
        ]
        relayed_for_bob = fake.requests[before:]
        listed_for_bob = [
            (await client.get(path, headers=BOB)).json()["data"] for path in ("/v1/files", "/v1/vector_stores")
        ]
        still_alices = await client.get(f"/v1/vector_stores/{store.id}", headers=ALICE)
        bobs_file = (
            await client.post("/v1/files", headers=BOB, files={"file": ("b.txt", b"b")}, data={"purpose": "assistants"})
        ).json()
        into_alices = await client.post(
            f"/v1/vector_stores/{store.id}/files", headers=BOB, json={"file_id": bobs_file["id"]}
        )
        alices_file_into_bobs = await client.post("/v1/vector_stores", headers=BOB, json={"file_ids": [file.id]})
    for method, url, answer in answers:
        assert answer.status_code == 404, (method, url, answer.text)
        error = answer.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"] in (f"No such File object: {file.id}", f"No vector store found with id '{store.id}'.")
    assert relayed_for_bob == [], "nothing of Bob's requests reached the upstream"
    assert listed_for_bob == [[], []]
    assert still_alices.status_code == 200
    assert fake.vector_stores[store.id] == [file.id]
    assert into_alices.status_code == 404
    assert alices_file_into_bobs.status_code == 404
    assert alices_file_into_bobs.json()["error"]["message"] == f"No such File object: {file.id}"


async def test_upstream_objects_the_service_never_made_are_unknown(fake: FakeOpenAI) -> None:
    put_upstream_file(fake, "file-other", "ft.jsonl", b"x", purpose="fine-tune")
    fake.vector_stores["vs_other"] = ["file-other"]
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        with pytest.raises(openai.NotFoundError, match="No such File object: file-other"):
            await sdk.files.retrieve("file-other")
        with pytest.raises(openai.NotFoundError):
            await sdk.files.delete("file-other")
        with pytest.raises(openai.NotFoundError, match="No vector store found with id 'vs_other'"):
            await sdk.vector_stores.search("vs_other", query="x")
        assert [f.id async for f in sdk.files.list()] == []
        assert [s.id async for s in sdk.vector_stores.list()] == []
    assert "file-other" in fake.files
    assert "vs_other" in fake.vector_stores


async def test_upload_and_poll_and_search_as_in_openais_file_search_quickstart(fake: FakeOpenAI) -> None:
    async with hosted_app(fake, api_keys=API_KEYS) as client, openai_sdk(client, api_key=ALICE_KEY) as sdk:
        store = await sdk.vector_stores.create(name="Financial Statements")
        batch = await sdk.vector_stores.file_batches.upload_and_poll(
            vector_store_id=store.id,
            files=[("q1.txt", b"revenue grew in the first quarter"), ("q2.txt", b"costs fell in the second quarter")],
            poll_interval_ms=5,
        )
        assert (batch.object, batch.status, batch.file_counts.completed) == ("vector_store.files_batch", "completed", 2)
        in_batch = [f.id async for f in sdk.vector_stores.file_batches.list_files(batch.id, vector_store_id=store.id)]
        assert len(in_batch) == 2
        mine = {f.id: f.filename async for f in sdk.files.list()}
        assert set(in_batch) == set(mine)
        assert set(mine.values()) == {"q1.txt", "q2.txt"}
        results = await sdk.vector_stores.search(store.id, query="revenue")
        assert [hit.filename for hit in results.data] == ["q1.txt"]
        another = await sdk.vector_stores.file_batches.create(store.id, file_ids=in_batch[:1])
        cancelled = await sdk.vector_stores.file_batches.cancel(another.id, vector_store_id=store.id)
        assert cancelled.status == "cancelled"
    assert sorted(fake.vector_stores[store.id]) == sorted(in_batch)


async def test_lists_are_paged_from_storage(fake: FakeOpenAI) -> None:
    async with hosted_app(fake, api_keys=API_KEYS) as client, openai_sdk(client, api_key=BOB_KEY) as sdk:
        made = [(await sdk.files.create(file=(f"f{n}.txt", b"x"), purpose="assistants")).id for n in range(5)]
        batch_file = await sdk.files.create(file=("b.jsonl", b"{}"), purpose="batch")
        stores = [(await sdk.vector_stores.create(name=f"s{n}")).id for n in range(3)]
        before = len(fake.requests)
        first = await sdk.files.list(purpose="assistants", limit=2)
        assert [f.id for f in first.data] == made[::-1][:2]
        assert first.has_more
        rest = await sdk.files.list(purpose="assistants", limit=10, after=first.data[-1].id)
        assert [f.id for f in rest.data] == made[::-1][2:]
        assert not rest.has_more
        assert [f.id async for f in sdk.files.list(order="asc")] == [*made, batch_file.id]
        assert [f.purpose for f in (await sdk.files.list(purpose="batch")).data] == ["batch"]
        page = await sdk.vector_stores.list(limit=2, order="asc")
        assert [s.id for s in page.data] == stores[:2]
        assert page.has_more
        assert [s.id for s in (await sdk.vector_stores.list(before=stores[2], order="asc")).data] == stores[:2]
        with pytest.raises(openai.BadRequestError) as unknown_cursor:
            await sdk.vector_stores.list(after="vs_nope")
        assert unknown_cursor.value.body["param"] == "after"  # type: ignore[index]
        assert fake.requests[before:] == [], "no list reached the upstream"
