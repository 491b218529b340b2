"""What /v1's files and vector stores share: the caller's request relayed upstream (`app/upstream/passthrough.py`).

The upstream keeps these objects under the service's one OPENAI_API_KEY; what makes one a user's is the record of who
made it (`app/services/upstream_objects.py`), checked before anything is relayed. The relay keeps that record's
copy of the object current (lists are answered from it) and forgets an object the upstream no longer has.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic_core import from_json

from app.errors import ChatNotConfigured
from app.services.upstream_objects import UpstreamObjects
from app.storage.upstream_objects import UpstreamObjectRecord
from app.upstream.passthrough import UpstreamPassthrough

# Upstream ids, as OpenAI makes them: one path segment, never `..` or a slash, and of the shapes the upstream
# metrics fold into `{file_id}` / `{vs_id}` (app/observability/metrics.py), so a caller cannot grow their labels.
FILE_ID_PATTERN = r"^file-[A-Za-z0-9_-]{1,128}$"
STORE_ID_PATTERN = r"^vs_[A-Za-z0-9]{1,128}$"
BATCH_ID_PATTERN = r"^vsfb_[A-Za-z0-9]{1,128}$"
FileId = Annotated[str, Path(pattern=FILE_ID_PATTERN)]
StoreId = Annotated[str, Path(pattern=STORE_ID_PATTERN)]
BatchId = Annotated[str, Path(pattern=BATCH_ID_PATTERN)]


async def get_passthrough(request: Request) -> UpstreamPassthrough:
    upstream = request.app.state.upstream
    if upstream is None:
        raise ChatNotConfigured("OPENAI_API_KEY")
    passthrough: UpstreamPassthrough = upstream.passthrough
    return passthrough


PassthroughDep = Annotated[UpstreamPassthrough, Depends(get_passthrough)]


def upstream_path(*segments: str) -> str:
    """`/files/file-1` for ("files", "file-1"): each segment quoted."""
    return "".join("/" + quote(segment, safe="") for segment in segments)


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object (already checked strict by `app/api/strict_json.py`), else {}: the upstream
    answers a body it cannot read."""
    body = await request.body()
    try:
        parsed = from_json(body) if body else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


async def relayed(request: Request, passthrough: UpstreamPassthrough, *segments: str) -> tuple[int, dict[str, Any]]:
    """The caller's method, query and body (with its Content-Type) sent upstream: its status and JSON."""
    body = await request.body() if request.method in ("POST", "PUT", "PATCH") else None
    content_type = request.headers.get("content-type") or ("application/json" if body else None)
    return await passthrough.json(
        request.method,
        upstream_path(*segments),
        params=request.query_params.multi_items(),
        body=body,
        content_type=content_type,
    )


async def relay(
    request: Request,
    passthrough: UpstreamPassthrough,
    *segments: str,
    objects: UpstreamObjects | None = None,
    record: UpstreamObjectRecord | None = None,
) -> JSONResponse:
    """Relay the request; when it is about the object `record` itself, keep its copy current, or forget it once
    the upstream has deleted it or no longer knows it."""
    status, data = await relayed(request, passthrough, *segments)
    if objects is not None and record is not None:
        if status == 404 or (status == 200 and data.get("deleted") is True):
            await objects.forget(record.id)
        elif status == 200 and data.get("id") == record.id:
            await objects.refresh(record, data)
    return JSONResponse(status_code=status, content=data)
