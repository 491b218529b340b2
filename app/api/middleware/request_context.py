"""Outermost middleware: request id (the caller's `X-Request-ID` when short and safe, else a new one; returned, and
kept in a context variable for the log lines), access log line, HTTP metrics, and a last-resort JSON 500."""

from __future__ import annotations

import logging
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.error_handlers import error_response
from app.observability.metrics import Metrics
from app.observability.request_ids import accepted_request_id, request_id_var

access_logger = logging.getLogger("app.access")

DOC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
# Label values must stay few whatever clients send: other methods are counted as "other".
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/threads/{thread_id}/messages`), else "unmatched"."""
    path = getattr(scope.get("route"), "path", None)
    if path:
        # Under a mounted application (/v1) the route's path is relative to the mount.
        mount = scope.get("root_path", "")[len(scope.get("app_root_path", scope.get("root_path", ""))) :]
        return f"{mount}{path}"
    return scope["path"] if scope["path"] in DOC_PATHS else "unmatched"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_id = accepted_request_id(Headers(scope=scope).get("x-request-id"))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        except Exception as exc:
            # Answered (and logged) here rather than re-raised, so the server's own traceback log
            # (which would print the exception's text) never runs.
            response = error_response(scope, exc)  # a mounted app (/v1) has answered in its own format already
            if not response_started:
                await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            metrics: Metrics | None = getattr(scope["app"].state, "metrics", None)
            if metrics is not None:
                method = scope["method"] if scope["method"] in HTTP_METHODS else "other"
                metrics.http_requests.labels(method, route, str(status)).inc()
                metrics.http_duration.labels(method, route).observe(elapsed)
            access_logger.info("%s %s %d %.1fms", scope["method"], scope["path"], status, elapsed * 1000)
            request_id_var.reset(token)
