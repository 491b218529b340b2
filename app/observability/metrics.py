"""The service's Prometheus metrics: HTTP requests by route template, upstream calls, runs, retries.

Paths are labelled by template (ids replaced), so thread ids cannot blow up the label space.
"""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# An upstream URL path's ids replaced by placeholders (`/v1/threads/{thread_id}/runs`).
_UPSTREAM_IDS = re.compile(r"/(thread|run|msg|asst|vs|vsfb|step|call)_[A-Za-z0-9]+")
_UPSTREAM_FILE_IDS = re.compile(r"/file-[A-Za-z0-9_-]+")


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
        endpoint = _UPSTREAM_FILE_IDS.sub("/{file_id}", _UPSTREAM_IDS.sub(r"/{\1_id}", url_path))
        self.upstream_requests.labels(method, endpoint, outcome).inc()
        self.upstream_duration.labels(method, endpoint).observe(seconds)

    def record_upsert_retry(self, landed: bool) -> None:
        self.upsert_retries.labels("landed" if landed else "failed").inc()
