"""The servers side by side on this app: CPU per POST /chat (ENGINE=hosted, fake upstream) under Granian and uvicorn.

    .venv/bin/python -m bench.servers [--rounds 4] [--seconds 5] [--concurrency 16]

`granian` is the app as shipped (`python -m app`); `uvicorn` is the same app, settings and gc
tuning under `uvicorn.run` with httptools and uvloop (uvicorn's public options). Rounds alternate
between them, so both see the same machine; the figures go to stdout as JSON.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path

from bench import procs
from bench.run import make_thread_pool

SERVERS = ("granian", "uvicorn")


def serve_uvicorn() -> None:
    """The app as `python -m app` builds it, served by uvicorn."""
    import uvicorn

    from app.config import Settings
    from app.main import create_app
    from app.observability.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format, settings.secrets)
    app = create_app(settings)
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    uvicorn.run(
        app, host=settings.host, port=settings.port, http="httptools", loop="uvloop", log_config=None, access_log=False
    )


def measure(rounds: int, seconds: float, concurrency: int, threads: int) -> dict[str, object]:
    log_dir = procs.RESULTS / "servers"
    cpu = {name: 0.0 for name in SERVERS}
    ok = {name: 0 for name in SERVERS}
    with procs.ProcGroup() as group:
        fake = procs.start_fake(group, log_dir, latency_s=0.0, threads=threads)
        servers, pools = {}, {}
        for name in SERVERS:
            port = procs.free_port()
            args = ["-m", "app"] if name == "granian" else ["-m", "bench.servers", "--serve-uvicorn"]
            env = procs.server_env(fake, port, ENGINE="hosted", OPENAI_ASSISTANT_ID="", DATA_DIR=f"data-{name}")
            servers[name] = group.start(name, args, env, port, log_dir)
            servers[name].wait_until_up("/")
            (log_dir / name).mkdir(parents=True, exist_ok=True)
            pools[name] = make_thread_pool(servers[name], threads, log_dir / name)
        load = ["--concurrency", str(concurrency), "--threads", str(threads), "--duration", str(seconds)]
        for name in SERVERS:  # warm up
            procs.run_load(servers[name].port, *load, "--thread-ids-file", str(pools[name]))
        for _ in range(rounds):
            for name in SERVERS:
                before = servers[name].cpu_seconds()
                summary = procs.run_load(servers[name].port, *load, "--thread-ids-file", str(pools[name]))
                cpu[name] += servers[name].cpu_seconds() - before
                ok[name] += summary["ok"]
    return {
        name: {"ok": ok[name], "cpu_s": round(cpu[name], 3), "cpu_ms_per_chat": round(1000 * cpu[name] / ok[name], 3)}
        for name in SERVERS
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve-uvicorn", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--threads", type=int, default=256)
    args = parser.parse_args(argv)
    if args.serve_uvicorn:
        serve_uvicorn()
        return
    json.dump(measure(args.rounds, args.seconds, args.concurrency, args.threads), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
