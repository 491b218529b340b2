"""Parsing the bodies of the stream routes: SSE frames (`/chat/stream`) and NDJSON lines (the Next.js routes)."""

from __future__ import annotations

import json
from typing import Any


def parse_sse(text: str) -> list[tuple[str, str]]:
    """Every SSE frame of a body, as (event, data)."""
    frames = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        frames.append((fields["event"], fields["data"]))
    return frames


def ndjson_lines(body: bytes) -> list[dict[str, Any]]:
    """Every line of an NDJSON body (which must be ASCII), parsed."""
    return [json.loads(line) for line in body.decode("ascii").splitlines()]
