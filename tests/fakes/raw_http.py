"""HTTP/1.1 over a raw loopback socket: requests as bytes, answers read one by one (for keep-alive and pipelining)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import BinaryIO

# Every socket operation in these helpers gives up after this long: a test never hangs.
IO_TIMEOUT_S = 10.0


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def connect(port: int, timeout_s: float = IO_TIMEOUT_S) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
    sock.settimeout(timeout_s)
    return sock


def request(method: str, path: str, *headers: str, body: bytes = b"") -> bytes:
    """One request's bytes; Content-Length is added for a body."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def read_answer(reader: BinaryIO) -> Answer | None:
    """The next answer on the connection (a 100 Continue too), or None when the server closed it."""
    status_line = reader.readline(65536)
    if not status_line:
        return None
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := reader.readline(65536)) not in (b"\r\n", b"\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = reader.read(int(headers.get("content-length", "0"))) if status >= 200 else b""
    return Answer(status, headers, body)


def read_answers(reader: BinaryIO, count: int) -> list[Answer]:
    answers = []
    for _ in range(count):
        answer = read_answer(reader)
        assert answer is not None, f"connection closed after {len(answers)} of {count} answers"
        answers.append(answer)
    return answers


def closed_within(sock: socket.socket, limit_s: float) -> float | None:
    """Seconds until the server closed `sock` (what it sends is read and dropped); None if not within `limit_s`."""
    started = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - started < limit_s:
        try:
            if not sock.recv(65536):
                return time.monotonic() - started
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - started
    return None


@dataclass
class Flood:
    """A request whose header line never ends, sent by a thread while the answer is read here."""

    port: int
    total_bytes: int
    sent_bytes: int = 0
    answer: bytes = b""
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self, read_limit_s: float = IO_TIMEOUT_S) -> None:
        sock = connect(self.port)
        try:
            sender = threading.Thread(target=self._send, args=(sock,), daemon=True)
            sender.start()
            started = time.monotonic()
            sock.settimeout(0.5)
            while time.monotonic() - started < read_limit_s:
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    continue
                except ConnectionResetError:
                    break
                if not data:
                    break
                self.answer += data
            self._stop.set()
            sender.join(timeout=IO_TIMEOUT_S)
        finally:
            sock.close()

    def _send(self, sock: socket.socket) -> None:
        chunk = b"a" * 65536
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Flood: ")
            while self.sent_bytes < self.total_bytes and not self._stop.is_set():
                sock.sendall(chunk)
                self.sent_bytes += len(chunk)
        except OSError:
            pass  # the server closed the connection: expected
