"""Logging configuration, applied once by the entry point."""

from __future__ import annotations

import logging


def configure_logging(level: str = "INFO") -> None:
    """Plain text logs on stderr at the given level; quiet the HTTP client libraries."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx2", "httpx", "httpcore", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
