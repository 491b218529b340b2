"""The benchmark: our service against two floors (raw ASGI apps), side by side, on this machine.

    ./bench/run.sh            # full run (a few minutes)
    ./bench/run.sh --quick    # the three target scenarios only, shorter
    ./bench/run.sh --profile  # profile the service under load instead (see bench/profile.py)
    ./bench/run.sh --v1       # hosted /v1 runs instead: CPU per run, streamed first event (bench/v1_runs.py)
    ./bench/run.sh --streams  # 2,000 streamed runs on one process instead (bench/streams.py)

Every scenario starts, per target, a fresh fake upstream (`tests.fakes.fake_openai`, a real process
with a chosen latency) and a fresh server: our service (`python -m app`), the relay floor
(`bench/relay_floor.py`) or the hosted floor (`bench/hosted_floor.py`), the floors under the
service's server and options (bench/procs.py: asgi_server_args). A separate load-generator process
(`bench/load.py`) drives each. Traffic only goes to 127.0.0.1. Results go to stdout and to
bench/results/ (JSON and the table as text).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import procs
from bench.procs import (
    HOSTED_FLOOR,
    RELAY_FLOOR,
    SERVICE,
    ProcGroup,
    RssSampler,
    get_json,
    post_json,
    run_load,
    start_fake,
    start_server,
)
from bench.store_cost import measure_store_cost
from bench.v1_runs import v1_cpu_per_run

MB = 1024 * 1024
FLOORS = (RELAY_FLOOR, HOSTED_FLOOR)
ACTIVE_RUNS = "SELECT count(*) FROM runs WHERE status IN ('queued', 'in_progress')"
RUNS_DEADLINE_S = 30.0
HOSTED_FLOOR_THREADS = 8192
RUN_BODY = {"assistant_id": procs.ASSISTANT_ID, "additional_messages": [{"role": "user", "content": "Hello!"}]}


@dataclass
class Scenario:
    """One load shape, run against each target."""

    key: str
    title: str
    latency_s: float
    concurrency: int
    mode: str = "closed"  # or "burst"
    threads: int = 256
    engine: str = "assistants"
    stream: bool = False
    path: str = "/chat"
    targets: tuple[str, ...] = (SERVICE, RELAY_FLOOR)


@dataclass
class Cell:
    """One scenario on one target: the load generator's summary plus memory figures."""

    scenario: Scenario
    target: str
    load: dict[str, Any] = field(default_factory=dict)
    idle_rss: int = 0
    peak_rss: int = 0
    cpu_s: float = 0.0  # the server's CPU time (user + system) during the measured load
    skipped: str | None = None


def build_scenarios(quick: bool) -> list[Scenario]:
    levels = [1, 16, 64, 256]
    concurrency = {0.0: [64], 0.05: [1]} if quick else {0.0: levels, 0.05: levels}
    scenarios = [
        Scenario(f"{int(lat * 1000)}ms-c{c}", f"{int(lat * 1000)} ms upstream, {c} client{'s' * (c > 1)}", lat, c)
        for lat, levels in concurrency.items()
        for c in levels
    ]
    scenarios.append(Scenario("burst1000", "500 ms upstream, 1,000 at once", 0.5, 1000, mode="burst", threads=1000))
    return scenarios


def optional_scenarios() -> list[Scenario]:
    """Scenarios that run only when the service offers them (skipped with a message otherwise)."""
    return [
        # Streaming: time from request to the first event, compared with the upstream's own first event.
        Scenario(
            "stream-c1",
            "streaming, 50 ms upstream, 1 client",
            0.05,
            1,
            stream=True,
            path="/chat/stream",
            targets=(SERVICE,),
        ),
        # The hosted engine (threads in our store, one model call per run): same /chat, ENGINE=hosted, against
        # both floors; CPU counted until the runs the round started have ended.
        Scenario(
            "hosted-c64",
            "ENGINE=hosted, 0 ms upstream, 64 clients",
            0.0,
            64,
            threads=1024,
            engine="hosted",
            targets=(SERVICE, RELAY_FLOOR, HOSTED_FLOOR),
        ),
    ]


def upstream_key(latency_s: float, stream: bool = False) -> str:
    return f"{'stream first event, ' if stream else ''}{latency_s * 1000:.0f} ms"


def load_args(stack: Stack, duration_s: float) -> list[str]:
    scenario = stack.cell.scenario
    args = ["--path", scenario.path, "--concurrency", str(scenario.concurrency), "--threads", str(stack.threads)]
    if scenario.mode == "burst":
        args += ["--mode", "burst"]
    else:
        args += ["--duration", str(duration_s)]
    if scenario.stream:
        args.append("--stream")
    if stack.threads_file is not None:
        args += ["--thread-ids-file", str(stack.threads_file)]
    return args


def service_unavailable(scenario: Scenario, server: procs.Proc) -> str | None:
    """Why the running service cannot run this scenario, or None."""
    status, health = get_json(server.url + "/")
    if scenario.engine != "assistants" and (status != 200 or health.get("engine") != scenario.engine):
        reported = health.get("engine") if isinstance(health, dict) else status
        return f"the service reports engine={reported!r}, not {scenario.engine!r} (not available in this build)"
    if scenario.path != "/chat":
        _, schema = get_json(server.url + "/openapi.json")
        if not isinstance(schema, dict) or scenario.path not in schema.get("paths", {}):
            return f"the service has no POST {scenario.path} route yet"
    return None


def make_thread_pool(server: procs.Proc, count: int, log_dir: Path) -> Path:
    """Hosted engine: threads live in the service, so create the pool through its API."""
    ids = []
    for _ in range(count):
        status, body = post_json(server.url + "/api/assistants/threads", {})
        if status != 200 or not isinstance(body, dict) or "threadId" not in body:
            raise RuntimeError(f"could not create a thread through the service (HTTP {status})")
        ids.append(body["threadId"])
    path = log_dir / "threads.json"
    path.write_text(json.dumps(ids))
    return path


@dataclass
class Stack:
    """One target's processes for a scenario: its own fresh fake upstream and server."""

    cell: Cell
    server: procs.Proc
    threads_file: Path | None
    runs_db: Path | None  # the SQLite file whose runs must have ended before the CPU is read (hosted runs)
    threads: int  # the pool of threads its requests go to, round-robin
    rounds: list[dict[str, Any]] = field(default_factory=list)


def start_stack(group: ProcGroup, scenario: Scenario, target: str, log_root: Path) -> Stack | Cell:
    """Start the target's fake upstream and server; a skipped Cell when the target can't run the scenario."""
    cell = Cell(scenario, target)
    log_dir = log_root / scenario.key / target.replace(" ", "_")
    data_dir = log_dir / "data"
    extra = {"DATA_DIR": str(data_dir)}
    if target == SERVICE:
        extra["ENGINE"] = scenario.engine
        if scenario.engine != "assistants":
            # The hosted engine runs its built-in default assistant (the fake's asst_fake lives upstream only).
            extra["OPENAI_ASSISTANT_ID"] = ""
    fake = start_fake(group, log_dir, latency_s=scenario.latency_s, threads=scenario.threads)
    server = start_server(group, log_dir, fake, target, **extra)
    runs_db = None
    if target == SERVICE:
        cell.skipped = service_unavailable(scenario, server)
        if cell.skipped:
            return cell
        if scenario.engine == "hosted":
            runs_db = data_dir / "chat-backend.sqlite3"
    elif target == HOSTED_FLOOR:
        from bench.hosted_floor import DATABASE_FILE

        runs_db = data_dir / DATABASE_FILE
    # Hosted threads live in the service: make the pool through its API (the floors take any thread id).
    hosted_service = target == SERVICE and scenario.engine == "hosted"
    threads_file = make_thread_pool(server, scenario.threads, log_dir) if hosted_service else None
    # The hosted floor takes any thread id: a pool so large that no thread comes round again while its run
    # is still queued behind the others (its answers outrun the runs), so it refuses no request.
    threads = HOSTED_FLOOR_THREADS if target == HOSTED_FLOOR else scenario.threads
    return Stack(cell, server, threads_file, runs_db, threads)


def wait_runs_ended(stack: Stack) -> float:
    """Until no run the target started is queued or in progress (read from its SQLite file, which costs the
    server nothing; a poll over HTTP would add its own CPU to the count). Bounded by a deadline. Returns the
    seconds waited."""
    started = time.perf_counter()
    if stack.runs_db is None:
        return 0.0
    deadline = time.monotonic() + RUNS_DEADLINE_S
    with contextlib.closing(sqlite3.connect(f"file:{stack.runs_db}?mode=ro", uri=True, timeout=5)) as db:
        while db.execute(ACTIVE_RUNS).fetchone()[0]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{stack.cell.target}: runs still active {RUNS_DEADLINE_S} s after the load")
            time.sleep(0.01)
    return time.perf_counter() - started


def combine(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Several rounds of one target: counts added up, rates and latencies the median round's."""

    def median(key: str) -> Any:
        values = sorted(r[key] for r in rounds if r.get(key) is not None)
        return values[len(values) // 2] if values else None

    kinds: dict[str, int] = {}
    for r in rounds:
        for kind, count in r["error_kinds"].items():
            kinds[kind] = kinds.get(kind, 0) + count
    combined = {key: sum(r[key] for r in rounds) for key in ("requests", "ok", "active_run_400", "errors")}
    combined.update({key: median(key) for key in ("rps", "p50_s", "p99_s", "first_event_p50_s", "first_event_p99_s")})
    combined.update(
        error_kinds=kinds,
        elapsed_s=sum(r["elapsed_s"] for r in rounds),
        max_s=max((r["max_s"] for r in rounds if r["max_s"] is not None), default=None),
        last_answer_after_s=max(r["last_answer_after_s"] for r in rounds),
        rounds=len(rounds),
    )
    return combined


def run_scenario(
    scenario: Scenario, duration_s: float, warmup_s: float, rounds: int, log_root: Path
) -> dict[str, Cell]:
    """The targets up side by side, measured in alternating rounds, so noise from other processes on the
    machine hits them alike. A burst is one round on freshly started servers. A round's CPU is read once the
    runs it started have ended (hosted runs go on after their answer), as bench/v1_runs.py counts a run."""
    cells: dict[str, Cell] = {}
    with ProcGroup() as group:
        stacks: list[Stack] = []
        for target in scenario.targets:
            started = start_stack(group, scenario, target, log_root)
            if isinstance(started, Cell):
                cells[target] = started
            else:
                cells[target] = started.cell
                stacks.append(started)
        # Prime: a few requests so lazily loaded code is in, then let the processes settle: that is "idle".
        for stack in stacks:
            prime = ["--path", scenario.path, "--concurrency", "1", "--duration", "2", "--max-requests", "20"]
            if stack.threads_file is not None:
                prime += ["--thread-ids-file", str(stack.threads_file)]
            run_load(stack.server.port, *prime, "--threads", "1")
        time.sleep(0.5)
        for stack in stacks:
            stack.cell.idle_rss = stack.server.rss_bytes()
            if scenario.mode == "closed" and warmup_s > 0:
                run_load(stack.server.port, *load_args(stack, warmup_s))
            wait_runs_ended(stack)
        with contextlib.ExitStack() as sampling:
            samplers = [sampling.enter_context(RssSampler(stack.server)) for stack in stacks]
            for number in range(1 if scenario.mode == "burst" else rounds):
                for stack in stacks if number % 2 == 0 else reversed(stacks):
                    cpu_before = stack.server.cpu_seconds()
                    load = run_load(stack.server.port, *load_args(stack, duration_s / rounds))
                    # Hosted: answered requests per second until their runs have ended (their answers come first).
                    drained_s = wait_runs_ended(stack)
                    load["rps"] = load["ok"] / (load["elapsed_s"] + drained_s)
                    stack.rounds.append(load)
                    stack.cell.cpu_s += stack.server.cpu_seconds() - cpu_before
        for stack, sampler in zip(stacks, samplers, strict=True):
            stack.cell.load = combine(stack.rounds)
            stack.cell.peak_rss = max(sampler.peak, stack.server.peak_rss_bytes() or 0)
    return cells


def upstream_probe(latency_s: float, log_root: Path, stream: bool = False) -> dict[str, Any]:
    """The upstream's own answer time (one client, straight to the fake's runs.create)."""
    body = dict(RUN_BODY, stream=True) if stream else RUN_BODY
    with ProcGroup() as group:
        fake = start_fake(group, log_root / f"upstream-{int(latency_s * 1000)}ms", latency_s=latency_s, threads=256)
        args = ["--path", "/v1/threads/{thread}/runs", "--thread-field", "", "--body", json.dumps(body)]
        args += ["--concurrency", "1", *(["--stream"] if stream else [])]
        run_load(fake.port, *args, "--duration", "0.3", "--max-requests", "50")
        return run_load(fake.port, *args, "--duration", "1.5", "--max-requests", "300")


# ---- reporting --------------------------------------------------------------------------------


def _ms(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 1000:.{digits}f}"


def _ratio(ours: float | None, base: float | None) -> str:
    if ours is None or base is None or base == 0:
        return "-"
    return f"{ours / base:.2f}x"


def _mb(value: int) -> str:
    return f"{value / MB:.0f}" if value else "-"


HEADER = (
    f"{'scenario':<40} {'target':<22} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'cpu ms':>7} "
    f"{'ok':>6} {'400':>5} {'err':>4} {'idle MB':>8} {'peak MB':>8}"
)


LEGEND = (
    "req/s: answered 200s per second; p50/p99: latency of the 200s; +p50: p50 minus the upstream's own p50 "
    "(its answer time straight to the fake); cpu ms: the server's CPU time per request (hosted: until the runs "
    "the requests started have ended); 400: active_run refusals (not errors); err: anything else (other "
    "statuses, connection errors, timeouts); idle/peak MB: the server's RSS after start-up and a few requests / "
    "highest during the load (the floors run through the service's entry point, so they carry its imports); "
    "ratio: service / floor."
)


def _cpu_per_request(cell: Cell) -> float | None:
    requests = cell.load.get("requests") or 0
    return cell.cpu_s / requests if requests else None


def cell_row(cell: Cell, title: str, upstream_p50: float | None) -> str:
    if cell.skipped:
        return f"{title:<40} {cell.target:<22} skipped: {cell.skipped}"
    load = cell.load
    p50 = load["first_event_p50_s"] if cell.scenario.stream else load["p50_s"]
    p99 = load["first_event_p99_s"] if cell.scenario.stream else load["p99_s"]
    added = None if p50 is None or upstream_p50 is None else p50 - upstream_p50
    return (
        f"{title:<40} {cell.target:<22} {load['rps']:>8.1f} {_ms(p50):>8} {_ms(p99):>8} {_ms(added):>8} "
        f"{_ms(_cpu_per_request(cell), 2):>7} {load['ok']:>6} {load['active_run_400']:>5} {load['errors']:>4} "
        f"{_mb(cell.idle_rss):>8} "
        f"{_mb(cell.peak_rss):>8}"
    )


def ratio_row(ours: Cell, base: Cell) -> str:
    a, b = ours.load, base.load
    label = f"ratio to the {base.target}"
    return (
        f"{'':<40} {label:<22} {_ratio(a['rps'], b['rps']):>8} {_ratio(a['p50_s'], b['p50_s']):>8} "
        f"{_ratio(a['p99_s'], b['p99_s']):>8} {'':>8} {_ratio(_cpu_per_request(ours), _cpu_per_request(base)):>7} "
        f"{'':>6} {'':>5} {'':>4} "
        f"{_ratio(ours.idle_rss, base.idle_rss):>8} {_ratio(ours.peak_rss, base.peak_rss):>8}"
    )


def burst_lines(cells: dict[str, Cell]) -> list[str]:
    lines = []
    for target, cell in cells.items():
        if cell.skipped:
            continue
        load = cell.load
        lines.append(
            f"  {target:<12} ok {load['ok']}/{load['requests']}, 400 active_run {load['active_run_400']}, "
            f"errors {load['errors']} {load['error_kinds'] or ''}, all answered {load['last_answer_after_s']:.2f} s "
            f"after the first request (p50 {_ms(load['p50_s'])} ms, max {_ms(load['max_s'])} ms), "
            f"peak RSS {_mb(cell.peak_rss)} MB"
        )
    return lines


def _ran(cells: dict[str, Cell], *targets: str) -> bool:
    return all(t in cells and not cells[t].skipped for t in targets)


def _verdict(ok: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "n/a "}[ok]


def floor_checks(results: dict[str, dict[str, Cell]], v1_cpu: dict[str, float] | None) -> list[str]:
    """Issue 18's targets against the floors: CPU per request and req/s as ratios, in this run."""
    lines = []

    def cpu_line(title: str, ours: Cell, floor: Cell, limit: float) -> None:
        ratio = (_cpu_per_request(ours) or 0) / (_cpu_per_request(floor) or 1)
        lines.append(
            f"{_verdict(ratio <= limit)} {title}: CPU {_ms(_cpu_per_request(ours), 2)} ms vs the {floor.target}'s "
            f"{_ms(_cpu_per_request(floor), 2)} ms per request = {ratio:.2f}x (target <= {limit}x)"
        )

    def rps_line(title: str, ours: Cell, floor: Cell, limit: float) -> None:
        ratio = ours.load["rps"] / floor.load["rps"]
        lines.append(
            f"{_verdict(ratio >= limit)} {title}: {ours.load['rps']:.0f} req/s vs the {floor.target}'s "
            f"{floor.load['rps']:.0f} = {ratio:.2f}x (target >= {limit}x)"
        )

    hosted = results.get("hosted-c64", {})
    if _ran(hosted, SERVICE, RELAY_FLOOR, HOSTED_FLOOR):
        title = "hosted /chat (run included), 64 clients"
        cpu_line(title, hosted[SERVICE], hosted[RELAY_FLOOR], 2.0)
        cpu_line(title, hosted[SERVICE], hosted[HOSTED_FLOOR], 1.3)
        rps_line(title, hosted[SERVICE], hosted[RELAY_FLOOR], 0.5)
    relay = results.get("0ms-c64", {})
    if _ran(relay, SERVICE, RELAY_FLOOR):
        cpu_line("assistants /chat, 64 clients", relay[SERVICE], relay[RELAY_FLOOR], 1.25)
        rps_line("assistants /chat, 64 clients", relay[SERVICE], relay[RELAY_FLOOR], 0.8)
    if v1_cpu:
        ratio = v1_cpu["v1"] / v1_cpu["chat"]
        lines.append(
            f"{_verdict(ratio <= 1.2)} /v1 run creation vs hosted /chat, one at a time (bench/v1_runs.py): "
            f"CPU {v1_cpu['v1'] * 1000:.2f} vs {v1_cpu['chat'] * 1000:.2f} ms per run = {ratio:.2f}x (target <= 1.2x)"
        )
    return lines


def target_checks(results: dict[str, dict[str, Cell]], upstream: dict[str, dict[str, Any]]) -> list[str]:
    """The service's own targets, each with its figures and PASS / FAIL / n/a."""
    lines = []
    burst = results.get("burst1000", {}).get(SERVICE)
    if burst is not None and not burst.skipped:
        load = burst.load
        ok = load["errors"] == 0 and load["ok"] == 1000 and load["last_answer_after_s"] <= 2.0
        lines.append(
            f"{_verdict(ok)} 1,000 at once, 500 ms upstream: {load['errors']} errors, {load['ok']}/1000 ok, "
            f"all answered within {load['last_answer_after_s']:.2f} s (target: 0 errors, <= 2 s)"
        )
        lines.append(
            f"{_verdict(burst.peak_rss < 200 * MB)} peak RSS under the 1,000-client load: {_mb(burst.peak_rss)} MB "
            "(target < 200 MB)"
        )
    stream = results.get("stream-c1", {}).get(SERVICE)
    if stream is not None:
        if stream.skipped:
            lines.append(f"n/a  streaming first event: {stream.skipped}")
        else:
            up = upstream.get(upstream_key(stream.scenario.latency_s, True), {}).get("first_event_p50_s")
            ours = stream.load["first_event_p50_s"]
            added = None if up is None or ours is None else ours - up
            lines.append(
                f"{_verdict(None if added is None else added <= 0.005)} streaming: first event p50 {_ms(ours)} ms, "
                f"upstream's own {_ms(up)} ms, added {_ms(added)} ms (target <= 5 ms)"
            )
    return lines


def report(
    results: dict[str, dict[str, Cell]],
    upstream: dict[str, dict[str, Any]],
    store_cost: dict[str, Any],
    v1_cpu: dict[str, float] | None,
    machine: str,
) -> str:
    out = [machine, LEGEND, "", HEADER, "-" * len(HEADER)]
    for cells in results.values():
        scenario = next(iter(cells.values())).scenario
        up = upstream.get(upstream_key(scenario.latency_s, scenario.stream), {})
        upstream_p50 = up.get("first_event_p50_s") if scenario.stream else up.get("p50_s")
        title = scenario.title
        for cell in cells.values():
            out.append(cell_row(cell, title, upstream_p50))
            title = ""
        for floor in FLOORS:
            if _ran(cells, SERVICE, floor):
                out.append(ratio_row(cells[SERVICE], cells[floor]))
        if scenario.mode == "burst":
            out.extend(burst_lines(cells))
    out.append("")
    own = [f"{key} -> p50 {_ms(v.get('first_event_p50_s') or v.get('p50_s'))} ms" for key, v in upstream.items()]
    out.append("upstream's own answer time (1 client, straight to the fake's runs.create): " + ", ".join(own))
    out.append("")
    touches = ", ".join(f"{n:,} conversations {us:.1f} us" for n, us in store_cost["per_touch_us"].items())
    pages = ", ".join(f"{n:,} conversations {us:.1f} us" for n, us in store_cost["per_page_us"].items())
    runs = ", ".join(f"{n:,} messages {us:.0f} us" for n, us in store_cost["hosted_per_run_us"].items())
    out.append(
        f"embedded store (SQLite), per-request cost by data size: conversation touch: {touches} "
        f"({store_cost['flatness']:.2f}x); conversations page from a cursor: {pages} "
        f"({store_cost['page_flatness']:.2f}x); hosted run's store work: {runs} ({store_cost['hosted_flatness']:.2f}x)"
    )
    out.append("")
    out.append("against the floors (issue 18):")
    out.extend("  " + line for line in floor_checks(results, v1_cpu))
    out.append("targets:")
    out.extend("  " + line for line in target_checks(results, upstream))
    return "\n".join(out)


# ---- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only the target scenarios, shorter runs")
    parser.add_argument(
        "--duration",
        type=float,
        help="seconds of measured load per scenario and target, in 3 rounds (default 6, quick 3)",
    )
    parser.add_argument("--only", help="comma-separated scenario keys (e.g. 0ms-c64,burst1000)")
    parser.add_argument("--profile", action="store_true", help="profile the service under load instead")
    parser.add_argument(
        "--v1",
        action="store_true",
        help="hosted /v1 runs instead: CPU per run creation beside /chat, and a streamed run's first-event delay",
    )
    parser.add_argument("--streams", action="store_true", help="2,000 streamed runs on one process instead")
    parser.add_argument(
        "--v1-rounds", type=int, help="/v1 run creations and hosted /chats compared for CPU (default 100, quick 40)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        from bench.profile import main as profile_main

        return profile_main([])
    if args.v1:
        from bench.v1_runs import main as v1_main

        v1_main([])
        return 0
    if args.streams:
        from bench.streams import main as streams_main

        return streams_main([])
    duration = args.duration or (3.0 if args.quick else 6.0)
    rounds = 3
    warmup = 0.5 if args.quick else 1.0
    stamp = time.strftime("%Y%m%d-%H%M%S")
    log_root = procs.RESULTS / f"run-{stamp}"
    scenarios = build_scenarios(args.quick) + optional_scenarios()
    if args.only:
        wanted = set(args.only.split(","))
        scenarios = [s for s in scenarios if s.key in wanted]
    started = time.monotonic()
    load_at_start = os.getloadavg()[0]

    upstream: dict[str, dict[str, Any]] = {}
    for latency in sorted({s.latency_s for s in scenarios if s.mode == "closed" and not s.stream}):
        print(f"probing the upstream's own latency at {latency * 1000:.0f} ms ...", flush=True)
        upstream[upstream_key(latency)] = upstream_probe(latency, log_root)

    results: dict[str, dict[str, Cell]] = {}
    for scenario in scenarios:
        print(f"{scenario.title} ...", flush=True)
        results[scenario.key] = run_scenario(scenario, duration, warmup, rounds, log_root)
        if results[scenario.key][SERVICE].skipped:
            print(f"  skipped: {results[scenario.key][SERVICE].skipped}", flush=True)
        if scenario.stream and not results[scenario.key][SERVICE].skipped:
            key = upstream_key(scenario.latency_s, stream=True)
            upstream[key] = upstream_probe(scenario.latency_s, log_root, stream=True)

    print("measuring the embedded store's per-request cost (SQLite) ...", flush=True)
    store_cost = measure_store_cost()
    v1_rounds = args.v1_rounds if args.v1_rounds is not None else (40 if args.quick else 100)
    v1_cpu = None
    if v1_rounds > 0 and not args.only:
        print(f"/v1 run creation beside hosted /chat, {v1_rounds} of each, one at a time ...", flush=True)
        v1_cpu = v1_cpu_per_run(v1_rounds)

    machine = (
        f"machine: {os.cpu_count()} cores; load average {load_at_start:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end (other processes on the machine add noise)"
    )
    table = report(results, upstream, store_cost, v1_cpu, machine)
    elapsed = time.monotonic() - started
    print()
    print(table)
    print(f"\n(whole run: {elapsed:.0f} s; logs and JSON in {log_root.relative_to(procs.ROOT)})")
    log_root.mkdir(parents=True, exist_ok=True)
    (log_root / "table.txt").write_text(table + "\n")
    raw = {
        "upstream": upstream,
        "store_cost": store_cost,
        "v1_cpu_per_run_s": v1_cpu,
        "cells": {
            key: {
                t: {"load": c.load, "idle_rss": c.idle_rss, "peak_rss": c.peak_rss, "skipped": c.skipped}
                for t, c in cells.items()
            }
            for key, cells in results.items()
        },
    }
    (log_root / "results.json").write_text(json.dumps(raw, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
