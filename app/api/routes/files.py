"""The quickstart's file viewer routes and assistant creation, path for path."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Request, Response, UploadFile

from app.api import routing
from app.api.deps import FilesDep, UserIdDep
from app.api.routing import ApiRoute
from app.api.schemas import FILE_ID_PATTERN, AssistantCreated, FileDelete, FileEntry, error_responses
from app.api.wire.event_stream import EventStreamResponse
from app.errors import InvalidField

router = APIRouter(tags=["next.js frontend"], route_class=ApiRoute)

# Every file route calls the upstream: its failures, and the configuration it needs.
UPSTREAM_ERRORS = (401, 429, 502, 503, 504)


@router.post(
    "/api/assistants",
    response_model=AssistantCreated,
    summary="Create the quickstart assistant",
    responses=error_responses(*UPSTREAM_ERRORS),
)
async def create_assistant(files: FilesDep, user_id: UserIdDep) -> AssistantCreated:
    """Create an assistant with the quickstart's tools (code interpreter, file search, get_weather). ENGINE=hosted:
    stored in this service (see `/v1/assistants`), owned by the caller; ENGINE=assistants: in the upstream's API."""
    return AssistantCreated(assistant_id=await files.create_quickstart_assistant(user_id))


@router.get(
    "/api/assistants/files",
    response_model=list[FileEntry],
    summary="List the vector store's files",
    responses=error_responses(*UPSTREAM_ERRORS),
)
async def list_files(files: FilesDep) -> list[FileEntry]:
    """Files that file_search searches: `[{file_id, filename, status}]`; `[]` while the assistant has no store. The
    store is OPENAI_VECTOR_STORE_ID, else the assistant's first file_search vector store (upstream's, or here)."""
    return [FileEntry.model_validate(f) for f in await files.list_files()]


@router.post(
    "/api/assistants/files",
    response_model=FileEntry,
    summary="Upload a file to the vector store",
    responses=error_responses(413, 415, 422, *UPSTREAM_ERRORS),
)
async def upload_file(file: UploadFile, files: FilesDep) -> FileEntry:
    """Multipart upload (field `file`, at most MAX_UPLOAD_BYTES), added to the vector store. Without one, a store
    named `sample-assistant-vector-store` is created and attached to the assistant first, as the quickstart does."""
    data = await file.read(routing.MAX_UPLOAD_BYTES + 1)
    if len(data) > routing.MAX_UPLOAD_BYTES:
        raise InvalidField("file", f"larger than {routing.MAX_UPLOAD_BYTES} bytes")
    if not data:
        raise InvalidField("file", "empty")
    stored = await files.upload_file(file.filename or "upload", data)
    return FileEntry.model_validate(stored)


@router.delete(
    "/api/assistants/files",
    summary="Remove a file from the vector store",
    status_code=200,
    responses=error_responses(404, 422, *UPSTREAM_ERRORS),
)
async def delete_file(request: Request, files: FilesDep) -> Response:
    """JSON body `{"fileId": "file-..."}` (sent without a JSON content type by the frontend)."""
    try:
        body = FileDelete.model_validate_json(await request.body())
    except ValueError as exc:
        raise InvalidField("fileId", 'the body must be JSON {"fileId": "file-..."}') from exc
    await files.delete_file(body.file_id)
    return Response(status_code=200)


@router.get(
    "/api/files/{file_id}",
    summary="Download a file",
    response_class=Response,
    responses={
        200: {"description": "The file's bytes", "content": {"application/octet-stream": {}}},
        **error_responses(404, 422, *UPSTREAM_ERRORS),
    },
)
async def download_file(file_id: Annotated[str, Path(pattern=FILE_ID_PATTERN)], files: FilesDep) -> Response:
    """The file's bytes, as an attachment with its filename: files of the vector store, and files runs wrote."""
    filename, content = await files.download_file(file_id)
    disposition = f"attachment; filename*=UTF-8''{quote(filename)}"
    headers = {"Content-Disposition": disposition}
    return EventStreamResponse(content, media_type="application/octet-stream", headers=headers)
