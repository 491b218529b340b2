"""Starting, watching and stopping the benchmark's processes (all on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ASSISTANT_ID = "asst_fake"
API_KEY = "sk-bench-not-a-real-key"
THREAD_PREFIX = "b"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env() -> dict[str, str]:
    """The environment without the caller's OpenAI / MongoDB settings (the bench sets its own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MONGODB_", "ENGINE"))}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def get_json(url: str, timeout_s: float = 2.0) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def post_json(url: str, payload: dict[str, Any], timeout_s: float = 5.0) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


@dataclass
class Proc:
    """A child process we started, with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    port: int

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_until_up(self, path: str = "/", timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}; see {self.log_path}")
            try:
                get_json(self.url + path, timeout_s=1.0)
                return
            except (OSError, ValueError):
                time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not come up in {timeout_s} s; see {self.log_path}")

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.pid).cpu_times()
        return times.user + times.system

    def rss_bytes(self) -> int:
        return psutil.Process(self.pid).memory_info().rss

    def peak_rss_bytes(self) -> int | None:
        """The kernel's high-water mark of the process's resident set (VmHWM), where available."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGINT first (uvicorn shuts down cleanly and profilers write their output), then harder."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)


@dataclass
class ProcGroup:
    """Every process one scenario started; stopped together, newest first."""

    procs: list[Proc] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str], port: int, log_dir: Path) -> Proc:
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{name}.log"
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(
                [sys.executable, *args], cwd=log_dir, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        proc = Proc(name, popen, log_path, port)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        while self.procs:
            self.procs.pop().stop()

    def __enter__(self) -> ProcGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


def start_fake(group: ProcGroup, log_dir: Path, *, latency_s: float, threads: int, run_seconds: float = 0.0) -> Proc:
    port = free_port()
    args = ["-m", "tests.fakes.fake_openai", "--port", str(port), "--latency", str(latency_s)]
    args += ["--run-seconds", str(run_seconds), "--threads", str(threads), "--thread-prefix", THREAD_PREFIX]
    args += ["--assistant-id", ASSISTANT_ID]
    fake = group.start("fake_openai", args, base_env(), port, log_dir)
    fake.wait_until_up(f"/v1/threads/thread_{THREAD_PREFIX}0")
    return fake


def server_env(fake: Proc, port: int, **extra: str) -> dict[str, str]:
    """Both servers as shipped: SDK retries on (default 2), so a kept-alive upstream connection the fake
    closes just as a request goes out is retried as in production, not counted as an error."""
    env = base_env()
    env.update(
        OPENAI_API_KEY=API_KEY,
        OPENAI_ASSISTANT_ID=ASSISTANT_ID,
        OPENAI_BASE_URL=f"{fake.url}/v1",
        HOST="127.0.0.1",
        PORT=str(port),
    )
    env.update(extra)
    return env


# What each benchmark target serves: the service, or one of the two floors (raw ASGI apps, bench/*_floor.py).
SERVICE = "service"
RELAY_FLOOR = "relay floor"
HOSTED_FLOOR = "hosted floor"
FLOOR_APPS = {RELAY_FLOOR: "bench.relay_floor:app", HOSTED_FLOOR: "bench.hosted_floor:app"}
# A floor run through the service's entry point: `app/__main__.py`'s `main()` with the floor in place of
# the app it builds, so the server, its options and the process set-up (logging, gc) are the service's.
_FLOOR_UNDER_SERVICE_MAIN = (
    "import app.__main__ as service_main, {module} as floor; "
    "service_main.create_app = lambda settings: floor.{attribute}; service_main.main()"
)


def asgi_server_args(target: str) -> list[str]:
    """The `python` arguments that serve `target` under the service's server with the service's options.

    The service is `python -m app`; a floor runs the same `main()` with its ASGI app instead of the
    service's (start_server checks that the floor, not the service, answers). This is the one place
    to change when the service's server changes (for a server that imports its app by name, serve
    FLOOR_APPS[target] with the options `python -m app` gives it).
    """
    if target == SERVICE:
        return ["-m", "app"]
    module, attribute = FLOOR_APPS[target].split(":")
    return ["-c", _FLOOR_UNDER_SERVICE_MAIN.format(module=module, attribute=attribute)]


def start_server(
    group: ProcGroup, log_dir: Path, fake: Proc, target: str, *, wrapper: list[str] | None = None, **extra: str
) -> Proc:
    """The service or a floor (`target`), one process, serving on a free port until the group stops it."""
    port = free_port()
    args = [*(wrapper or []), *asgi_server_args(target)]
    server = group.start(target.replace(" ", "_"), args, server_env(fake, port, **extra), port, log_dir)
    server.wait_until_up("/")
    if target != SERVICE:
        status, health = get_json(server.url + "/")
        if status != 200 or not isinstance(health, dict) or health.get("engine") != target:
            raise RuntimeError(f"{target}: the process on {server.url} is not the floor (GET / said {health!r})")
    return server


class Sampler:
    """Calls `sample()` every `interval_s` on a thread, from `with` to its end (a sample's own time counts)."""

    def __init__(self, interval_s: float) -> None:
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> bool:
        """One sample; False stops the sampling."""
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            if not self.sample():
                return
            self._stop.wait(max(0.0, self._interval_s - (time.monotonic() - started)))

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


class RssSampler(Sampler):
    """Samples a process's RSS every few milliseconds; `peak` is the largest seen."""

    def __init__(self, proc: Proc, interval_s: float = 0.02) -> None:
        super().__init__(interval_s)
        self._process = psutil.Process(proc.pid)
        self.peak = 0

    def sample(self) -> bool:
        try:
            self.peak = max(self.peak, self._process.memory_info().rss)
        except psutil.Error:
            return False
        return True


def run_load(port: int, *args: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """Run the load generator as its own process; return its JSON summary."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.load", "--port", str(port), "--thread-prefix", THREAD_PREFIX, *args],
        cwd=ROOT,
        env=base_env(),
        capture_output=True,
        timeout=timeout_s,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"load generator failed: {completed.stderr.decode(errors='replace')[-2000:]}")
    return json.loads(completed.stdout)
