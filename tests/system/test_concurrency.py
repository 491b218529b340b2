"""`python -m app` serves hundreds of requests at once: none waits for another to finish first."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2

from tests.fakes.app_support import TEST_API_KEY
from tests.fakes.processes import Server, fake_upstream_process
from tests.fakes.servers import wait_for_upstream_requests

# More than Granian's embedded defaults allow at once (a listen backlog of 128, as many requests in flight).
STREAMS = 300


async def _open_streams(base: str, threads: list[str], fake: str) -> None:
    limits = httpx2.Limits(max_connections=STREAMS + 10, max_keepalive_connections=0)
    async with httpx2.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def stream(thread_id: str) -> None:
            async with client.stream("POST", "/chat/stream", json={"content": "hi", "threadId": thread_id}) as answer:
                async for _ in answer.aiter_raw():
                    pass

        readers = [asyncio.create_task(stream(thread_id)) for thread_id in threads]
        try:
            # Every stream's run reaches the model: all of them are being served at the same time.
            await asyncio.to_thread(wait_for_upstream_requests, fake, "POST", "/v1/responses", STREAMS)
        finally:
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)


def test_hundreds_of_open_streams_are_served_at_once(tmp_path: Path) -> None:
    with fake_upstream_process() as fake:
        for _ in range(STREAMS):  # each model call keeps its stream open, answering nothing
            httpx2.post(f"{fake}/_fake/models/plan", json={"hang_s": 60}).raise_for_status()
        server = Server(tmp_path, ENGINE="hosted", OPENAI_API_KEY=TEST_API_KEY, OPENAI_BASE_URL=f"{fake}/v1")
        base = server.start()
        try:
            with httpx2.Client(base_url=base, timeout=30) as client:
                threads = [client.post("/threads").json()["thread_id"] for _ in range(STREAMS)]
            asyncio.run(_open_streams(base, threads, fake))
        finally:
            server.stop()
