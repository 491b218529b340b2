"""The documented operations, matched by method and path before the router runs.

FastAPI matches included routers lazily, so middleware cannot simply walk `app.routes`. The
OpenAPI schema is the contract anyway: the request limits read each operation's documented
request content types from it, and metrics label early answers (401, 413, ...) by its path
templates. Built once in the lifespan.
"""

from __future__ import annotations

import re
from typing import Any

_PARAM = re.compile(r"\\\{[^/]+?\\\}")


class RouteTable:
    """Path templates of the OpenAPI schema, most specific first."""

    def __init__(self, schema: dict[str, Any]) -> None:
        entries = []
        for template, operations in schema.get("paths", {}).items():
            pattern = re.compile("^" + _PARAM.sub("[^/]+", re.escape(template)) + "$")
            entries.append((template.count("{"), -len(template), template, pattern, operations))
        entries.sort(key=lambda entry: entry[:3])
        self._entries = [(template, pattern, operations) for *_, template, pattern, operations in entries]

    def match(self, method: str, path: str) -> tuple[str, dict[str, Any] | None] | None:
        """(path template, the method's operation or None) for the first template matching `path`."""
        for template, pattern, operations in self._entries:
            if pattern.match(path):
                return template, operations.get(method.lower())
        return None

    def request_media_types(self, method: str, path: str) -> frozenset[str] | None:
        """The content types the operation documents for its body; None when it documents no body."""
        found = self.match(method, path)
        if found is None or found[1] is None or "requestBody" not in found[1]:
            return None
        return frozenset(found[1]["requestBody"].get("content", {}))
