"""The HTTP edge of the server as `./start.sh` runs it (`python -m app`, a real process on a loopback port).

Header block cap, header read timeout (slowloris), the whole-body deadline, keep-alive and
pipelining still working, deeply nested JSON, log lines a path cannot forge, and X-Forwarded-For
believed only from FORWARDED_ALLOW_IPS. Tests wait for the server's own signal (an answer, or a
read returning b'' when it closes the connection) within a generous bound, never for a fixed
time. The figures (RSS around the header flood, how long slow connections stay open) are
printed: `pytest -s` shows them.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from tests.fakes.raw_http import Answer, Flood, closed_within, connect, read_answer, read_answers, request
from tests.fakes.servers import ROOT, free_port, wait_until_up

READ_TIMEOUT_S = 1.0
# The longest a test waits for the server to close or answer: a bound on a hung test, not a measurement.
WAIT_S = 20.0


@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def log(self) -> bytes:
        return self.log_path.read_bytes()


@contextmanager
def _serve(tmp_path: Path, **env_extra: str) -> Iterator[Server]:
    """`python -m app` as ./start.sh runs it; its stdout and stderr go to a file."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MONGODB_"))}
    env.update(
        HOST="127.0.0.1", PORT=str(port), PYTHONPATH=str(ROOT), HTTP_READ_TIMEOUT_S=str(READ_TIMEOUT_S), **env_extra
    )
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/livez", process)
        yield Server(port, process, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with _serve(tmp_path_factory.mktemp("edge")) as server:
        yield server


def test_a_header_flood_is_431_and_memory_stays_flat(server: Server) -> None:
    for _ in range(20):  # warm up: the first answers allocate what every answer reuses
        httpx2.get(f"{server.base}/livez")
    before = server.rss_mb()
    # Four unfinished 50 MB header lines at once (the finding: 85 -> 285 MB before any auth).
    floods = [Flood(server.port, total_bytes=50 * 1024 * 1024) for _ in range(4)]
    threads = [threading.Thread(target=flood.run) for flood in floods]
    for thread in threads:
        thread.start()
    peak = before
    while any(thread.is_alive() for thread in threads):
        peak = max(peak, server.rss_mb())
        time.sleep(0.02)
    for thread in threads:
        thread.join(timeout=30)
    after = server.rss_mb()
    print(
        f"\nheader flood: RSS {before:.1f} MB before, {peak:.1f} MB peak, {after:.1f} MB after; "
        f"each client got {', '.join(f'{f.sent_bytes / 1e6:.1f}' for f in floods)} MB sent before the server closed"
    )
    for flood in floods:
        assert flood.answer.startswith(b"HTTP/1.1 431 "), flood.answer[:100]
        assert flood.sent_bytes < flood.total_bytes
    assert peak - before < 20
    assert after - before < 10
    assert httpx2.get(f"{server.base}/livez").status_code == 200


def test_a_2mb_header_is_431(server: Server) -> None:
    with connect(server.port) as sock, sock.makefile("rb") as reader:
        with contextlib.suppress(OSError):  # the server stops reading it: the answer is there all the same
            sock.sendall(request("GET", "/livez", "X-Big: " + "b" * 2_000_000))
        answer = read_answer(reader)
        after = read_answer(reader)
    assert answer is not None
    assert answer.status == 431
    assert after is None  # and the connection is closed


def test_slowloris_connections_are_closed(server: Server) -> None:
    socks = [connect(server.port) for _ in range(20)]
    opened = time.monotonic()
    closed_after: dict[int, float] = {}
    try:
        for sock in socks:
            sock.sendall(b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            sock.settimeout(0.05)
        # One header byte per connection every 0.1 s, until the server closes each (or WAIT_S passes).
        while len(closed_after) < len(socks) and time.monotonic() - opened < WAIT_S:
            for n, sock in enumerate(socks):
                if n in closed_after:
                    continue
                try:
                    sock.sendall(b"X")
                    if sock.recv(4096) == b"":
                        closed_after[n] = time.monotonic() - opened
                except TimeoutError:
                    pass
                except OSError:
                    closed_after[n] = time.monotonic() - opened
            time.sleep(0.1)
    finally:
        for sock in socks:
            sock.close()
    print(
        f"\nslowloris: {len(socks)} trickling connections closed after {min(closed_after.values(), default=-1):.2f}"
        f"-{max(closed_after.values(), default=-1):.2f} s (HTTP_READ_TIMEOUT_S={READ_TIMEOUT_S})"
    )
    assert len(closed_after) == len(socks)


def test_a_trickled_header_block_is_closed_unanswered(server: Server) -> None:
    with connect(server.port) as sock, sock.makefile("rb") as reader:
        sock.sendall(b"GET /livez HTTP/1.1\r\n")
        deadline = time.monotonic() + WAIT_S
        with contextlib.suppress(OSError):  # the server closed it: what the client sends then fails
            while time.monotonic() < deadline:
                sock.sendall(b"X-Slow: 1\r\n")
                time.sleep(0.1)
        answer = read_answer(reader)
    assert answer is None or answer.status == 408  # closed, or told why: never served


def test_a_stalled_body_gets_408_and_is_closed(server: Server) -> None:
    body = json.dumps({"content": "hello", "threadId": "thread_abc"}).encode()
    with connect(server.port, timeout_s=WAIT_S) as sock, sock.makefile("rb") as reader:
        sock.sendall(request("POST", "/chat", "Content-Type: application/json", body=body)[:-10])
        started = time.monotonic()
        answer = read_answer(reader)
        elapsed = time.monotonic() - started
        after = read_answer(reader)
    print(f"\nstalled body: 408 and closed after {elapsed:.2f} s (HTTP_READ_TIMEOUT_S={READ_TIMEOUT_S})")
    assert answer is not None
    assert answer.status == 408
    assert after is None


def test_a_body_trickled_past_the_deadline_gets_408_and_is_closed(server: Server) -> None:
    """Each pause is short, but the whole body takes longer than the deadline: a per-read timeout never fires."""
    body = json.dumps({"content": "x" * 400, "threadId": "thread_abc"}).encode()
    head, _, rest = request("POST", "/chat", "Content-Type: application/json", body=body).partition(b"\r\n\r\n")
    answered = threading.Event()
    answers: list[object] = []

    with connect(server.port, timeout_s=WAIT_S) as sock, sock.makefile("rb") as reader:

        def read() -> None:
            answers.append(read_answer(reader))
            answers.append(read_answer(reader))
            answered.set()

        reader_thread = threading.Thread(target=read, daemon=True)
        reader_thread.start()
        sock.sendall(head + b"\r\n\r\n")
        with contextlib.suppress(OSError):  # closed by the server: the rest cannot be sent
            for offset in range(0, len(rest), 4):  # 4 bytes every 0.1 s: about 11 s for the whole body
                if answered.is_set() or answers:
                    break
                sock.sendall(rest[offset : offset + 4])
                time.sleep(0.1)
        assert answered.wait(WAIT_S)
    answer, after = answers
    assert isinstance(answer, Answer)
    assert answer.status == 408
    assert after is None


def test_a_connection_that_sends_nothing_is_closed(server: Server) -> None:
    with connect(server.port) as sock:
        elapsed = closed_within(sock, WAIT_S)
    print(f"\nsilent connection: closed after {elapsed} s")
    assert elapsed is not None


def test_keep_alive_serves_several_requests_on_one_connection(server: Server) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        statuses = []
        for _ in range(5):
            connection.request("GET", "/livez")
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
            if _ == 0:
                first_socket = connection.sock
            assert connection.sock is first_socket  # the same connection, kept alive
            time.sleep(READ_TIMEOUT_S / 2)  # pauses between requests: not a slow request
    finally:
        connection.close()
    assert statuses == [200] * 5


def test_pipelined_requests_are_answered_in_order(server: Server) -> None:
    body = json.dumps({"content": "x" * 20_000, "threadId": "thread_abc"}).encode()
    with connect(server.port) as sock, sock.makefile("rb") as reader:
        sock.sendall(
            request("POST", "/chat", "Content-Type: application/json", body=body)
            + b"".join(request("GET", "/livez", f"X-Request-ID: pipelined-{n}") for n in range(5))
        )
        answers = read_answers(reader, 6)
    assert answers[0].status in (422, 503)  # answered (no OpenAI configured), not taken for a long header
    assert [a.status for a in answers[1:]] == [200] * 5
    assert [a.headers["x-request-id"] for a in answers[1:]] == [f"pipelined-{n}" for n in range(5)]


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/assistants/threads/thread_abc/messages", "text/plain;charset=UTF-8"),
        ("/api/assistants/threads/thread_abc/actions", "text/plain;charset=UTF-8"),
        ("/api/assistants/threads/thread_abc/actions", "application/json"),
        ("/chat", "application/json"),
    ],
)
def test_deeply_nested_json_is_a_422_naming_the_body(server: Server, path: str, content_type: str) -> None:
    nested = b"[" * 3000 + b"]" * 3000
    response = httpx2.post(f"{server.base}{path}", content=nested, headers={"content-type": content_type})
    assert response.status_code == 422
    if path.startswith("/api/assistants/"):
        assert response.headers["content-type"].startswith("application/x-ndjson")
        assert "body: JSON nested too deeply" in response.text
    else:
        assert response.json()["error"]["fields"][0]["field"] == "body"
    assert b"RecursionError" not in server.log()


def test_a_path_cannot_forge_a_log_line(server: Server) -> None:
    with connect(server.port) as sock, sock.makefile("rb") as reader:
        sock.sendall(request("GET", "/probe%0a2026-01-01%2000:00:00,000%20INFO%20app.access%20[-]:%20FORGED%00x"))
        answer = read_answer(reader)
    assert answer is not None
    assert answer.status == 404
    time.sleep(0.3)  # the log line is written after the answer
    log = server.log()
    assert b"\x00" not in log
    lines = log.decode().splitlines()
    probe = [line for line in lines if "FORGED" in line]
    assert len(probe) == 1  # one line per request
    assert "GET /probe\\n2026-01-01 00:00:00,000 INFO app.access [-]: FORGED\\x00x 404" in probe[0]
    assert " INFO app.access " in probe[0].split("GET /probe")[0]


def test_x_forwarded_for_is_ignored_by_default(tmp_path: Path) -> None:
    with _serve(tmp_path, RATE_LIMIT="3/minute") as server:
        statuses = []
        for n in range(5):
            # A client changing X-Forwarded-For each time is still counted by its socket address.
            response = httpx2.get(f"{server.base}/conversations", headers={"X-Forwarded-For": f"203.0.113.{n}"})
            statuses.append(response.status_code)
        log = server.log()
    assert statuses == [200, 200, 200, 429, 429]
    assert b"(ip:127.0.0.1)" in log
    assert b"203.0.113." not in log


def test_x_forwarded_for_is_believed_from_forwarded_allow_ips(tmp_path: Path) -> None:
    with _serve(tmp_path, RATE_LIMIT="3/minute", FORWARDED_ALLOW_IPS="127.0.0.1") as server:
        statuses = []
        for n in range(5):
            # Behind the trusted proxy, each forwarded client has its own count.
            response = httpx2.get(f"{server.base}/conversations", headers={"X-Forwarded-For": f"203.0.113.{n}"})
            statuses.append(response.status_code)
        # The same forwarded client is counted where it left off: its fourth request is refused.
        for _ in range(3):
            httpx2.get(f"{server.base}/conversations", headers={"X-Forwarded-For": "203.0.113.9"})
        refused = httpx2.get(f"{server.base}/conversations", headers={"X-Forwarded-For": "203.0.113.9"})
        log = server.log()
    assert statuses == [200] * 5
    assert refused.status_code == 429
    assert b"(ip:203.0.113.9)" in log
