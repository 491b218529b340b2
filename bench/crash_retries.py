"""Exactly once across `kill -9`: POST /chat with Idempotency-Keys, the service killed with requests in flight,
restarted, every unanswered key retried (and killed again), then each key's message counted on its thread.

    .venv/bin/python -m bench.crash_retries [--kills 200] [--engines hosted,assistants] [--concurrency 8]

Each engine runs on its own DATA_DIR (SQLite) against the fake upstream process, with leases of 1 s
(IDEMPOTENCY_LEASE_S, RUN_LEASE_S). The figures (kills, requests, interrupted attempts, duplicates,
lost) go to stdout as JSON; duplicates and lost must be 0. tests/system/test_exactly_once.py runs 4 kills.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from tests.fakes.crashes import CrashProbe, crash_server
from tests.fakes.processes import fake_upstream_process


def measure(kills: int, engines: list[str], concurrency: int) -> dict[str, object]:
    figures: dict[str, object] = {}
    with fake_upstream_process() as fake_base:
        for engine in engines:
            started = time.monotonic()
            with tempfile.TemporaryDirectory(prefix=f"crash-{engine}-") as workdir:
                server = crash_server(Path(workdir), engine, fake_base)
                probe = CrashProbe(server, engine, fake_base, concurrency=concurrency, seed=19)
                outcome = asyncio.run(probe.run(kills))
            figures[engine] = {**asdict(outcome), "seconds": round(time.monotonic() - started, 1)}
            print(json.dumps({engine: figures[engine]}), file=sys.stderr, flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--engines", default="hosted,assistants")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    figures = measure(args.kills, args.engines.split(","), args.concurrency)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
