"""uvicorn's options for the HTTP edge of `python -m app`: the protocol and its limits, the proxies believed."""

from __future__ import annotations

import logging
from typing import Any

from app.config import Settings

logger = logging.getLogger("app.server")


def http_protocol_options(settings: Settings) -> dict[str, Any]:
    """`http=` with the header block cap and the read timeouts (httptools); h11 with the cap alone, without it."""
    try:
        from app.server.http_protocol import protocol_class  # imports httptools
    except ImportError as exc:
        logger.warning(
            "httptools is not importable (%s): serving HTTP with h11, header block capped at %d bytes "
            "(answered 400, not 431), without read timeouts",
            exc,
            settings.max_header_bytes,
        )
        return {"http": "h11", "h11_max_incomplete_event_size": settings.max_header_bytes}
    return {
        "http": protocol_class(max_header_bytes=settings.max_header_bytes, read_timeout_s=settings.http_read_timeout_s)
    }


def proxy_options(settings: Settings) -> dict[str, Any]:
    """X-Forwarded-For/-Proto are believed only from FORWARDED_ALLOW_IPS (uvicorn's own default believes 127.0.0.1)."""
    return {"proxy_headers": bool(settings.forwarded_allow_ips), "forwarded_allow_ips": settings.forwarded_allow_ips}


def uvicorn_edge_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments for `uvicorn.run` that harden the HTTP edge."""
    return {**http_protocol_options(settings), **proxy_options(settings)}
