"""/v1's files and vector stores, relayed to the upstream: the real openai SDK against the fake upstream."""

from __future__ import annotations

import re

import httpx2
import openai
import pytest
from fastapi import FastAPI
from openai import AsyncOpenAI

from app.api import routing
from tests.api.routes.v1.sdk_support import openai_sdk
from tests.fakes.access import ALICE_KEY, API_KEYS
from tests.fakes.app_support import TEST_API_KEY
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import hosted_app


def _relayed(fake: FakeOpenAI) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.requests if r.path.startswith(("/v1/files", "/v1/vector_stores"))]


async def test_files_and_vector_stores_through_the_sdk(fake: FakeOpenAI) -> None:
    async with hosted_app(fake, api_keys=API_KEYS) as client, openai_sdk(client, api_key=ALICE_KEY) as sdk:
        created = await sdk.files.create(file=("notes.txt", b"hello, files"), purpose="assistants")
        assert (created.object, created.filename, created.bytes, created.purpose) == (
            "file",
            "notes.txt",
            12,
            "assistants",
        )
        assert (await sdk.files.retrieve(created.id)).filename == "notes.txt"
        assert (await sdk.files.content(created.id)).content == b"hello, files"
        assert created.id in [f.id async for f in sdk.files.list(purpose="assistants")]

        store = await sdk.vector_stores.create(name="docs")
        assert (store.object, store.name) == ("vector_store", "docs")
        entry = await sdk.vector_stores.files.create(store.id, file_id=created.id)
        assert (entry.id, entry.vector_store_id, entry.status) == (created.id, store.id, "completed")
        assert [f.id async for f in sdk.vector_stores.files.list(store.id)] == [created.id]
        assert (await sdk.vector_stores.files.retrieve(created.id, vector_store_id=store.id)).status == "completed"
        assert (await sdk.vector_stores.retrieve(store.id)).file_counts.total == 1
        assert store.id in [s.id async for s in sdk.vector_stores.list()]
        removed = await sdk.vector_stores.files.delete(created.id, vector_store_id=store.id)
        assert removed.deleted is True
        assert (await sdk.files.delete(created.id)).deleted is True
        assert (await sdk.vector_stores.delete(store.id)).deleted is True

    relayed = [r for r in fake.requests if r.path.startswith(("/v1/files", "/v1/vector_stores"))]
    assert len(relayed) == 11
    # Lists are answered from the service's record of who made what, never by paging the upstream account.
    assert ("GET", "/v1/files") not in _relayed(fake)
    assert ("GET", "/v1/vector_stores") not in _relayed(fake)
    # The service's own key upstream, never the caller's.
    assert {r.headers.get("authorization") for r in relayed} == {f"Bearer {TEST_API_KEY}"}
    assert not any(ALICE_KEY in value for r in relayed for value in r.headers.values())


async def test_upstream_refusals_are_relayed_in_openai_shape(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        with pytest.raises(openai.NotFoundError, match=re.escape("No such File object: file-nope")):
            await sdk.files.retrieve("file-nope")
        with pytest.raises(openai.NotFoundError, match=re.escape("No such File object: file-nope")):
            await sdk.files.content("file-nope")
        store = await sdk.vector_stores.create(name="docs")
        with pytest.raises(openai.NotFoundError, match=re.escape("No such File object: file-nope")):
            await sdk.vector_stores.files.create(store.id, file_id="file-nope")
        with pytest.raises(openai.BadRequestError, match="file_id"):
            await sdk.files.retrieve("bad.id")
        with pytest.raises(openai.BadRequestError, match="store_id"):
            await sdk.vector_stores.retrieve("abc")
        fake.fail_next(500, "upstream internals", path_contains="/v1/files")
        with pytest.raises(openai.APIStatusError) as failed:
            await sdk.files.create(file=("a.txt", b"a"), purpose="assistants")  # a list is not relayed: an upload
        assert failed.value.status_code == 502
        assert "upstream internals" not in str(failed.value.body)


async def test_an_upstream_without_files_is_named(fake: FakeOpenAI) -> None:
    bare = AsyncOpenAI(
        api_key=TEST_API_KEY,
        base_url="http://bare-upstream/v1",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.ASGITransport(app=FastAPI())),
    )
    async with hosted_app(fake, openai_client=bare) as client, openai_sdk(client) as sdk:
        assert (await sdk.files.list()).data == []  # answered from the service's records
        with pytest.raises(openai.NotFoundError) as missing:
            await sdk.files.create(file=("a.txt", b"a"), purpose="assistants")
        with pytest.raises(openai.NotFoundError, match=re.escape("no endpoint POST /vector_stores")):
            await sdk.vector_stores.create(name="docs")
    assert missing.value.body == {
        "message": (
            "The upstream (OPENAI_BASE_URL) has no endpoint POST /files: it does not serve OpenAI's files and "
            "vector stores, so this service cannot pass the request on."
        ),
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


async def test_files_need_an_api_key_like_the_rest_of_v1(fake: FakeOpenAI) -> None:
    async with hosted_app(fake, api_keys=API_KEYS) as client, openai_sdk(client, api_key="wrong-key-0123456789") as sdk:
        with pytest.raises(openai.AuthenticationError):
            await sdk.files.list()
        with pytest.raises(openai.AuthenticationError):
            await sdk.files.create(file=("a.txt", b"a"), purpose="assistants")
    assert _relayed(fake) == []


async def test_uploads_have_the_upload_cap_not_the_body_cap(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routing, "MAX_UPLOAD_BYTES", 8192)
    async with hosted_app(fake, max_body_bytes=1024) as client, openai_sdk(client) as sdk:
        created = await sdk.files.create(file=("big.txt", b"x" * 6000), purpose="assistants")
        assert created.bytes == 6000
        with pytest.raises(openai.APIStatusError) as too_big:
            await sdk.files.create(file=("huge.txt", b"x" * 200_000), purpose="assistants")
        assert too_big.value.status_code == 413
        with pytest.raises(openai.APIStatusError) as json_too_big:
            await sdk.vector_stores.create(name="x" * 6000)
        assert json_too_big.value.status_code == 413


@pytest.mark.parametrize("status", [400, 404, 422])
async def test_an_upstream_refusal_keeps_its_status_but_not_its_words(fake: FakeOpenAI, status: int) -> None:
    secret = "Organization org-internal has no access to project proj_secret (key sk-...abcd)"
    async with hosted_app(fake) as client, openai_sdk(client) as sdk:
        created = await sdk.files.create(file=("notes.txt", b"hello"), purpose="assistants")
        fake.fail_next(status, secret, code="invalid_value", path_contains=f"/v1/files/{created.id}")
        retrieved = await client.get(f"/v1/files/{created.id}")
        fake.fail_next(status, secret, path_contains=f"/v1/files/{created.id}/content")
        downloaded = await client.get(f"/v1/files/{created.id}/content")
    for answer in (retrieved, downloaded):
        assert answer.status_code == status
        assert secret not in answer.text
        assert answer.json()["error"]["type"] == "invalid_request_error"
    assert retrieved.json()["error"]["code"] == "invalid_value"
