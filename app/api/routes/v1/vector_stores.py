"""`/v1/vector_stores`: the caller's vector stores, their files, file batches and search.

A store made here (or for one of the caller's threads or assistants) is theirs: it is listed from that record, and
every request naming it is relayed to the upstream after the check. The operator's stores are readable and
searchable by everyone, changed by no one (403); any other store is unknown (404). Files named in a request must
be the caller's own (400 naming the field).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from app.api.deps import UpstreamObjectsDep, UserIdDep
from app.api.routes.v1.passthrough import BatchId, FileId, PassthroughDep, StoreId, json_body, relay, relayed
from app.api.routing import V1Route
from app.engines.hosted.objects import list_object
from app.engines.hosted.pages import PageQuery
from app.errors import NotFound
from app.services.upstream_objects import UpstreamObjects
from app.storage.upstream_objects import UpstreamObjectRecord

router = APIRouter(prefix="/vector_stores", route_class=V1Route)


async def _store(objects: UpstreamObjects, user_id: str, store_id: str, *, write: bool) -> UpstreamObjectRecord | None:
    """The caller's store (None: the operator's, read only)."""
    if write:
        return await objects.writable_store(user_id, store_id)
    return await objects.readable_store(user_id, store_id)


async def _check_named_files(request: Request, objects: UpstreamObjects, user_id: str) -> None:
    """The body's `file_id`, `file_ids` and `files[].file_id` are the caller's files (else 404, as OpenAI answers
    a file it does not know)."""
    body = await json_body(request)
    named = [body.get("file_id")]
    named += body["file_ids"] if isinstance(body.get("file_ids"), list) else []
    named += [entry.get("file_id") for entry in body.get("files") or [] if isinstance(entry, dict)]
    await objects.check_files(user_id, [str(file_id) for file_id in named if file_id is not None], None)


@router.post("")
async def create_vector_store(
    request: Request, passthrough: PassthroughDep, objects: UpstreamObjectsDep, user_id: UserIdDep
) -> Response:
    await _check_named_files(request, objects, user_id)
    status, data = await relayed(request, passthrough, "vector_stores")
    if status == 200 and isinstance(data.get("id"), str):
        await objects.record(user_id, "vector_store", data)
    return JSONResponse(status_code=status, content=data)


@router.get("")
async def list_vector_stores(
    query: Annotated[PageQuery, Query()], objects: UpstreamObjectsDep, user_id: UserIdDep
) -> Any:
    found = await objects.page(user_id, "vector_store", **query.model_dump())
    return list_object([dict(record.snapshot) for record in found.data], found.has_more)


@router.api_route("/{store_id}", methods=["GET", "POST", "DELETE"])
async def vector_store(
    store_id: StoreId, request: Request, passthrough: PassthroughDep, objects: UpstreamObjectsDep, user_id: UserIdDep
) -> Response:
    record = await _store(objects, user_id, store_id, write=request.method != "GET")
    return await relay(request, passthrough, "vector_stores", store_id, objects=objects, record=record)


@router.api_route("/{store_id}/files", methods=["GET", "POST"])
async def vector_store_files(
    store_id: StoreId, request: Request, passthrough: PassthroughDep, objects: UpstreamObjectsDep, user_id: UserIdDep
) -> Response:
    await _store(objects, user_id, store_id, write=request.method != "GET")
    await _check_named_files(request, objects, user_id)
    return await relay(request, passthrough, "vector_stores", store_id, "files")


@router.api_route("/{store_id}/files/{file_id}", methods=["GET", "POST", "DELETE"])
async def vector_store_file(
    store_id: StoreId,
    file_id: FileId,
    request: Request,
    passthrough: PassthroughDep,
    objects: UpstreamObjectsDep,
    user_id: UserIdDep,
) -> Response:
    await _store(objects, user_id, store_id, write=request.method != "GET")
    return await relay(request, passthrough, "vector_stores", store_id, "files", file_id)


@router.post("/{store_id}/file_batches")
async def create_file_batch(
    store_id: StoreId, request: Request, passthrough: PassthroughDep, objects: UpstreamObjectsDep, user_id: UserIdDep
) -> Response:
    await _store(objects, user_id, store_id, write=True)
    await _check_named_files(request, objects, user_id)
    return await relay(request, passthrough, "vector_stores", store_id, "file_batches")


@router.get("/{store_id}/file_batches/{batch_id}")
@router.api_route("/{store_id}/file_batches/{batch_id}/{part}", methods=["GET", "POST"])
async def file_batch(
    store_id: StoreId,
    batch_id: BatchId,
    request: Request,
    passthrough: PassthroughDep,
    objects: UpstreamObjectsDep,
    user_id: UserIdDep,
    part: Literal["cancel", "files"] | None = None,
) -> Response:
    """Retrieve (GET), cancel (POST `/cancel`) or list the files of (GET `/files`) a batch of the store."""
    if (part == "cancel") != (request.method == "POST"):
        raise NotFound(f"Invalid URL ({request.method} {request.url.path})")
    await _store(objects, user_id, store_id, write=part == "cancel")
    return await relay(request, passthrough, "vector_stores", store_id, "file_batches", batch_id, *filter(None, [part]))


@router.post("/{store_id}/search")
async def search_vector_store(
    store_id: StoreId, request: Request, passthrough: PassthroughDep, objects: UpstreamObjectsDep, user_id: UserIdDep
) -> Response:
    """Searching reads the store: the operator's stores may be searched too."""
    await _store(objects, user_id, store_id, write=False)
    return await relay(request, passthrough, "vector_stores", store_id, "search")
