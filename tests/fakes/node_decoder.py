"""Run openai-node 4.46.0 (tests/node): its AssistantStream with chat.tsx's handlers over a body, or a script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).resolve().parent.parent / "node"  # tests/node


def node_decoder_available() -> None:
    """Skip (or, under CI, fail) when Node or the decoder's npm packages are missing."""
    missing = shutil.which("node") is None or not (NODE_DIR / "node_modules" / "openai").is_dir()
    if missing:
        message = "node and tests/node/node_modules are needed (./test.sh installs them with npm ci)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def decode_like_chat_tsx(body: bytes, chunk_bytes: int = 7) -> dict[str, Any]:
    node_decoder_available()
    result = subprocess.run(
        ["node", str(NODE_DIR / "decode.cjs")],
        input=body,
        capture_output=True,
        timeout=60,
        env={**os.environ, "CHUNK_BYTES": str(chunk_bytes)},
        check=True,
    )
    return json.loads(result.stdout)


def run_node_script(script: str, env: dict[str, str], timeout_s: float = 60) -> dict[str, Any]:
    """Run tests/node/`script` with `env` added to the environment; its stdout, read as JSON."""
    node_decoder_available()
    result = subprocess.run(
        ["node", str(NODE_DIR / script)],
        capture_output=True,
        timeout=timeout_s,
        env={**os.environ, **env},
        check=True,
    )
    return json.loads(result.stdout)
