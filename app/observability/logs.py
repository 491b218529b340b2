"""Logging configuration, applied once by the entry point: text or JSON lines, request ids, no secrets."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import IO, Any

from app.observability.request_ids import request_id_var

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
REDACTED = "[REDACTED]"

# Control characters (C0, DEL, C1) and the Unicode line and paragraph separators, as escapes.
_CONTROL_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}
_CONTROL_ESCAPES.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x2028: "\\u2028", 0x2029: "\\u2029"})


def escape_controls(text: str) -> str:
    """`text` on one line: newlines, NUL and every other control character written as escapes (`\\n`, `\\x00`)."""
    return text.translate(_CONTROL_ESCAPES)


def with_request_id(record: logging.LogRecord) -> bool:
    """Puts the current request's id (or `-`) on every record as `request_id` (a handler's filter)."""
    if not hasattr(record, "request_id"):
        record.request_id = request_id_var.get() or "-"
    return True


class TextFormatter(logging.Formatter):
    """TEXT_FORMAT lines, the message's control characters escaped: a client's value (a path with `%0a`
    or `%00`) cannot forge a log line or write a raw NUL.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        record.message = escape_controls(message)
        try:
            return super().formatMessage(record)
        finally:
            record.message = message


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id (and the traceback, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class RedactingFormatter(logging.Formatter):
    """Wraps a formatter and blanks out known secret values wherever they appear (tracebacks too)."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self._inner = inner
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        text = self._inner.format(record)
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


def build_handler(
    log_format: str = "text", secrets: Iterable[str] = (), stream: IO[str] | None = None
) -> logging.Handler:
    """A stream handler with request ids, the chosen format, and secret redaction."""
    handler = logging.StreamHandler(stream or sys.stderr)
    inner = JsonFormatter() if log_format == "json" else TextFormatter(TEXT_FORMAT)
    handler.setFormatter(RedactingFormatter(inner, secrets))
    handler.addFilter(with_request_id)
    return handler


def configure_logging(level: str = "INFO", log_format: str = "text", secrets: Iterable[str] = ()) -> None:
    """Logs on stderr at the given level (text or JSON lines); quiet the HTTP client libraries."""
    logging.basicConfig(handlers=[build_handler(log_format, secrets)], level=level, force=True)
    for noisy in ("httpx2", "httpx", "httpcore", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
