"""A real MongoDB wire-protocol server for the tests: SecantusDB (PyPI `secantusdb`) on a free loopback port.

It runs as a one-node replica set (sessions, retryable writes) unless `standalone`, as mongod does without
`--replSet`. A test that needs a real `mongod` instead sets TEST_MONGODB_URI (see tests/conftest.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from tests.fakes.servers import free_port

# SecantusDB advertises this replica set name (its default, not settable).
REPLICA_SET = "secantus"
_START_TIMEOUT_S = 30


class MongoServer:
    """`secantusd-py` on 127.0.0.1 with its data in `data_dir`: started, stopped and started again on one port."""

    def __init__(self, data_dir: Path, *, standalone: bool = False) -> None:
        self.data_dir = data_dir
        self.standalone = standalone
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def uri(self) -> str:
        """The URI a client uses: the replica set by name, or the standalone server directly."""
        options = "directConnection=true" if self.standalone else f"replicaSet={REPLICA_SET}"
        return f"mongodb://{self.address}/?{options}"

    def start(self) -> None:
        """Start the server and wait until it answers a ping; raise (with its log) if it does not."""
        executable = Path(sys.executable).with_name("secantusd-py")
        if not executable.exists():
            found = shutil.which("secantusd-py")
            if found is None:
                raise RuntimeError("secantusd-py is not installed: pip install -r requirements-dev.txt")
            executable = Path(found)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        args = [str(executable), "--host", "127.0.0.1", "--port", str(self.port), "--storage-path", str(self.data_dir)]
        args += ["--cache-size", "128M", "--log-level", "WARNING", *(["--standalone"] if self.standalone else [])]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                args, cwd=self.data_dir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self._wait_until_up()

    @property
    def log_path(self) -> Path:
        return self.data_dir.with_name(self.data_dir.name + ".log")

    def _wait_until_up(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + _START_TIMEOUT_S
        with MongoClient(f"mongodb://{self.address}/?directConnection=true", serverSelectionTimeoutMS=200) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"SecantusDB exited with {self.process.returncode}: {self._log_tail()}")
                try:
                    client.admin.command("ping")
                    return
                except PyMongoError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"SecantusDB did not answer on {self.address}: {self._log_tail()}") from None
                    time.sleep(0.05)

    def _log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""

    def stop(self, *, keep_data: bool = True) -> None:
        """SIGTERM, then SIGKILL if it lingers; the data stays in `data_dir` for the next start. Without
        `keep_data`: SIGKILL at once (a session's throwaway server; a clean shutdown takes about 2 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        if keep_data:
            self.process.terminate()
        else:
            self.process.kill()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
