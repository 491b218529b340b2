"""How a model call fails: `ModelCallFailed` (a run's `last_error`, or how else the run ends), with its code and a
message that are ours and safe to show. The model server's own text only reaches the log.

The message names what happened: the context, a timeout, a connection dropped mid-answer, an empty answer,
or the server's status. A context overflow is recognised by its status and wording: OpenAI's
`context_length_exceeded` ("maximum context length is N tokens", "exceeds the context window") and
llama-server's 400 "exceeds the available context size (N tokens)"; the counts it gives are kept.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from app.errors import SERVER_ERROR, UpstreamError, UpstreamUnreachable

logger = logging.getLogger(__name__)

CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
TOOL_CHOICE_NOT_HONOURED = "tool_choice_not_honoured"
RATE_LIMITED_MESSAGE = "The model provider is rate limiting requests; try again later."
_OVERFLOW_WORDING = re.compile(
    r"exceeds the available context size|maximum context length|exceeds the context window|context_length_exceeded",
    re.IGNORECASE,
)
_CONTEXT_SIZE = re.compile(r"(?:available context size \(|maximum context length is )(\d+) tokens", re.IGNORECASE)
_PROMPT_SIZE = re.compile(r"(\d+) in the messages|messages resulted in (\d+) tokens", re.IGNORECASE)


class ModelCallFailed(Exception):
    """The run fails with `last_error` {code, message}."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def run_end(self) -> tuple[str, dict[str, Any]]:
        """The run's final status and the fields that say why."""
        return "failed", {"last_error": {"code": self.code, "message": self.message}}


class AnswerIncomplete(ModelCallFailed):
    """The answer was cut off at a token limit where that leaves nothing usable (a tool call's arguments cut
    short): the run ends `incomplete`, as OpenAI's do, with `incomplete_details.reason`."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason, message)
        self.reason = reason

    def run_end(self) -> tuple[str, dict[str, Any]]:
        return "incomplete", {"incomplete_details": {"reason": self.reason}}


class ContextOverflow(ModelCallFailed):
    """The server refused the prompt as longer than its context; the counts it said (None: not said)."""

    def __init__(self, context_tokens: int | None = None, prompt_tokens: int | None = None) -> None:
        super().__init__(CONTEXT_LENGTH_EXCEEDED, "The conversation is too long for the model's context.")
        self.context_tokens = context_tokens
        self.prompt_tokens = prompt_tokens


class EmptyAnswer(ModelCallFailed):
    """A 200 and no event at all: llama-cpp-python's answer to a prompt over its context, but also to a crash
    (`tool_choice: "required"` with its function-calling format) and to a second request that interrupted it."""

    def __init__(self) -> None:
        super().__init__(SERVER_ERROR, "The model returned nothing.")


def failure_from(exc: UpstreamError, *, mid_stream: bool = False) -> ModelCallFailed:
    """The failure for an upstream error (`mid_stream`: after the answer had begun); logged with the server's text."""
    logger.warning(
        "model call failed%s: %s status=%s request_id=%s: %r",
        " mid-stream" if mid_stream else "",
        exc.upstream_type,
        exc.upstream_status,
        exc.request_id,
        exc.upstream_message[:500],
    )
    if exc.upstream_status in (400, 413) and _OVERFLOW_WORDING.search(exc.upstream_message):
        return ContextOverflow(*_counts(exc.upstream_message))
    if mid_stream and isinstance(exc, UpstreamUnreachable):
        return ModelCallFailed(SERVER_ERROR, "The connection to the model server dropped while it was answering.")
    if mid_stream and exc.upstream_status is None:
        return ModelCallFailed(SERVER_ERROR, "The model server reported an error while answering.")
    return ModelCallFailed(*exc.run_error())


def _counts(message: str) -> tuple[int | None, int | None]:
    context = _CONTEXT_SIZE.search(message)
    prompt = _PROMPT_SIZE.search(message)
    prompt_tokens = next((int(group) for group in prompt.groups() if group), None) if prompt else None
    return (int(context.group(1)) if context else None), prompt_tokens


def stopped_early(received: bool) -> ModelCallFailed:
    """A stream that ended before the answer did; with no event at all, an `EmptyAnswer`."""
    if received:
        logger.warning("model call failed: the stream ended before the answer did (no finish)")
        return ModelCallFailed(SERVER_ERROR, "The model's answer stopped before it was complete.")
    logger.warning("model call failed: the model server answered nothing (a 200 and an empty stream)")
    return EmptyAnswer()


def error_event(code: Any, message: Any) -> ModelCallFailed:
    """A provider's error event in the middle of a stream."""
    logger.warning("model stream error event code=%s: %r", code, str(message)[:500])
    return ModelCallFailed(SERVER_ERROR, "The model server reported an error while answering.")
