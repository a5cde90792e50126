"""Starting `ctxplan serve` as a subprocess on 127.0.0.1 for end-to-end and browser tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
CTXPLAN = str(Path(sys.executable).parent / "ctxplan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: Path, port: int | None = None, **settings: str) -> tuple[subprocess.Popen, str]:
    """A server on `port` (a free one by default) with its SQLite file at `db`; CTXPLAN_* settings as keywords."""
    port = port or free_port()
    env = {**os.environ, "CTXPLAN_DATABASE_URL": f"sqlite:///{db}", "CTXPLAN_LOG_LEVEL": "WARNING",
           **{f"CTXPLAN_{name.upper()}": value for name, value in settings.items()}}
    process = subprocess.Popen([CTXPLAN, "serve", "--port", str(port)], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("server did not start")
