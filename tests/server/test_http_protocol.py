"""The HTTP protocol with limits, in a real uvicorn server on a loopback port, serving a small ASGI app.

The app answers `{"path", "bytes"}` after reading the whole body; `?sleep=S` waits S seconds
first (before reading the body), `?unread=1` answers without reading the body.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs

import pytest
import uvicorn

from app.server.http_protocol import LimitedHttpToolsProtocol, protocol_class
from tests.fakes.raw_http import Flood, connect, read_answer, read_answers, request

TIMEOUT_S = 0.5
CAP = 2048


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    assert scope["type"] == "http"
    query = parse_qs(scope["query_string"].decode())
    await asyncio.sleep(float(query.get("sleep", ["0"])[0]))
    received = 0
    if "unread" not in query:
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            received += len(message.get("body", b""))
            more = message.get("more_body", False)
    body = json.dumps({"path": scope["path"], "bytes": received}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def serve(*, max_header_bytes: int = CAP, read_timeout_s: float = TIMEOUT_S) -> Iterator[int]:
    """The echo app behind our protocol class, from a background thread; yields the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    http = protocol_class(max_header_bytes=max_header_bytes, read_timeout_s=read_timeout_s)
    server = uvicorn.Server(uvicorn.Config(echo_app, http=http, lifespan="off", log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def port() -> Iterator[int]:
    with serve() as port:
        yield port


def _padded_get(path: str, header_block_bytes: int) -> bytes:
    """A GET whose header block (request line to the blank line) is exactly `header_block_bytes`."""
    bare = request("GET", path, "X-Pad: ")
    return request("GET", path, "X-Pad: " + "p" * (header_block_bytes - len(bare)))


def test_the_class_defaults_are_the_settings_defaults() -> None:
    from app.config import Settings

    defaults = Settings.model_fields
    assert LimitedHttpToolsProtocol.max_header_bytes == defaults["max_header_bytes"].default
    assert LimitedHttpToolsProtocol.read_timeout_s == defaults["http_read_timeout_s"].default


def test_keep_alive_serves_several_requests_on_one_connection(port: int) -> None:
    with connect(port) as sock, sock.makefile("rb") as reader:
        for n in range(5):
            # The body comes in the same write (and read) as the header block.
            sock.sendall(request("POST", f"/r{n}", body=b"x" * (100 * n)))
            answer = read_answer(reader)
            assert answer is not None
            assert answer.status == 200
            assert json.loads(answer.body) == {"path": f"/r{n}", "bytes": 100 * n}


def test_pipelined_requests_are_answered_in_order(port: int) -> None:
    big_post = request("POST", "/post", body=b"b" * 20_000)  # a body longer than the header cap
    small_gets = b"".join(request("GET", f"/get{n}") for n in range(100))  # crosses the cap's boundaries
    with connect(port) as sock, sock.makefile("rb") as reader:
        sock.sendall(big_post + small_gets + request("GET", "/last?sleep=0.1"))
        answers = read_answers(reader, 102)
    assert [a.status for a in answers] == [200] * 102
    assert [json.loads(a.body)["path"] for a in answers] == ["/post", *[f"/get{n}" for n in range(100)], "/last"]
    assert json.loads(answers[0].body)["bytes"] == 20_000


def test_a_request_after_a_long_body_in_the_same_read_is_not_taken_for_a_long_header_block(port: int) -> None:
    with connect(port) as sock, sock.makefile("rb") as reader:
        # One read: a body ten times the cap, then the first half of the next request's header block.
        sock.sendall(request("POST", "/long", body=b"b" * (CAP * 10)) + b"GET /next HTTP/1.1\r\n")
        time.sleep(0.1)
        sock.sendall(b"Host: 127.0.0.1\r\n\r\n")
        answers = read_answers(reader, 2)
    assert [a.status for a in answers] == [200, 200]
    assert [json.loads(a.body)["path"] for a in answers] == ["/long", "/next"]


def test_a_header_block_at_the_cap_passes_and_one_byte_more_is_431(port: int) -> None:
    with connect(port) as sock, sock.makefile("rb") as reader:
        sock.sendall(_padded_get("/at-cap", CAP))
        at_cap = read_answer(reader)
    with connect(port) as sock, sock.makefile("rb") as reader:
        sock.sendall(_padded_get("/over", CAP + 1))
        over = read_answer(reader)
        after = read_answer(reader)
    assert at_cap is not None
    assert at_cap.status == 200
    assert over is not None
    assert over.status == 431
    assert over.headers["connection"] == "close"
    assert json.loads(over.body)["error"]["code"] == "header_fields_too_large"
    assert after is None  # closed


def test_a_whole_oversized_header_block_after_a_request_in_the_same_read_is_431(port: int) -> None:
    with connect(port) as sock, sock.makefile("rb") as reader:
        sock.sendall(request("GET", "/first") + _padded_get("/second", CAP * 2) + request("GET", "/third"))
        first, second = read_answers(reader, 2)
        after = read_answer(reader)
    assert first.status == 200
    assert second.status == 431
    assert after is None  # the third is never read


def test_a_refusal_is_sent_after_the_answers_in_flight(port: int) -> None:
    with connect(port) as sock, sock.makefile("rb") as reader:
        sock.sendall(request("GET", "/slow?sleep=0.3") + request("GET", "/queued") + b"GET /big HTTP/1.1\r\nX: ")
        sock.sendall(b"y" * (CAP * 2))
        answers = read_answers(reader, 3)
        after = read_answer(reader)
    assert [a.status for a in answers] == [200, 200, 431]
    assert [json.loads(a.body)["path"] for a in answers[:2]] == ["/slow", "/queued"]
    assert after is None


def test_a_header_flood_is_answered_431_while_the_client_still_sends(port: int) -> None:
    flood = Flood(port, total_bytes=8 * 1024 * 1024)
    flood.run()
    assert flood.answer.startswith(b"HTTP/1.1 431 ")
    assert flood.sent_bytes < flood.total_bytes  # the server stopped reading: the client could not send it all


def test_a_trickled_header_block_gets_408_after_the_timeout(port: int) -> None:
    with connect(port) as sock, sock.makefile("rb") as reader:
        started = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\n")
        for _ in range(int((TIMEOUT_S + 0.3) / 0.1)):  # one header line every 0.1 s, past the timeout
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                break  # closed already
            time.sleep(0.1)
        answer = read_answer(reader)
        elapsed = time.monotonic() - started
    assert answer is not None
    assert answer.status == 408
    assert json.loads(answer.body)["error"]["code"] == "request_timeout"
    assert elapsed < TIMEOUT_S + 2


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(port: int) -> None:
    with connect(port) as sock:
        sock.settimeout(5)
        started = time.monotonic()
        data = sock.recv(1024)
        elapsed = time.monotonic() - started
    assert data == b""
    assert TIMEOUT_S * 0.8 < elapsed < TIMEOUT_S + 2


def test_a_stalled_body_gets_408_and_the_connection_is_closed(port: int) -> None:
    with connect(port) as sock, sock.makefile("rb") as reader:
        sock.sendall(request("POST", "/stall", body=b"0123456789")[:-5])  # half the body
        started = time.monotonic()
        answer = read_answer(reader)
        elapsed = time.monotonic() - started
        after = read_answer(reader)
    assert answer is not None
    assert answer.status == 408
    assert after is None
    assert TIMEOUT_S * 0.8 < elapsed < TIMEOUT_S + 2


def test_a_slow_but_steady_body_is_read(port: int) -> None:
    body = b"z" * 8
    with connect(port) as sock, sock.makefile("rb") as reader:
        sock.sendall(request("POST", "/steady", body=body)[: -len(body)])
        for byte in body:  # 8 x 0.2 s: three times the timeout in all, no pause as long as it
            time.sleep(0.2)
            sock.sendall(bytes([byte]))
        answer = read_answer(reader)
    assert answer is not None
    assert answer.status == 200
    assert json.loads(answer.body)["bytes"] == len(body)


def test_expect_100_continue_waits_for_the_application_to_ask(port: int) -> None:
    body = b"e" * 1000
    with connect(port) as sock, sock.makefile("rb") as reader:
        # The application reads the body only after 3 timeouts: the client is waiting on us, not late.
        sock.sendall(request("POST", "/expect?sleep=1.5", "Expect: 100-continue", body=body)[: -len(body)])
        interim = read_answer(reader)
        sock.sendall(body)
        answer = read_answer(reader)
    assert interim is not None
    assert interim.status == 100
    assert answer is not None
    assert answer.status == 200
    assert json.loads(answer.body)["bytes"] == len(body)


def test_a_body_the_application_reads_late_is_not_a_client_timeout(port: int) -> None:
    body = b"L" * (2 * 1024 * 1024)  # far more than uvicorn buffers before it stops reading
    with connect(port) as sock, sock.makefile("rb") as reader:
        sock.sendall(request("POST", "/late?sleep=1.5", body=body))
        answer = read_answer(reader)
    assert answer is not None
    assert answer.status == 200
    assert json.loads(answer.body)["bytes"] == len(body)


def test_an_answered_request_whose_body_stalls_is_closed_without_408(port: int) -> None:
    with connect(port) as sock, sock.makefile("rb") as reader:
        sock.sendall(request("POST", "/early?unread=1", body=b"0123456789")[:-5])
        answer = read_answer(reader)
        started = time.monotonic()
        after = read_answer(reader)
        elapsed = time.monotonic() - started
    assert answer is not None
    assert answer.status == 200
    assert after is None
    assert elapsed < TIMEOUT_S + 2


def test_an_invalid_request_is_400(port: int) -> None:
    with connect(port) as sock, sock.makefile("rb") as reader:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = read_answer(reader)
        after = read_answer(reader)
    assert answer is not None
    assert answer.status == 400
    assert json.loads(answer.body)["error"]["code"] == "invalid_request"
    assert after is None


def test_an_invalid_url_behind_a_request_in_flight_is_400_after_its_answer(port: int) -> None:
    with connect(port) as sock, sock.makefile("rb") as reader:
        sock.sendall(request("GET", "/slow?sleep=0.3") + b"GET http://[::1 HTTP/1.1\r\nHost: x\r\n\r\n")
        answers = read_answers(reader, 2)
        after = read_answer(reader)
    assert [a.status for a in answers] == [200, 400]
    assert json.loads(answers[0].body)["path"] == "/slow"
    assert after is None


def test_empty_lines_between_requests_do_not_keep_a_connection_open(port: int) -> None:
    with connect(port) as sock, sock.makefile("rb") as reader:
        sock.sendall(request("GET", "/first"))
        first = read_answer(reader)
        started = time.monotonic()
        closed = False
        for _ in range(int((TIMEOUT_S + 2) / 0.1)):  # an empty line every 0.1 s: no request ever begins
            try:
                sock.sendall(b"\r\n")
            except OSError:
                closed = True
                break
            time.sleep(0.1)
        elapsed = time.monotonic() - started
    assert first is not None
    assert first.status == 200
    assert closed
    assert elapsed < TIMEOUT_S + 1.5
