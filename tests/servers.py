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


def wait_for(condition, what: str, guard_s: float = 120.0, poll_s: float = 0.1) -> None:
    """Poll `condition()` until it holds. The guard only stops a hang (it fails naming `what`); it is not a
    speed bound, so nothing here depends on how busy the machine is."""
    for _ in range(int(guard_s / poll_s)):
        if condition():
            return
        time.sleep(poll_s)
    raise AssertionError(f"hung: {what}")


def start_server(db: Path, port: int | None = None, **settings: str) -> tuple[subprocess.Popen, str]:
    """A server on `port` (a free one by default) with its SQLite file at `db`; CTXPLAN_* settings as keywords."""
    port = port or free_port()
    env = {**os.environ, "CTXPLAN_DATABASE_URL": f"sqlite:///{db}", "CTXPLAN_LOG_LEVEL": "WARNING",
           **{f"CTXPLAN_{name.upper()}": value for name, value in settings.items()}}
    process = subprocess.Popen([CTXPLAN, "serve", "--port", str(port)], env=env, cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    def healthy() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False
    try:
        wait_for(healthy, "the server to start", guard_s=30)
    except AssertionError:
        process.kill()
        raise
    return process, base
