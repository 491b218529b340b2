"""Limits on what a request may send: body size, and JSON only where a route reads JSON.

The body cap is enforced without reading the body into memory first: a Content-Length over
the cap is refused at once, and a body without one (chunked) is counted as it streams in.
The upload routes have their own, larger cap. A body whose Content-Type the route does not document
is answered 415: JSON routes take `application/json`, the upload `multipart/form-data`, and the
Next.js routes that the browser feeds `text/plain` JSON document (and take) that too.
"""

from __future__ import annotations

from email.message import Message as EmailMessage

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.error_handlers import error_response
from app.api.route_table import RouteTable
from app.config import Settings
from app.errors import PayloadTooLarge, UnsupportedMediaType

UPLOAD_PATH = "/api/assistants/files"
V1_UPLOAD_PATH = "/v1/files"  # relayed to the upstream as it comes (app/api/routes/v1/files.py)
# Room for the multipart boundaries and part headers around an upload of the maximum size.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON = "application/json"


def body_limit(settings: Settings, scope: Scope) -> int:
    if scope["method"] == "POST" and scope["path"] in (UPLOAD_PATH, V1_UPLOAD_PATH):
        return settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES
    return settings.max_body_bytes


def _content_length(headers: Headers) -> int | None:
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None


def _media_type(content_type: str) -> str:
    message = EmailMessage()
    message["content-type"] = content_type
    return message.get_content_type()


def media_type_problem(scope: Scope, headers: Headers, length: int | None) -> UnsupportedMediaType | None:
    """The 415 for a body of a type the route does not document, else None."""
    table: RouteTable | None = getattr(scope["app"].state, "route_table", None)
    accepted = table.request_media_types(scope["method"], scope["path"]) if table else None
    if not accepted:
        return None  # no documented body: the route reads what it gets (or nothing)
    content_type = headers.get("content-type")
    if content_type is None:
        # No type: fine without a body (validation names the missing fields), or where the browser's
        # text/plain JSON is accepted anyway.
        if (not length and "transfer-encoding" not in headers) or "text/plain" in accepted:
            return None
    else:
        media_type = _media_type(content_type)
        if media_type in accepted or (
            JSON in accepted and media_type.startswith("application/") and media_type.endswith("+json")
        ):
            return None
    return UnsupportedMediaType(" or ".join(sorted(accepted)))


class RequestLimitsMiddleware:
    """413 for a body over the cap (header or counted), 415 for a non-JSON body on a JSON route."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self._app(scope, receive, send)
            return
        limit = body_limit(scope["app"].state.settings, scope)
        headers = Headers(scope=scope)
        length = _content_length(headers)
        problem: Exception | None = PayloadTooLarge(limit) if length is not None and length > limit else None
        problem = problem or media_type_problem(scope, headers, length)
        if problem is not None:
            await error_response(scope, problem)(scope, receive, send)
            return
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request" and received <= limit:
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised once, to the reader of the body; later reads (a streaming response
                    # listening for the disconnect) just see the rest go by.
                    raise PayloadTooLarge(limit)
            return message

        await self._app(scope, counted_receive, send)
