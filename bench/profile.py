"""Profile the service under load and name its top costs.

    ./bench/run.sh --profile                 # or: .venv/bin/python -m bench.profile [--clients 64] [--seconds 8]

Runs `python -m app` under pyinstrument (a sampling profiler) against the fake upstream at 0 ms
latency, so the service's own CPU work is what shows, drives it with the load generator, stops it
with SIGINT and writes bench/results/profile-<time>.{pyisession,html,txt}. Prints the functions
with the most self time (where the CPU actually goes) and the service's own functions by total time.
"""

from __future__ import annotations

import argparse
import pstats
import sys
import tempfile
import time
from pathlib import Path

from bench import procs
from bench.procs import ProcGroup, run_load, start_fake, start_server

IDLE_FUNCTIONS = ("select", "poll", "run_forever", "run_until_complete", "_run_once", "run")


def _short(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path.replace(str(procs.ROOT) + "/", "")


def top_costs(session_path: Path, out_stem: Path, limit: int = 20) -> str:
    """Render the session (html, text, pstats) and return a short report of the top entries."""
    from pyinstrument.renderers import ConsoleRenderer, HTMLRenderer, PstatsRenderer
    from pyinstrument.session import Session

    session = Session.load(str(session_path))
    out_stem.with_suffix(".html").write_text(HTMLRenderer().render(session))
    out_stem.with_suffix(".txt").write_text(ConsoleRenderer(unicode=False, color=False, show_all=False).render(session))
    with tempfile.NamedTemporaryFile(suffix=".pstats", delete=False) as tmp:
        tmp.write(PstatsRenderer().render(session).encode("utf-8", "surrogateescape"))
    stats = pstats.Stats(tmp.name)
    Path(tmp.name).unlink()
    entries = stats.stats  # type: ignore[attr-defined]
    total = session.duration
    rows = []
    for (path, line, func), (_, _, self_time, cumulative, _) in entries.items():
        rows.append((self_time, cumulative, f"{func} ({_short(path)}:{line})"))
    busy = sum(r[0] for r in rows if not any(r[2].startswith(f + " ") for f in IDLE_FUNCTIONS))
    lines = [
        f"profiled {total:.1f} s wall time, {session.sample_count} samples; busy (not waiting for I/O) "
        f"about {busy:.1f} s",
        "",
        f"top {limit} by self time (share of busy time):",
    ]
    for self_time, _, name in sorted(rows, reverse=True)[:limit]:
        lines.append(f"  {self_time:7.2f} s  {100 * self_time / max(busy, 1e-9):5.1f}%  {name}")
    ours = [r for r in rows if "(app/" in r[2]]
    lines.append("")
    lines.append("the service's own functions by total time (self + callees):")
    for _, cumulative, name in sorted(ours, key=lambda r: r[1], reverse=True)[:12]:
        lines.append(f"  {cumulative:7.2f} s  {100 * cumulative / max(busy, 1e-9):5.1f}%  {name}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--latency", type=float, default=0.0, help="upstream latency in seconds")
    args = parser.parse_args(argv)

    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_dir = procs.RESULTS / f"profile-{stamp}"
    session_path = (log_dir / "profile.pyisession").resolve()
    wrapper = ["-m", "pyinstrument", "-r", "pyisession", "-o", str(session_path), "-i", "0.0005"]
    with ProcGroup() as group:
        fake = start_fake(group, log_dir, latency_s=args.latency, threads=256)
        server = start_server(group, log_dir, fake, "service", wrapper=wrapper)
        print(f"profiling the service: {args.clients} clients for {args.seconds:.0f} s ...", flush=True)
        load = run_load(server.port, "--concurrency", str(args.clients), "--duration", str(args.seconds))
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
