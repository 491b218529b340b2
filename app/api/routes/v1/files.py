"""`/v1/files`: upload (multipart), list, retrieve, content (streamed), delete; relayed to the upstream."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api.routes.v1.passthrough import FileId, PassthroughDep, relay, upstream_path
from app.api.routing import V1UploadRoute
from app.api.wire.event_stream import EventStreamResponse

router = APIRouter(prefix="/files", route_class=V1UploadRoute)


@router.api_route("", methods=["GET", "POST"])
async def files(request: Request, passthrough: PassthroughDep) -> Response:
    return await relay(request, passthrough, "files")


@router.api_route("/{file_id}", methods=["GET", "DELETE"])
async def file(file_id: FileId, request: Request, passthrough: PassthroughDep) -> Response:
    return await relay(request, passthrough, "files", file_id)


@router.get("/{file_id}/content")
async def file_content(file_id: FileId, request: Request, passthrough: PassthroughDep) -> Response:
    """The file's bytes as the upstream sends them (never held whole)."""
    answer = await passthrough.stream(
        "GET", upstream_path("files", file_id, "content"), params=request.query_params.multi_items()
    )
    headers = {name: value for name, value in answer.headers.items() if name != "content-type"}
    return EventStreamResponse(
        answer.body,
        status_code=answer.status,
        media_type=answer.headers.get("content-type", "application/octet-stream"),
        headers=headers,
    )
