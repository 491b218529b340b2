"""Real sockets and processes: serve an ASGI app from a thread, free and closed ports, waiting for a process."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2
import uvicorn

ROOT = Path(__file__).resolve().parent.parent.parent  # the repository: `python -m app` runs from here


@contextmanager
def serve_in_thread(asgi_app: Any, *, lifespan: str = "off") -> Iterator[str]:
    """Serve an ASGI app on a free loopback port from a background thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(asgi_app, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def free_port() -> int:
    """A loopback port nothing listens on right now (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A loopback port where nothing listens: connections are refused."""
    return free_port()


def wait_until_up(url: str, process: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    """Poll `url` until it answers; fail if `process` exits first or it never comes up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited early with {process.returncode}")
        try:
            httpx2.get(url, timeout=3)
            return
        except httpx2.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def wait_for_upstream_requests(fake_base: str, method: str, path_suffix: str, count: int = 1) -> None:
    """Wait until the fake upstream (a process at `fake_base`, run with --record) has received `count` such requests.

    The fake records a request as it arrives, before its latency or a planned hang: the request is in flight.
    """
    deadline = time.monotonic() + 20
    while True:
        received = httpx2.get(f"{fake_base}/_fake/requests", timeout=3).json()
        if sum(r["method"] == method and r["path"].endswith(path_suffix) for r in received) >= count:
            return
        assert time.monotonic() < deadline, f"the upstream got no {count} {method} ...{path_suffix}: {received}"
        time.sleep(0.02)
