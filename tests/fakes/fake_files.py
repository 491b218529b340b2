"""Files and vector-store files for the fake OpenAI server (the file viewer's upstream calls)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.fakes.fake_file_batches import add_batch_and_search_routes
from tests.fakes.fake_ids import new_id

if TYPE_CHECKING:
    from tests.fakes.fake_openai import FakeOpenAI


def add_file_routes(app: FastAPI, fake: FakeOpenAI) -> None:
    """Register /v1/files, /v1/vector_stores and /v1/vector_stores/{id}/files on the fake's app."""
    _add_files(app, fake)
    _add_vector_stores(app, fake)
    _add_vector_store_files(app, fake)
    add_batch_and_search_routes(app, fake)


def put_upstream_file(
    fake: FakeOpenAI, file_id: str, filename: str, content: bytes, purpose: str = "assistants"
) -> None:
    """A file in the upstream account that the service never made (another application's, or the operator's)."""
    fake.files[file_id] = {
        "id": file_id,
        "object": "file",
        "bytes": len(content),
        "created_at": 0,
        "filename": filename,
        "purpose": purpose,
    }
    fake.file_contents[file_id] = content


def _no_file(file_id: str) -> JSONResponse:
    from tests.fakes.fake_openai import openai_error

    return openai_error(404, f"No such File object: {file_id}")


def no_vector_store(store_id: str) -> JSONResponse:
    from tests.fakes.fake_openai import openai_error

    return openai_error(404, f"No vector store found with id '{store_id}'.")


def vector_store_file(fake: FakeOpenAI, store_id: str, file_id: str) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "vector_store.file",
        "created_at": fake.files[file_id]["created_at"],
        "vector_store_id": store_id,
        "status": "completed",
        "usage_bytes": fake.files[file_id]["bytes"],
        "last_error": None,
    }


def _add_files(app: FastAPI, fake: FakeOpenAI) -> None:
    @app.post("/v1/files")
    async def create_file(request: Request) -> Response:
        async with request.form() as form:
            upload = form["file"]
            data = await upload.read()  # type: ignore[union-attr]
            filename = upload.filename  # type: ignore[union-attr]
            purpose = form.get("purpose", "assistants")
        file_id = new_id("file-")
        fake.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }
        fake.file_contents[file_id] = data
        return JSONResponse(fake.files[file_id])

    @app.get("/v1/files")
    async def list_files() -> Response:
        return JSONResponse(_list_page(list(fake.files.values())))

    @app.delete("/v1/files/{file_id}")
    async def delete_file(file_id: str) -> Response:
        if file_id not in fake.files:
            return _no_file(file_id)
        del fake.files[file_id]
        fake.file_contents.pop(file_id, None)
        for store in fake.vector_stores.values():
            if file_id in store:
                store.remove(file_id)
        return JSONResponse({"id": file_id, "object": "file", "deleted": True})

    @app.get("/v1/files/{file_id}")
    async def retrieve_file(file_id: str) -> Response:
        return JSONResponse(fake.files[file_id]) if file_id in fake.files else _no_file(file_id)

    @app.get("/v1/files/{file_id}/content")
    async def file_content(file_id: str) -> Response:
        if file_id not in fake.files:
            return _no_file(file_id)
        return Response(fake.file_contents[file_id], media_type="application/octet-stream")


def _list_page(data: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": False,
    }


def _vector_store(fake: FakeOpenAI, store_id: str) -> dict[str, Any]:
    count = len(fake.vector_stores[store_id])
    return {
        "id": store_id,
        "object": "vector_store",
        "created_at": int(time.time()),
        "name": fake.vector_store_names.get(store_id, ""),
        "usage_bytes": 0,
        "file_counts": {"in_progress": 0, "completed": count, "failed": 0, "cancelled": 0, "total": count},
        "status": "completed",
        "last_active_at": None,
        "metadata": {},
    }


def _add_vector_stores(app: FastAPI, fake: FakeOpenAI) -> None:
    @app.post("/v1/vector_stores")
    async def create_vector_store(request: Request) -> Response:
        body = await request.json()
        file_ids = list(body.get("file_ids") or [])
        unknown = [file_id for file_id in file_ids if file_id not in fake.files]
        if unknown:
            return _no_file(unknown[0])
        store_id = new_id("vs_")
        fake.vector_stores[store_id] = list(dict.fromkeys(file_ids))
        fake.vector_store_names[store_id] = body.get("name") or ""
        if body.get("expires_after"):
            fake.vector_store_expiry[store_id] = body["expires_after"]
        return JSONResponse(_vector_store(fake, store_id))

    @app.get("/v1/vector_stores")
    async def list_vector_stores() -> Response:
        return JSONResponse(_list_page([_vector_store(fake, store_id) for store_id in fake.vector_stores]))

    @app.get("/v1/vector_stores/{store_id}")
    async def retrieve_vector_store(store_id: str) -> Response:
        if store_id not in fake.vector_stores:
            return no_vector_store(store_id)
        return JSONResponse(_vector_store(fake, store_id))

    @app.delete("/v1/vector_stores/{store_id}")
    async def delete_vector_store(store_id: str) -> Response:
        if store_id not in fake.vector_stores:
            return no_vector_store(store_id)
        del fake.vector_stores[store_id]
        return JSONResponse({"id": store_id, "object": "vector_store.deleted", "deleted": True})


def _add_vector_store_files(app: FastAPI, fake: FakeOpenAI) -> None:
    from tests.fakes.fake_openai import openai_error

    @app.get("/v1/vector_stores/{store_id}/files")
    async def list_store_files(store_id: str) -> Response:
        if store_id not in fake.vector_stores:
            return no_vector_store(store_id)
        return JSONResponse(_list_page([vector_store_file(fake, store_id, f) for f in fake.vector_stores[store_id]]))

    @app.post("/v1/vector_stores/{store_id}/files")
    async def add_store_file(store_id: str, request: Request) -> Response:
        if store_id not in fake.vector_stores:
            return no_vector_store(store_id)
        file_id = (await request.json())["file_id"]
        if file_id not in fake.files:
            return _no_file(file_id)
        # One entry per file, as OpenAI keeps them.
        fake.vector_stores[store_id] = list(dict.fromkeys([*fake.vector_stores[store_id], file_id]))
        return JSONResponse(vector_store_file(fake, store_id, file_id))

    @app.get("/v1/vector_stores/{store_id}/files/{file_id}")
    async def retrieve_store_file(store_id: str, file_id: str) -> Response:
        if file_id not in fake.vector_stores.get(store_id, []):
            return openai_error(404, f"No file found with id '{file_id}' in vector store '{store_id}'.")
        return JSONResponse(vector_store_file(fake, store_id, file_id))

    @app.delete("/v1/vector_stores/{store_id}/files/{file_id}")
    async def remove_store_file(store_id: str, file_id: str) -> Response:
        if file_id not in fake.vector_stores.get(store_id, []):
            return openai_error(404, f"No file found with id '{file_id}' in vector store '{store_id}'.")
        fake.vector_stores[store_id].remove(file_id)
        return JSONResponse({"id": file_id, "object": "vector_store.file.deleted", "deleted": True})
