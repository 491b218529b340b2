"""Scaling out: two server processes share nothing but the upstream, and one thread still gets one run.

On the assistants engine the upstream's own refusal ("already has an active run") is the
active-run check, so it holds across processes (and machines) without any shared lock.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.fakes.servers import ROOT, free_port, wait_until_up

THREAD_ID = "thread_s0"


@pytest.fixture
def two_servers_one_upstream(tmp_path: Path) -> Iterator[list[str]]:
    """One fake upstream process (runs stay active for 30 s) and two `python -m app` processes on it."""
    fake_port, ports = free_port(), [free_port(), free_port()]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MONGODB_", "ENGINE"))}
    env.update(
        OPENAI_API_KEY="sk-scale-out-test",
        ENGINE="assistants",
        OPENAI_ASSISTANT_ID="asst_fake",
        OPENAI_BASE_URL=f"http://127.0.0.1:{fake_port}/v1",
        OPENAI_MAX_RETRIES="0",
        HOST="127.0.0.1",
        PYTHONPATH=str(ROOT),
    )
    fake_args = ["--port", str(fake_port), "--run-seconds", "30", "--threads", "1", "--thread-prefix", "s"]
    started = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.fake_openai", *fake_args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    try:
        for port in ports:
            started.append(
                subprocess.Popen(
                    [sys.executable, "-m", "app"],
                    cwd=tmp_path,
                    env={**env, "PORT": str(port)},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        wait_until_up(f"http://127.0.0.1:{fake_port}/v1/threads/{THREAD_ID}", started[0])
        for port, process in zip(ports, started[1:], strict=True):
            wait_until_up(f"http://127.0.0.1:{port}/", process)
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for process in reversed(started):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


async def test_two_processes_hit_at_once_on_one_thread_start_exactly_one_run(
    two_servers_one_upstream: list[str],
) -> None:
    bodies = [{"content": f"message {n}", "threadId": THREAD_ID} for n in range(10)]
    async with httpx2.AsyncClient(timeout=20) as client:
        responses = await asyncio.gather(
            *(client.post(f"{two_servers_one_upstream[n % 2]}/chat", json=body) for n, body in enumerate(bodies))
        )

    started = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert len(started) == 1, [r.text for r in responses]
    run_id = started[0].json()["run_id"]
    assert len(refused) == 9
    for response in refused:
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "active_run"
        assert error["run_id"] == run_id
        assert error["thread_id"] == THREAD_ID
