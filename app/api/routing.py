"""The route class of every router: the body cap (413) and media types (415) in the API's error shape.

The cap is MAX_BODY_BYTES (MAX_UPLOAD_BYTES on upload routes): a Content-Length over it is refused before any body
is read, a body without one is counted as read. FastAPI's `max_body_size` is fixed when the app is built and answers
its own plain-text 413, which neither the Next.js stream nor an OpenAI SDK can read. A route whose clients read
errors in another format (the Next.js stream routes: NDJSON) says so with `render_error`.
"""

from __future__ import annotations

import functools
from email.message import Message as EmailMessage
from typing import TYPE_CHECKING, ClassVar

from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from app.config import Settings
from app.errors import PayloadTooLarge, UnsupportedMediaType

if TYPE_CHECKING:
    from app.api.error_handlers import HttpAnswer

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON = "application/json"
MULTIPART = "multipart/form-data"
# The largest file an upload route takes.
MAX_UPLOAD_BYTES = 32 * 1024 * 1024
# Room for the multipart boundaries and part headers around an upload of the maximum size.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def _media_type(content_type: str) -> str:
    message = EmailMessage()
    message["content-type"] = content_type
    return message.get_content_type()


def _content_length(headers: Headers) -> int | None:
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None


class ApiRoute(APIRoute):
    """A route with the body cap of the settings, the media types it documents, and its error format."""

    takes_uploads: ClassVar[bool] = False
    checks_media_type: ClassVar[bool] = True

    def render_error(self, answer: HttpAnswer) -> Response:
        """The route's error answer: the JSON error shape (`app/api/error_handlers.py`) unless overridden."""
        return answer.response()

    @functools.cached_property
    def accepted_media_types(self) -> frozenset[str] | None:
        """The content types the route documents for its body; None when it takes no body of its own."""
        documented = (self.openapi_extra or {}).get("requestBody", {}).get("content")
        if documented:
            return frozenset(documented)
        if self.body_field is None:
            return None
        return frozenset({getattr(self.body_field.field_info, "media_type", JSON)})

    def body_cap(self, settings: Settings) -> int:
        if self.takes_uploads or MULTIPART in (self.accepted_media_types or ()):
            return MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES
        return settings.max_body_bytes

    def _media_type_problem(self, headers: Headers, length: int | None) -> UnsupportedMediaType | None:
        accepted = self.accepted_media_types
        if not accepted or not self.checks_media_type:
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

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in BODY_METHODS:
            await super().handle(scope, receive, send)
            return
        cap = self.body_cap(scope["app"].state.settings)
        headers = Headers(scope=scope)
        length = _content_length(headers)
        if length is not None and length > cap:
            raise PayloadTooLarge(cap)
        problem = self._media_type_problem(headers, length)
        if problem is not None:
            raise problem
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request" and received <= cap:
                received += len(message.get("body", b""))
                if received > cap:
                    # Raised once, to the reader of the body; later reads (a streaming response
                    # listening for the disconnect) just see the rest go by.
                    raise PayloadTooLarge(cap)
            return message

        await super().handle(scope, counted_receive, send)


class V1Route(ApiRoute):
    """/v1 (OpenAI's API, not in /docs): a body is read whatever its Content-Type says, as its SDKs send it."""

    checks_media_type = False


class V1UploadRoute(V1Route):
    """/v1/files: uploads relayed as they come (no multipart body of its own), under the upload cap."""

    takes_uploads = True
