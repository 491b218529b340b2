"""What /v1's files and vector stores share: the caller's request relayed upstream (`app/upstream/passthrough.py`).

The upstream keeps these objects under the service's one OPENAI_API_KEY: every caller of /v1 sees the same
files and vector stores (the service's own among them); API keys decide who may call, not what they see.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Path, Request
from fastapi.responses import JSONResponse

from app.errors import ChatNotConfigured
from app.upstream.passthrough import UpstreamPassthrough

# Upstream ids, as OpenAI makes them: one path segment, never `..` or a slash, and of the shapes the upstream
# metrics fold into `{file_id}` / `{vs_id}` (app/observability/metrics.py), so a caller cannot grow their labels.
FILE_ID_PATTERN = r"^file-[A-Za-z0-9_-]{1,128}$"
STORE_ID_PATTERN = r"^vs_[A-Za-z0-9]{1,128}$"
FileId = Annotated[str, Path(pattern=FILE_ID_PATTERN)]
StoreId = Annotated[str, Path(pattern=STORE_ID_PATTERN)]


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


async def relay(request: Request, passthrough: UpstreamPassthrough, *segments: str) -> JSONResponse:
    """The caller's method, query and body (with its Content-Type) sent upstream; its status and JSON answered."""
    body = await request.body() if request.method in ("POST", "PUT", "PATCH") else None
    content_type = request.headers.get("content-type") or ("application/json" if body else None)
    status, data = await passthrough.json(
        request.method,
        upstream_path(*segments),
        params=request.query_params.multi_items(),
        body=body,
        content_type=content_type,
    )
    return JSONResponse(status_code=status, content=data)
