"""The real server as a process (`python -m app`), pointed at the fake OpenAI server as a process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from tests.fakes.servers import ROOT, free_port, wait_for_upstream_requests, wait_until_up

SECRET = "sk-blackbox-SECRET-9f8e7d6c"


@contextmanager
def _serve(
    tmp_path: Path, *fake_args: str, **env_extra: str
) -> Iterator[tuple[str, Path, subprocess.Popen[bytes], str]]:
    """The fake OpenAI server and `python -m app` as processes; yields (base url, log path, server, fake's url)."""
    fake_port, app_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MONGODB_"))}
    env.update(
        OPENAI_API_KEY=SECRET,
        ENGINE="assistants",
        OPENAI_ASSISTANT_ID="asst_fake",
        OPENAI_BASE_URL=f"http://127.0.0.1:{fake_port}/v1",
        OPENAI_MAX_RETRIES="0",
        HOST="127.0.0.1",
        PORT=str(app_port),
        PYTHONPATH=str(ROOT),
        **env_extra,
    )
    log_path = tmp_path / "server.log"
    fake = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.fake_openai",
            "--port",
            str(fake_port),
            "--run-seconds",
            "5",
            "--record",
            *fake_args,
        ],
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
        wait_until_up(f"http://127.0.0.1:{fake_port}/v1/threads/thread_demo", fake)
        wait_until_up(f"http://127.0.0.1:{app_port}/livez", server)
        yield f"http://127.0.0.1:{app_port}", log_path, server, f"http://127.0.0.1:{fake_port}"
    finally:
        for process in (server, fake):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _log_once_it_has(log_path: Path, text: str) -> str:
    """The server's log, read once it holds `text` (written after the answer was sent)."""
    deadline = time.monotonic() + 20
    while text not in (log := log_path.read_text()):
        assert time.monotonic() < deadline, f"{text!r} never reached the log"
        time.sleep(0.02)
    return log


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with _serve(tmp_path) as (base, log_path, _, _):
        yield base, log_path


def test_served_process_answers_health_and_chat(processes: tuple[str, Path]) -> None:
    base, log_path = processes
    health = httpx2.get(f"{base}/")
    first = httpx2.post(f"{base}/chat", json={"content": "Hello!", "threadId": "thread_demo"})
    second = httpx2.post(f"{base}/chat", json={"content": "Again", "threadId": "thread_demo"})

    assert health.status_code == 200
    assert health.json()["chat_configured"] is True
    assert health.json()["storage"] == "sqlite"
    assert first.status_code == 200, first.text
    assert first.json()["success"] is True
    assert first.json()["thread_id"] == "thread_demo"
    assert second.status_code == 400
    assert second.json()["error"]["run_id"] == first.json()["run_id"]

    log = _log_once_it_has(log_path, "POST /chat 400")  # the access line of the last request
    assert "engine=assistants storage=sqlite" in log
    assert "MONGODB_URI is not set" in log
    assert SECRET not in log
    for response in (health, first, second):
        assert SECRET not in response.text


def test_sigterm_lets_the_request_in_flight_finish_then_exits(tmp_path: Path) -> None:
    served = _serve(tmp_path, "--latency", "1.0", SHUTDOWN_TIMEOUT_S="10", LOG_FORMAT="json")
    with served as (base, log_path, server, fake):
        with ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(
                httpx2.post, f"{base}/chat", json={"content": "Hi", "threadId": "thread_demo"}, timeout=10
            )
            wait_for_upstream_requests(fake, "POST", "/threads/thread_demo/runs")  # now waiting on it
            server.send_signal(signal.SIGTERM)
            response = in_flight.result()
        exit_code = server.wait(timeout=10)

    assert response.status_code == 200, response.text
    assert response.json()["success"] is True
    assert exit_code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down cleanly
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    messages = [line["message"] for line in lines]
    assert any(m.startswith("POST /chat 200") for m in messages)
    assert "shutdown: no conversation upserts pending" in messages
    assert all(SECRET not in line for line in log_path.read_text().splitlines())
