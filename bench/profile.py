"""Profile the service under load and name its top costs.

    ./bench/run.sh --profile                 # or: .venv/bin/python -m bench.profile [--clients 64] [--seconds 8]
    .venv/bin/python -m bench.profile --burst  # one burst of 1,000 /chat at once, 500 ms upstream
    .venv/bin/python -m bench.profile --engine hosted  # ENGINE=hosted (threads made through the service)

Runs `python -m app` under pyinstrument (a sampling profiler) against the fake upstream at 0 ms
latency, so the service's own CPU work is what shows, drives it with the load generator, stops it
with SIGINT and writes bench/results/profile-<time>.{pyisession,html,txt}. Prints the functions
with the most self time (where the CPU actually goes) and the service's own functions by total time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from bench import procs
from bench.procs import ProcGroup, run_load, start_fake, start_server
from bench.run import make_thread_pool

STARTUP_FUNCTIONS = ("_check_engine_setup",)  # one-off work at start-up, not per request
LOOP = "event loop (uvloop's C code: socket reads and writes, callbacks, idle waits)"


def _package(path: str) -> str:
    """What a file belongs to: a site-packages distribution, the stdlib, or this project."""
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0]
    if "/lib/python3" in path:
        return "stdlib"
    if path.startswith(str(procs.ROOT)):
        return path.replace(str(procs.ROOT) + "/", "").split("/", 1)[0] + " (this project)"
    return "other"


def _short(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3.11/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path.replace(str(procs.ROOT) + "/", "")


def request_costs(session: Any) -> tuple[dict[str, float], dict[str, float], float]:
    """Self time per function and per package, leaving out start-up (imports, the setup check)."""
    by_function: dict[str, float] = {}
    by_package: dict[str, float] = {}
    total = 0.0
    stack = [(session.root_frame(), False, "other")]
    while stack:
        frame, in_service, owner = stack.pop()
        path = frame.file_path or ""
        if frame.function in STARTUP_FUNCTIONS or (in_service and frame.function == "<module>"):
            continue  # start-up work: the setup check, imports
        in_service = in_service or path.endswith("app/__main__.py")
        package = _package(path)
        if package in ("stdlib", "other"):
            package = owner  # typing, asyncio, built-ins: charged to the library that called them
        children = [child for child in frame.children if not child.is_synthetic]
        stack.extend((child, in_service, package) for child in children)
        self_time = max(0.0, frame.time - sum(child.time for child in children))  # includes "[self]" leaves
        if self_time <= 0:
            continue
        name = f"{frame.function} ({_short(path)}:{frame.line_no})"
        if frame.function == "run" and path.endswith("asyncio/runners.py"):
            name, package = LOOP, "event loop"
        by_function[name] = by_function.get(name, 0.0) + self_time
        by_package[package] = by_package.get(package, 0.0) + self_time
        total += self_time
    return by_function, by_package, total


def top_costs(session_path: Path, out_stem: Path, limit: int = 20) -> str:
    """Render the session (html, text) and return a short report of where the time went."""
    from pyinstrument.renderers import ConsoleRenderer, HTMLRenderer
    from pyinstrument.session import Session

    session = Session.load(str(session_path))
    out_stem.with_suffix(".html").write_text(HTMLRenderer().render(session))
    out_stem.with_suffix(".txt").write_text(ConsoleRenderer(unicode=False, color=False).render(session))
    by_function, by_package, total = request_costs(session)
    lines = [
        f"profiled {session.duration:.1f} s wall, {session.sample_count} samples; {total:.1f} s while serving "
        "(start-up imports and the start-up check left out)",
        "",
        "by package (self time; stdlib and built-in calls charged to the package that made them):",
    ]
    for name, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])[:12]:
        lines.append(f"  {seconds:6.2f} s  {100 * seconds / total:5.1f}%  {name}")
    lines += ["", f"top {limit} functions by self time:"]
    for name, seconds in sorted(by_function.items(), key=lambda kv: -kv[1])[:limit]:
        lines.append(f"  {seconds:6.2f} s  {100 * seconds / total:5.1f}%  {name}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--latency", type=float, default=0.0, help="upstream latency in seconds")
    parser.add_argument("--burst", action="store_true", help="one burst of 1,000 at once, 500 ms upstream, instead")
    parser.add_argument("--engine", choices=("assistants", "hosted"), default="assistants")
    args = parser.parse_args(argv)
    threads = 1000 if args.burst else 256
    latency = 0.5 if args.burst else args.latency

    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_dir = procs.RESULTS / f"profile-{stamp}"
    session_path = (log_dir / "profile.pyisession").resolve()
    wrapper = ["-m", "pyinstrument", "-r", "pyisession", "-o", str(session_path), "-i", "0.0005"]
    with ProcGroup() as group:
        fake = start_fake(group, log_dir, latency_s=latency, threads=threads)
        extra = {"ENGINE": args.engine}
        if args.engine != "assistants":
            extra["OPENAI_ASSISTANT_ID"] = ""  # hosted: the built-in default assistant (asst_fake lives upstream)
        server = start_server(group, log_dir, fake, "service", wrapper=wrapper, **extra)
        pool: list[str] = []
        if args.engine == "hosted":  # threads live in the service: make the pool through its API
            pool = ["--thread-ids-file", str(make_thread_pool(server, threads, log_dir))]
        if args.burst:
            print("profiling the service: 1,000 requests at once, 500 ms upstream ...", flush=True)
            load = run_load(server.port, "--mode", "burst", "--concurrency", "1000", "--threads", str(threads), *pool)
        else:
            print(f"profiling the service: {args.clients} clients for {args.seconds:.0f} s ...", flush=True)
            load = run_load(server.port, "--concurrency", str(args.clients), "--duration", str(args.seconds), *pool)
        server.stop()
    deadline = time.monotonic() + 10
    while not session_path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not session_path.exists():
        print(f"no profile was written; see {log_dir}", file=sys.stderr)
        return 1
    print(
        f"load: {load['rps']:.0f} req/s, p50 {load['p50_s'] * 1000:.1f} ms, {load['errors']} errors "
        "(slower than unprofiled: the profiler costs CPU too)"
    )
    report = top_costs(session_path, log_dir / "profile")
    (log_dir / "top.txt").write_text(report + "\n")
    print(report)
    print(f"\nfull profile: {(log_dir / 'profile.html').relative_to(procs.ROOT)} (open in a browser), profile.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
