"""Real processes for black-box tests: the fake upstream and `python -m app`, started and stopped by the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from app.config import Settings
from tests.fakes.servers import ROOT, free_port, wait_until_up

T = TypeVar("T")


def clean_env() -> dict[str, str]:
    """This environment without any of the service's settings (the test sets those)."""
    settings = {name.upper() for name in Settings.model_fields}
    return {k: v for k, v in os.environ.items() if k.upper() not in settings and not k.startswith("OPENAI_")}


@contextmanager
def fake_upstream_process(*args: str) -> Iterator[str]:
    """The fake OpenAI server as a process (runs finish after 0.2 s; `args`: more of its options); yields its
    base URL."""
    port = free_port()
    fake = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.fake_openai",
            "--port",
            str(port),
            "--run-seconds",
            "0.2",
            "--record",
            *args,
        ],
        cwd=ROOT,
        env={**clean_env(), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{base}/v1/threads/thread_demo", fake)
        yield base
    finally:
        fake.terminate()
        try:
            fake.wait(timeout=10)
        except subprocess.TimeoutExpired:
            fake.kill()
            fake.wait(timeout=10)


class Server:
    """`python -m app` in `workdir` with these settings; started and killed (SIGKILL) as the test says."""

    def __init__(self, workdir: Path, **settings: str) -> None:
        self.workdir = workdir
        self.env = {**clean_env(), "HOST": "127.0.0.1", "PYTHONPATH": str(ROOT), **settings}
        self.process: subprocess.Popen[bytes] | None = None
        self.base = ""
        self.starts = 0

    def start(self) -> str:
        port = free_port()
        self.starts += 1
        with open(self.workdir / f"server-{self.starts}.log", "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "app"],
                cwd=self.workdir,
                env={**self.env, "PORT": str(port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.base = f"http://127.0.0.1:{port}"
        wait_until_up(f"{self.base}/livez", self.process)
        return self.base

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush; whatever was committed is all there is."""
        assert self.process is not None
        self.process.kill()
        assert self.process.wait(timeout=10) == -9

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def terminate(self, timeout_s: float = 30) -> int:
        """SIGTERM, as an orchestrator stops a service; the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)

    def log(self) -> str:
        return (self.workdir / f"server-{self.starts}.log").read_text(errors="replace")


def wait_for(read: Callable[[], T], done: Callable[[T], bool], what: str, timeout_s: float = 20.0) -> T:
    """Poll `read` until `done` holds for its value; fail after `timeout_s` (a deadline, not a measurement)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {value}"
        time.sleep(0.05)
