"""How `python -m app` serves the app: Granian (embedded, on this process's event loop) with the edge's limits.

Granian's public options do what an internet-facing server needs before the app sees a request:
the header block is capped (431, connection closed) and must arrive within the header read
timeout (else the connection is closed, also when it sends nothing). A body that takes too long
is the app's `RequestDeadlineMiddleware`. X-Forwarded-For/-Proto are believed only from
FORWARDED_ALLOW_IPS, through uvicorn's proxy headers middleware (Granian has no such option).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any, cast

from fastapi import FastAPI
from granian.constants import HTTPModes, Interfaces
from granian.http import HTTP1Settings
from granian.server.embed import Server
from starlette.types import ASGIApp
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.config import Settings
from app.server.shutdown import Shutdown

logger = logging.getLogger("app.server")

# Granian's own records go through the app's log handler (text or JSON, secrets redacted).
GRANIAN_LOGS = {"loggers": {"_granian": {"handlers": [], "propagate": True}}}
# Connections waiting to be accepted, and requests served at once (Granian's embedded defaults, 128
# and backlog/workers, would leave a burst of 1,000 clients or 2,000 open streams waiting).
LISTEN_BACKLOG = 2048
MAX_CONCURRENT_REQUESTS = 8192
# The largest request header block, request line included (Granian's HTTP/1 buffer; 431 above it).
MAX_HEADER_BYTES = 8192


def behind_proxies(app: ASGIApp, settings: Settings) -> Any:
    """The app, reading the client address from X-Forwarded-For/-Proto sent by FORWARDED_ALLOW_IPS only."""
    if not settings.forwarded_allow_ips:
        return app
    # uvicorn types ASGI apps with its own TypedDicts, Starlette with mappings: the same protocol.
    return ProxyHeadersMiddleware(cast(Any, app), trusted_hosts=settings.forwarded_allow_ips)


def build_server(app: FastAPI, settings: Settings) -> Server:
    """Granian on HOST:PORT, HTTP/1.1, with the header block cap and the header read timeout."""
    return Server(
        behind_proxies(app, settings),
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        http=HTTPModes.http1,
        websockets=False,
        backlog=LISTEN_BACKLOG,
        backpressure=MAX_CONCURRENT_REQUESTS,
        http1_settings=HTTP1Settings(
            header_read_timeout=round(settings.http_read_timeout_s * 1000),
            max_buffer_size=MAX_HEADER_BYTES,
        ),
        log_level=settings.log_level.lower(),  # type: ignore[arg-type]  # Granian's LogLevels is a str enum
        log_dictconfig=GRANIAN_LOGS,
        # Our access log line carries the request id and route; Granian's would repeat it.
        log_access=False,
    )


async def serve(server: Server, app: FastAPI) -> None:
    """Serve until SIGTERM or Ctrl-C: then stop accepting, tell the app, let requests in flight finish."""
    loop = asyncio.get_running_loop()

    def stop() -> None:
        # Set by the lifespan (the bench's floors, plain ASGI apps served the same way, have no state).
        shutdown: Shutdown | None = getattr(getattr(app, "state", None), "shutdown", None)
        if shutdown is not None:
            shutdown.begin()  # open streams end with their last words before SHUTDOWN_TIMEOUT_S
        server.stop()  # type: ignore[no-untyped-call]  # Granian's embedded server has no annotations here

    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop)
        except NotImplementedError:  # Windows: a plain handler, handing the stop to the loop
            signal.signal(signum, lambda *_: loop.call_soon_threadsafe(stop))
    await server.serve()
    logger.info("Finished server process [%d]", os.getpid())
