"""The real server as a process (`python -m app`), pointed at the fake OpenAI server as a process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

ROOT = Path(__file__).resolve().parent.parent
SECRET = "sk-blackbox-SECRET-9f8e7d6c"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited early with {process.returncode}")
        try:
            httpx2.get(url, timeout=0.5)
            return
        except httpx2.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    fake_port, app_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MONGODB_"))}
    env.update(
        OPENAI_API_KEY=SECRET,
        OPENAI_ASSISTANT_ID="asst_fake",
        OPENAI_BASE_URL=f"http://127.0.0.1:{fake_port}/v1",
        OPENAI_MAX_RETRIES="0",
        HOST="127.0.0.1",
        PORT=str(app_port),
        PYTHONPATH=str(ROOT),
    )
    log_path = tmp_path / "server.log"
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_openai", "--port", str(fake_port), "--run-seconds", "5"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "app"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        _wait_until_up(f"http://127.0.0.1:{fake_port}/v1/threads/thread_demo", fake)
        _wait_until_up(f"http://127.0.0.1:{app_port}/", server)
        yield f"http://127.0.0.1:{app_port}", log_path
    finally:
        for process in (server, fake):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def test_served_process_answers_health_and_chat(processes: tuple[str, Path]) -> None:
    base, log_path = processes
    health = httpx2.get(f"{base}/")
    first = httpx2.post(f"{base}/chat", json={"content": "Hello!", "threadId": "thread_demo"})
    second = httpx2.post(f"{base}/chat", json={"content": "Again", "threadId": "thread_demo"})

    assert health.status_code == 200
    assert health.json()["chat_configured"] is True
    assert health.json()["storage"] == "memory"
    assert first.status_code == 200, first.text
    assert first.json()["success"] is True
    assert first.json()["thread_id"] == "thread_demo"
    assert second.status_code == 400
    assert second.json()["error"]["run_id"] == first.json()["run_id"]

    time.sleep(0.3)
    log = log_path.read_text()
    assert "engine=assistants storage=memory" in log
    assert "MONGODB_URI is not set" in log
    assert SECRET not in log
    for response in (health, first, second):
        assert SECRET not in response.text
