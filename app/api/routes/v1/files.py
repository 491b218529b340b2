"""`/v1/files`: upload (multipart), list, retrieve, content (streamed), delete; the caller's own files only.

Uploads are relayed to the upstream and recorded as the caller's; the list is answered from that record."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.api.deps import UpstreamObjectsDep, UserIdDep
from app.api.routes.v1.passthrough import FileId, PassthroughDep, relay, relayed, upstream_path
from app.api.routing import V1UploadRoute
from app.api.wire.event_stream import EventStreamResponse
from app.engines.hosted.objects import list_object

router = APIRouter(prefix="/files", route_class=V1UploadRoute)


class FileListQuery(BaseModel):
    """OpenAI's: `purpose`, `limit` (1-10,000; 10,000 by default), `order`, `after`."""

    purpose: str | None = None
    limit: int = Field(default=10_000, ge=1, le=10_000)
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None


@router.post("")
async def upload_file(
    request: Request, passthrough: PassthroughDep, objects: UpstreamObjectsDep, user_id: UserIdDep
) -> Response:
    status, data = await relayed(request, passthrough, "files")
    if status == 200 and isinstance(data.get("id"), str):
        await objects.record(user_id, "file", data)
    return JSONResponse(status_code=status, content=data)


@router.get("")
async def list_files(query: Annotated[FileListQuery, Query()], objects: UpstreamObjectsDep, user_id: UserIdDep) -> Any:
    found = await objects.page(
        user_id, "file", limit=query.limit, order=query.order, after=query.after, purpose=query.purpose
    )
    return list_object([dict(record.snapshot) for record in found.data], found.has_more)


@router.api_route("/{file_id}", methods=["GET", "DELETE"])
async def file(
    file_id: FileId, request: Request, passthrough: PassthroughDep, objects: UpstreamObjectsDep, user_id: UserIdDep
) -> Response:
    record = await objects.own(user_id, "file", file_id)
    return await relay(request, passthrough, "files", file_id, objects=objects, record=record)


@router.get("/{file_id}/content")
async def file_content(
    file_id: FileId, request: Request, passthrough: PassthroughDep, objects: UpstreamObjectsDep, user_id: UserIdDep
) -> Response:
    """The file's bytes as the upstream sends them (never held whole)."""
    await objects.own(user_id, "file", file_id)
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
