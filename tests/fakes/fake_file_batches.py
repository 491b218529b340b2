"""Vector store file batches and search for the fake OpenAI server, as OpenAI answers them.

A batch is `in_progress` when made and `completed` from its first retrieve on, so the SDK's `upload_and_poll`
polls once. Search finds the store's files whose text holds a word of the query.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.fakes.fake_ids import new_id

if TYPE_CHECKING:
    from tests.fakes.fake_openai import FakeOpenAI


def _batch_object(batch: dict[str, Any]) -> dict[str, Any]:
    files = len(batch["_files"])
    done = {"completed": files if batch["status"] == "completed" else 0}
    counts = {"in_progress": files if batch["status"] == "in_progress" else 0, "failed": 0, "total": files}
    cancelled = {"cancelled": files if batch["status"] == "cancelled" else 0}
    return {key: value for key, value in batch.items() if not key.startswith("_")} | {
        "file_counts": counts | done | cancelled
    }


def _search_hits(fake: FakeOpenAI, store_id: str, query: str, max_results: int) -> list[dict[str, Any]]:
    words = {word.lower() for word in query.split()}
    hits = []
    for file_id in fake.vector_stores[store_id]:
        text = fake.file_contents.get(file_id, b"").decode("utf-8", "replace")
        found = len(words & {word.lower().strip(".,!?") for word in text.split()})
        if found:
            filename = fake.files[file_id]["filename"]
            content = [{"type": "text", "text": text}]
            hits.append(
                {
                    "file_id": file_id,
                    "filename": filename,
                    "score": found / len(words),
                    "attributes": {},
                    "content": content,
                }
            )
    return sorted(hits, key=lambda hit: -hit["score"])[:max_results]


def _new_batch(fake: FakeOpenAI, store_id: str, file_ids: list[str]) -> dict[str, Any]:
    fake.vector_stores[store_id] = list(dict.fromkeys([*fake.vector_stores[store_id], *file_ids]))
    batch_id = new_id("vsfb_")
    fake.file_batches[batch_id] = {
        "id": batch_id,
        "object": "vector_store.files_batch",
        "created_at": int(time.time()),
        "vector_store_id": store_id,
        "status": "in_progress",
        "_files": file_ids,
    }
    return _batch_object(fake.file_batches[batch_id])


def add_batch_and_search_routes(app: FastAPI, fake: FakeOpenAI) -> None:
    from tests.fakes.fake_files import _list_page, _no_file, no_vector_store, vector_store_file
    from tests.fakes.fake_openai import openai_error

    @app.post("/v1/vector_stores/{store_id}/file_batches")
    async def create_batch(store_id: str, request: Request) -> Response:
        if store_id not in fake.vector_stores:
            return no_vector_store(store_id)
        body = await request.json()
        file_ids = [*(body.get("file_ids") or []), *(f["file_id"] for f in body.get("files") or [])]
        if not file_ids:
            return openai_error(400, "Missing required parameter: 'file_ids'.")
        if unknown := [file_id for file_id in file_ids if file_id not in fake.files]:
            return _no_file(unknown[0])
        return JSONResponse(_new_batch(fake, store_id, file_ids))

    @app.get("/v1/vector_stores/{store_id}/file_batches/{batch_id}")
    @app.api_route("/v1/vector_stores/{store_id}/file_batches/{batch_id}/{part}", methods=["GET", "POST"])
    async def batch(store_id: str, batch_id: str, part: str = "") -> Response:
        """Retrieve (completes it), `cancel` (an unfinished one) or its `files`."""
        found = fake.file_batches.get(batch_id)
        if found is None or found["vector_store_id"] != store_id:
            return openai_error(404, f"No file batch found with id '{batch_id}'.")
        if part == "files":
            present = [file_id for file_id in found["_files"] if file_id in fake.files]
            return JSONResponse(_list_page([vector_store_file(fake, store_id, file_id) for file_id in present]))
        if found["status"] == "in_progress":
            found["status"] = "cancelled" if part == "cancel" else "completed"
        return JSONResponse(_batch_object(found))

    _add_search(app, fake)


def _add_search(app: FastAPI, fake: FakeOpenAI) -> None:
    from tests.fakes.fake_files import no_vector_store
    from tests.fakes.fake_openai import openai_error

    @app.post("/v1/vector_stores/{store_id}/search")
    async def search(store_id: str, request: Request) -> Response:
        if store_id not in fake.vector_stores:
            return no_vector_store(store_id)
        body = await request.json()
        query = body.get("query")
        if not isinstance(query, str) or not query:
            return openai_error(400, "Missing required parameter: 'query'.")
        data = _search_hits(fake, store_id, query, int(body.get("max_num_results") or 10))
        page = {"object": "vector_store.search_results.page", "search_query": [query], "data": data}
        return JSONResponse(page | {"has_more": False, "next_page": None})
