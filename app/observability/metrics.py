"""Request ids, access logs and Prometheus metrics.

Every request gets an id: the caller's `X-Request-ID` when it is short and safe, else a new
one. It is returned in `X-Request-ID`, kept in a context variable for the log lines written
while the request is handled, and counted in the metrics by route template (never by raw path,
so thread ids cannot blow up the label space).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

import httpx2
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.route_table import RouteTable
from app.errors import answer_for
from app.upstream.http import UpstreamHttpClient

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("app.access")

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_UPSTREAM_IDS = re.compile(r"/(thread|run|msg|asst|vs|step|call)_[A-Za-z0-9]+")
_UPSTREAM_FILE_IDS = re.compile(r"/file-[A-Za-z0-9_-]+")
DOC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"})
# Label values must stay few whatever clients send: other methods are counted as "other".
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def accepted_request_id(value: str | None) -> str:
    """The caller's request id when it is short and made of safe characters, else a new one."""
    if value and REQUEST_ID_PATTERN.fullmatch(value):
        return value
    return uuid.uuid4().hex


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "chat_backend_http_requests", "HTTP requests answered", ["method", "route", "status"], registry=r
        )
        self.http_duration = Histogram(
            "chat_backend_http_request_duration_seconds",
            "Time to answer an HTTP request (streams: until the stream ends)",
            ["method", "route"],
            registry=r,
        )
        self.upstream_requests = Counter(
            "chat_backend_upstream_requests",
            "Calls to the OpenAI API by outcome (HTTP status, timeout or connection_error); retries count apart",
            ["method", "endpoint", "outcome"],
            registry=r,
        )
        self.upstream_duration = Histogram(
            "chat_backend_upstream_request_duration_seconds",
            "Time until the OpenAI API answered (headers) or failed",
            ["method", "endpoint"],
            registry=r,
        )
        self.runs_started = Counter("chat_backend_runs_started", "Runs started", ["engine", "mode"], registry=r)
        self.upsert_retries = Counter(
            "chat_backend_conversation_upsert_retries",
            "Background retries of failed conversation upserts",
            ["outcome"],
            registry=r,
        )
        self.upserts_pending = Gauge(
            "chat_backend_conversation_upserts_pending", "Conversation upserts waiting to be retried", registry=r
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def record_upstream_call(self, method: str, url_path: str, outcome: str, seconds: float) -> None:
        """One call to the OpenAI API (each retry apart): its outcome and how long it took."""
        endpoint = upstream_endpoint(url_path)
        self.upstream_requests.labels(method, endpoint, outcome).inc()
        self.upstream_duration.labels(method, endpoint).observe(seconds)

    def record_upsert_retry(self, landed: bool) -> None:
        self.upsert_retries.labels("landed" if landed else "failed").inc()


def route_template(scope: Scope) -> str:
    """The route's path template (`/threads/{thread_id}/messages`), also for answers given before routing."""
    route = scope.get("route")
    if getattr(route, "path", None):
        return str(route.path)  # type: ignore[union-attr]
    table: RouteTable | None = getattr(scope["app"].state, "route_table", None)
    found = table.match(scope["method"], scope["path"]) if table else None
    if found is not None:
        return found[0]
    return scope["path"] if scope["path"] in DOC_PATHS else "unmatched"


class RequestContextMiddleware:
    """Outermost: request id, access log line, HTTP metrics, and a last-resort JSON 500."""

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
            answer = answer_for(exc)
            if not response_started:
                await answer.response()(scope, receive, send_with_id)
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


def upstream_endpoint(path: str) -> str:
    """An upstream URL path with its ids replaced by placeholders (`/v1/threads/{thread_id}/runs`)."""
    return _UPSTREAM_FILE_IDS.sub("/{file_id}", _UPSTREAM_IDS.sub(r"/{\1_id}", path))


class InstrumentedAsyncClient(UpstreamHttpClient):
    """The OpenAI SDK's HTTP client, timing every call (each retry apart) and counting its outcome."""

    def __init__(self, *args: Any, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._metrics = metrics

    async def send(self, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
        started = time.perf_counter()
        outcome = "error"
        try:
            response = await super().send(request, **kwargs)
            outcome = str(response.status_code)
            return response
        except httpx2.TimeoutException:
            outcome = "timeout"
            raise
        except httpx2.TransportError:
            outcome = "connection_error"
            raise
        finally:
            elapsed = time.perf_counter() - started
            self._metrics.record_upstream_call(request.method, request.url.path, outcome, elapsed)
