"""`/v1/vector_stores` and their files: create, list, retrieve, delete; relayed to the upstream."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api.routes.v1.passthrough import FileId, PassthroughDep, StoreId, relay
from app.api.routing import V1Route

router = APIRouter(prefix="/vector_stores", route_class=V1Route)


@router.api_route("", methods=["GET", "POST"])
async def vector_stores(request: Request, passthrough: PassthroughDep) -> Response:
    return await relay(request, passthrough, "vector_stores")


@router.api_route("/{store_id}", methods=["GET", "DELETE"])
async def vector_store(store_id: StoreId, request: Request, passthrough: PassthroughDep) -> Response:
    return await relay(request, passthrough, "vector_stores", store_id)


@router.api_route("/{store_id}/files", methods=["GET", "POST"])
async def vector_store_files(store_id: StoreId, request: Request, passthrough: PassthroughDep) -> Response:
    return await relay(request, passthrough, "vector_stores", store_id, "files")


@router.api_route("/{store_id}/files/{file_id}", methods=["GET", "DELETE"])
async def vector_store_file(
    store_id: StoreId, file_id: FileId, request: Request, passthrough: PassthroughDep
) -> Response:
    return await relay(request, passthrough, "vector_stores", store_id, "files", file_id)
