"""The file viewer's routes: list, upload, delete, download; and assistant creation."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from app.engines.hosted.assistants import DEFAULT_ASSISTANT_ID
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.hosted_support import FILE_SEARCH_REPORTED, hosted_app


async def test_upload_list_download_delete(app_client, fake: FakeOpenAI) -> None:
    fake.vector_stores["vs_docs"] = []
    async with app_client(openai_vector_store_id="vs_docs") as client:
        uploaded = await client.post(
            "/api/assistants/files", files={"file": ("notes é.txt", b"hello file", "text/plain")}
        )
        listed = await client.get("/api/assistants/files")
        file_id = uploaded.json()["file_id"]
        downloaded = await client.get(f"/api/files/{file_id}")
        # file-viewer.tsx sends the JSON body without a JSON content type.
        deleted = await client.request("DELETE", "/api/assistants/files", content=json.dumps({"fileId": file_id}))
        listed_after = await client.get("/api/assistants/files")

    assert uploaded.status_code == 200
    assert listed.json() == [{"file_id": file_id, "filename": "notes é.txt", "status": "completed"}]
    assert fake.vector_stores["vs_docs"] == []
    assert downloaded.status_code == 200
    assert downloaded.content == b"hello file"
    assert downloaded.headers["content-disposition"] == "attachment; filename*=UTF-8''notes%20%C3%A9.txt"
    assert deleted.status_code == 200
    assert listed_after.json() == []
    assert file_id in fake.files  # removed from the vector store only, as the quickstart does


async def _list_upload_list_download(client: Any) -> tuple[Any, Any, Any, Any, Any]:
    empty = await client.get("/api/assistants/files")
    uploaded = await client.post("/api/assistants/files", files={"file": ("a.txt", b"hello", "text/plain")})
    listed = await client.get("/api/assistants/files")
    downloaded = await client.get(f"/api/files/{uploaded.json()['file_id']}")
    again = await client.post("/api/assistants/files", files={"file": ("b.txt", b"more", "text/plain")})
    return empty, uploaded, listed, downloaded, again


def _check_flow(fake: FakeOpenAI, responses: tuple[Any, Any, Any, Any, Any]) -> str:
    """The store the flow created: `[]` first, then the file in one store named as the quickstart names it."""
    empty, uploaded, listed, downloaded, again = responses
    assert empty.status_code == 200
    assert empty.json() == []
    file_id = uploaded.json()["file_id"]
    assert listed.json() == [{"file_id": file_id, "filename": "a.txt", "status": "completed"}]
    assert downloaded.content == b"hello"
    assert again.status_code == 200
    assert len(fake.vector_stores) == 1, "one store, created on the first upload and reused"
    (store_id,) = fake.vector_stores
    assert fake.vector_store_names[store_id] == "sample-assistant-vector-store"
    assert fake.vector_stores[store_id] == [file_id, again.json()["file_id"]]
    return store_id


async def test_without_a_vector_store_the_assistants_engine_attaches_one_upstream(app_client, fake: FakeOpenAI) -> None:
    async with app_client() as client:
        store_id = _check_flow(fake, await _list_upload_list_download(client))
    assert fake.assistants["asst_test"]["tool_resources"] == {"file_search": {"vector_store_ids": [store_id]}}


async def test_the_assistants_engine_uses_the_upstream_assistants_store(app_client, fake: FakeOpenAI) -> None:
    fake.add_assistant("asst_test", vector_store_ids=["vs_existing"])
    fake.vector_stores["vs_existing"] = []
    async with app_client() as client:
        await client.post("/api/assistants/files", files={"file": ("a.txt", b"hello", "text/plain")})
    assert len(fake.vector_stores["vs_existing"]) == 1
    assert list(fake.vector_stores) == ["vs_existing"]


async def test_without_a_vector_store_the_hosted_engine_records_one_on_its_assistant(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client:
        store_id = _check_flow(fake, await _list_upload_list_download(client))
        default = (await client.get(f"/v1/assistants/{DEFAULT_ASSISTANT_ID}")).json()
    assert default["tool_resources"] == {"file_search": {"vector_store_ids": [store_id]}}
    assert FILE_SEARCH_REPORTED in default["tools"]
    assert not fake.requests_to("POST", "/v1/assistants"), "no upstream assistant is involved"


async def test_concurrent_first_uploads_on_the_hosted_engine_end_with_one_store(fake: FakeOpenAI) -> None:
    async with hosted_app(fake) as client:
        uploads = await asyncio.gather(
            *(client.post("/api/assistants/files", files={"file": (f"{n}.txt", b"x", "text/plain")}) for n in range(4))
        )
        listed = (await client.get("/api/assistants/files")).json()
    assert all(u.status_code == 200 for u in uploads)
    assert len(fake.vector_stores) == 1, "the stores that lost the race were deleted upstream"
    assert len(listed) == 4


async def test_the_hosted_engine_uses_its_assistants_store(fake: FakeOpenAI, tmp_path: Any) -> None:
    fake.vector_stores["vs_mine"] = []
    path = tmp_path / "assistants.json"
    entry = {"id": "asst_docs", "model": "m", "tools": [{"type": "file_search"}]}
    path.write_text(json.dumps([{**entry, "tool_resources": {"file_search": {"vector_store_ids": ["vs_mine"]}}}]))
    async with hosted_app(fake, assistants_file=str(path), openai_assistant_id="asst_docs") as client:
        uploaded = await client.post("/api/assistants/files", files={"file": ("a.txt", b"hello", "text/plain")})
    assert fake.vector_stores == {"vs_mine": [uploaded.json()["file_id"]]}


async def test_files_are_never_served_from_another_store(app_client, fake: FakeOpenAI) -> None:
    _stored_file(fake, "file-elsewhere", "assistants", b"another app's upload")
    fake.vector_stores["vs_other"] = ["file-elsewhere"]
    async with app_client() as client:
        no_store_yet = await client.get("/api/files/file-elsewhere")
        await client.post("/api/assistants/files", files={"file": ("a.txt", b"hello", "text/plain")})
        with_store = await client.get("/api/files/file-elsewhere")
        delete_elsewhere = await client.request(
            "DELETE", "/api/assistants/files", content=json.dumps({"fileId": "file-elsewhere"})
        )
    assert no_store_yet.status_code == with_store.status_code == delete_elsewhere.status_code == 404
    assert fake.vector_stores["vs_other"] == ["file-elsewhere"]


async def test_the_assistants_engine_without_an_assistant_names_it(app_client) -> None:
    async with app_client(openai_assistant_id=None) as client:
        response = await client.get("/api/assistants/files")
    assert response.status_code == 503
    assert "OPENAI_ASSISTANT_ID" in response.json()["error"]["message"]


async def test_unknown_file_is_404_and_bad_ids_never_reach_upstream(app_client, fake: FakeOpenAI) -> None:
    fake.vector_stores["vs_docs"] = []
    async with app_client(openai_vector_store_id="vs_docs") as client:
        unknown = await client.get("/api/files/file-doesnotexist")
        hostile = await client.get("/api/files/..%2F..%2Fthreads")
        bad_delete = await client.request("DELETE", "/api/assistants/files", content=b'{"fileId": "../x"}')
        empty = await client.post("/api/assistants/files", files={"file": ("a.txt", b"", "text/plain")})
    assert unknown.status_code == 404
    assert hostile.status_code in (404, 422)
    assert bad_delete.status_code == 422
    assert empty.status_code == 422
    assert not [r for r in fake.requests if "threads" in r.path or r.path.endswith("/x")]


async def test_create_assistant_like_the_quickstart(app_client, fake: FakeOpenAI) -> None:
    async with app_client() as client:
        response = await client.post("/api/assistants")
    assistant_id = response.json()["assistantId"]
    assert assistant_id in fake.assistants
    sent = fake.requests_to("POST", "/v1/assistants")[0].body
    assert [t["type"] for t in sent["tools"]] == ["code_interpreter", "file_search", "function"]
    assert sent["tools"][2]["function"]["name"] == "get_weather"


def _stored_file(fake: FakeOpenAI, file_id: str, purpose: str, data: bytes) -> None:
    fake.files[file_id] = {
        "id": file_id,
        "object": "file",
        "bytes": len(data),
        "created_at": 1,
        "filename": f"{file_id}.bin",
        "purpose": purpose,
        "status": "processed",
    }
    fake.file_contents[file_id] = data


async def test_only_the_vector_stores_files_and_run_outputs_can_be_downloaded(app_client, fake: FakeOpenAI) -> None:
    big = bytes(range(256)) * 4096  # 1 MiB, streamed through
    _stored_file(fake, "file-instore", "assistants", big)
    _stored_file(fake, "file-output", "assistants_output", b"png bytes")
    _stored_file(fake, "file-finetune", "fine-tune", b"secret training data")
    _stored_file(fake, "file-elsewhere", "assistants", b"another app's upload")
    fake.vector_stores["vs_docs"] = ["file-instore"]
    async with app_client(openai_vector_store_id="vs_docs") as client:
        in_store = await client.get("/api/files/file-instore")
        output = await client.get("/api/files/file-output")
        finetune = await client.get("/api/files/file-finetune")
        elsewhere = await client.get("/api/files/file-elsewhere")
    assert in_store.status_code == 200
    assert in_store.content == big
    assert output.status_code == 200
    assert output.content == b"png bytes"
    for refused in (finetune, elsewhere):
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "not_found"
        assert b"secret" not in refused.content
    assert not fake.requests_to("GET", "/files/file-finetune/content")
