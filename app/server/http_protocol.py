"""uvicorn's HTTP/1.1 protocol (httptools), with the limits an internet-facing server needs.

uvicorn reads a request's header block without a size cap or a deadline, and waits for a body
for as long as the client likes. Here, per connection:

- the header block may be at most `max_header_bytes`: above it the answer is 431 and the
  connection is closed. The parser is never handed more of a header block than the cap (one read
  at most when a pipelined request starts in the middle of a read), so memory stays flat;
- the header block must arrive within `read_timeout_s` of the request's first byte (of the
  connection's opening, for its first request), and a body may pause at most `read_timeout_s`
  between two reads; else the connection is closed: 408 when the request was not answered yet,
  nothing when it was, nor when the connection never sent a byte. Time the server itself is not
  reading (flow control, a pipelined request waiting its turn) or has not yet sent the
  `100 Continue` a client waits for does not count against the client;
- a refusal (400, 408, 431) is the answer to its own request: with answers to earlier, pipelined
  requests still in flight it is sent after them. Then the connection is half-closed and what the
  client still sends is dropped for a moment (closing with unread data would reset the connection,
  and a client still sending would often lose the answer).

Keep-alive, pipelining, `Expect: 100-continue` and the upgrade to WebSocket work as in uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import httptools
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

logger = logging.getLogger("app.server")

# After a refusal, what the client still sends is read and dropped for at most this long (never
# longer than the read timeout) and this many bytes, before the connection is closed.
LINGER_S = 2.0
LINGER_MAX_BYTES = 4 * 1024 * 1024
# The request line and the blank line around the header lines the parser hands over:
# `METHOD SP url SP HTTP/1.1 CRLF` ... `CRLF`, without the method and the url.
_REQUEST_LINE_AND_END_BYTES = 1 + 1 + 8 + 2 + 2
# Around a header's name and value: at least `:` and CRLF.
_HEADER_LINE_BYTES = 3

_REFUSALS = {
    400: ("invalid_request", "Invalid HTTP request."),
    408: ("request_timeout", "The request did not arrive in time."),
    431: ("header_fields_too_large", "The request's header block is too large."),
}

# Where the connection is in the request being read.
_IDLE = "idle"  # between requests (or before the first): the next byte begins one
_HEADERS = "headers"  # a request has begun: its header block is being read
_BODY = "body"  # the header block is complete: the body (if any) is being read


class _Refused(Exception):
    """Raised in a parser callback to stop parsing a refused request."""


class _WatchedFlowControl(FlowControl):
    """uvicorn's flow control, which also tells the protocol whenever reading is resumed.

    The request's `receive()` resumes reading each time the application asks for more of the body
    (right after writing a `100 Continue`), so this is when the client is asked for the next bytes.
    """

    def __init__(self, transport: asyncio.Transport, on_resume: Callable[[], None]) -> None:
        super().__init__(transport)
        self._on_resume = on_resume

    def resume_reading(self) -> None:
        super().resume_reading()
        self._on_resume()


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with a header block cap and read timeouts (set as class attributes by `protocol_class`)."""

    max_header_bytes = 8192
    read_timeout_s = 15.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = _IDLE
        # Bytes of the header block being read: exact when the block began at the start of a read;
        # when it began within a read (after a pipelined request), a lower bound, from what the
        # parser handed over of it in that read (`_parsed_header_bytes`).
        self._header_bytes = 0
        self._parsed_header_bytes = 0
        self._exact_block = True  # `_header_bytes` is exact for the current block
        self._part_continues_block = False  # no request ended within the part being parsed
        self._deadline: asyncio.TimerHandle | None = None
        self._refused: int | None = None  # the status of the refusal, sent or waiting for earlier answers
        self._refusal_sent = False
        self._dropped_bytes = 0
        self._linger: asyncio.TimerHandle | None = None

    # ---- the read deadline ---------------------------------------------------------------
    def _arm_deadline(self) -> None:
        self._cancel_deadline()
        self._deadline = self.loop.call_later(self.read_timeout_s, self._deadline_passed)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _reading_resumed(self) -> None:
        if self._phase == _BODY and self._refused is None:
            self._arm_deadline()  # the client gets a full period for the body's next bytes

    def _answer_in_flight(self) -> bool:
        """True while an answer to an earlier request (on a kept-alive or pipelined connection) is not complete."""
        return bool(self.pipeline) or (self.cycle is not None and not self.cycle.response_complete)

    def _waiting_on_us(self) -> bool:
        """True when the server is the one not reading, or has not asked for the body yet."""
        if self.flow.read_paused:
            return True
        return self._phase == _BODY and self.cycle is not None and self.cycle.waiting_for_100_continue

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self._refused is not None or self.transport.is_closing():
            return
        if self._waiting_on_us() or (self._phase == _IDLE and self._answer_in_flight()):
            self._arm_deadline()
            return
        if self._phase == _IDLE:
            logger.debug("closing a connection from %s that sent no request", self._peer())
            self.transport.close()
            return
        logger.info(
            "request from %s timed out: its %s did not arrive within %gs",
            self._peer(),
            "header block" if self._phase == _HEADERS else "body",
            self.read_timeout_s,
        )
        self._refuse(408)

    # ---- refusals --------------------------------------------------------------------------
    def _peer(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "-"

    def _refuse(self, status: int) -> None:
        """Answer `status` and close: now, or once the answers to the requests before this one are sent."""
        self._refused = status
        self._cancel_deadline()
        if self._phase == _BODY and self.cycle is not None:  # the refused request has its cycle
            cycle = self.cycle
            if self.pipeline and self.pipeline[0][0] is cycle:
                self.pipeline.popleft()  # it waits behind earlier requests: it never runs, the answer follows theirs
                return
            if cycle.response_started:
                self.transport.close()  # answered already (maybe without reading the body)
                return
            cycle.disconnected = True  # the application reading the body sees the client gone
            cycle.message_event.set()
        elif self._answer_in_flight():
            return  # earlier answers in flight: `on_response_complete` sends it after them
        self._send_refusal()

    def _send_refusal(self) -> None:
        status = self._refused
        if status is None or self.transport.is_closing():
            return
        code, message = _REFUSALS[status]
        body = json.dumps({"success": False, "error": {"code": code, "message": message}}).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head.append(b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body))
        self.transport.write(b"".join(head) + body)
        self._refusal_sent = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self._linger = self.loop.call_later(min(LINGER_S, self.read_timeout_s), self.transport.close)
        else:
            self.transport.close()

    def _drop(self, data: bytes) -> None:
        """What a refused connection still sends is not parsed; after the answer, only for a while."""
        if self._refusal_sent:
            self._dropped_bytes += len(data)
            if self._dropped_bytes > LINGER_MAX_BYTES:
                self.transport.close()

    # ---- protocol events ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.flow = _WatchedFlowControl(transport, self._reading_resumed)
        self._arm_deadline()  # the first request's header block, or a connection that never sends one

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        super().connection_lost(exc)

    def shutdown(self) -> None:
        if self._refusal_sent:
            self.transport.close()
        else:
            super().shutdown()

    def data_received(self, data: bytes) -> None:
        if self._refused is not None:
            self._drop(data)
            return
        self._unset_keepalive_if_required()
        if self._deadline is None and self._phase == _IDLE:
            # Any byte starts the next request's deadline: the parser skips empty lines between
            # requests without beginning one, and they must not keep a connection open either.
            self._arm_deadline()
        view = memoryview(data)
        while view and self._refused is None:
            # In a header block, no more than the block may still take: if it is not complete
            # within these bytes, it is over the cap, and the rest is never parsed. In a body,
            # everything (the body, and whatever follows it).
            part = view if self._phase == _BODY else view[: self.max_header_bytes - self._header_bytes]
            view = view[len(part) :]
            if not self._parse(part):
                return

    def _parse(self, part: memoryview) -> bool:
        """Feed `part` to the parser; False when the connection is done with (refused, upgraded)."""
        self._part_continues_block = self._phase != _BODY
        try:
            self.parser.feed_data(part)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self._cancel_deadline()  # the WebSocket protocol takes the connection over
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return False
        except httptools.HttpParserError:
            if self._refused is None:
                self.logger.warning("Invalid HTTP request received.")
                self._refuse(400)
            return False
        if self._phase == _HEADERS:
            if self._part_continues_block:
                self._header_bytes += len(part)
            else:  # the request began after another one within this part
                self._header_bytes = self._parsed_header_bytes
            # Still incomplete: the block is at least one byte longer than counted.
            if self._header_bytes >= self.max_header_bytes:
                self._refuse_header_block()
        return self._refused is None

    def _refuse_header_block(self) -> None:
        logger.info("refusing a request from %s: header block over %d bytes", self._peer(), self.max_header_bytes)
        self._refuse(431)

    # ---- parser callbacks ------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase = _HEADERS
        self._parsed_header_bytes = 0
        self._exact_block = self._part_continues_block  # else it began after another request in this part
        if self._deadline is None:
            self._arm_deadline()  # a later request on a kept-alive connection: from its first byte

    def on_url(self, url: bytes) -> None:
        self._parsed_header_bytes += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed_header_bytes += len(name) + len(value) + _HEADER_LINE_BYTES
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if not self._exact_block:
            # It began within a read: the block may have come whole, or more of it than counted.
            size = self._parsed_header_bytes + len(self.parser.get_method()) + _REQUEST_LINE_AND_END_BYTES
            if size > self.max_header_bytes:
                self._refuse_header_block()
                raise _Refused
        super().on_headers_complete()  # may raise (a malformed URL): still the header phase, answered 400
        self._phase = _BODY
        self._header_bytes = 0
        self._arm_deadline()  # for the body; `on_message_complete` cancels it at once when there is none

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        self._arm_deadline()

    def on_message_complete(self) -> None:
        self._phase = _IDLE
        self._header_bytes = 0
        self._part_continues_block = False  # a request beginning in the rest of this part begins mid-part
        self._cancel_deadline()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self._refused is not None and not self.pipeline:
            # The answers before the refused request are all sent: now its own.
            self.server_state.total_requests += 1
            if not self.transport.is_closing() and not self._refusal_sent:
                self._send_refusal()
            return
        super().on_response_complete()


def protocol_class(*, max_header_bytes: int, read_timeout_s: float) -> type[LimitedHttpToolsProtocol]:
    """The protocol class for uvicorn's `http=` with these limits."""
    return type(
        "ConfiguredHttpToolsProtocol",
        (LimitedHttpToolsProtocol,),
        {"max_header_bytes": max_header_bytes, "read_timeout_s": read_timeout_s},
    )
