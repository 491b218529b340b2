"""`/v1/vector_stores` and their files: create, list, retrieve, delete; relayed to the upstream."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api.routes.v1.passthrough import FileId, PassthroughDep, StoreId, relay
from app.api.routing import V1Route

router = APIRouter(prefix="/vector_stores", route_class=V1Route)


@router.post("")
async def create_vector_store(request: Request, passthrough: PassthroughDep) -> Response:
    return await relay(request, passthrough, "vector_stores")


@router.get("")
async def list_vector_stores(request: Request, passthrough: PassthroughDep) -> Response:
    return await relay(request, passthrough, "vector_stores")


@router.get("/{store_id}")
async def retrieve_vector_store(store_id: StoreId, request: Request, passthrough: PassthroughDep) -> Response:
    return await relay(request, passthrough, "vector_stores", store_id)


@router.delete("/{store_id}")
async def delete_vector_store(store_id: StoreId, request: Request, passthrough: PassthroughDep) -> Response:
    return await relay(request, passthrough, "vector_stores", store_id)


@router.post("/{store_id}/files")
async def add_vector_store_file(store_id: StoreId, request: Request, passthrough: PassthroughDep) -> Response:
    return await relay(request, passthrough, "vector_stores", store_id, "files")


@router.get("/{store_id}/files")
async def list_vector_store_files(store_id: StoreId, request: Request, passthrough: PassthroughDep) -> Response:
    return await relay(request, passthrough, "vector_stores", store_id, "files")


@router.get("/{store_id}/files/{file_id}")
async def retrieve_vector_store_file(
    store_id: StoreId, file_id: FileId, request: Request, passthrough: PassthroughDep
) -> Response:
    return await relay(request, passthrough, "vector_stores", store_id, "files", file_id)


@router.delete("/{store_id}/files/{file_id}")
async def delete_vector_store_file(
    store_id: StoreId, file_id: FileId, request: Request, passthrough: PassthroughDep
) -> Response:
    return await relay(request, passthrough, "vector_stores", store_id, "files", file_id)
