"""The file viewer's routes: list, upload, delete, download; and assistant creation."""

from __future__ import annotations

import json

from tests.fakes.fake_openai import FakeOpenAI


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


async def test_files_without_a_vector_store_answer_503_naming_it(app_client) -> None:
    async with app_client() as client:
        response = await client.get("/api/assistants/files")
    assert response.status_code == 503
    assert "OPENAI_VECTOR_STORE_ID" in response.json()["error"]["message"]


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
