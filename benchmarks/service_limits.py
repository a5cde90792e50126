"""Service limits on loopback: health latency while a maximal body is validated, and what a
10^15-point sweep range costs the server.

    .venv/bin/python benchmarks/service_limits.py [--body-mb 8]

1. A YAML body of `--body-mb` MB (many small mappings: seconds of PyYAML work in the validation
   pool) is posted; meanwhile /healthz is polled every 50 ms. Prints the health latencies (goal:
   p99 < 100 ms) and how long the body took to be refused.
2. `POST /v1/sweeps` with `seed=1..1000000000000000`: the reply time (goal < 100 ms) and the
   resident memory of the server and its validation processes before and after (goal: < 50 MB).
Client and server share this machine's cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from servers import start_server  # noqa: E402
from test_service_limits import SMALL, expensive_body  # noqa: E402


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, MB."""
    import subprocess
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                    text=True).stdout.split()]
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def health_during_validation(base: str, body_mb: float) -> None:
    body = expensive_body(int(body_mb * 1024 * 1024))
    done = {}

    def post():
        start = time.perf_counter()
        done["status"] = httpx.post(f"{base}/v1/simulations", content=body, timeout=600,
                                    headers={"content-type": "application/yaml"}).status_code
        done["seconds"] = time.perf_counter() - start
    sender = threading.Thread(target=post)
    sender.start()
    latencies = []
    while sender.is_alive():
        start = time.perf_counter()
        httpx.get(f"{base}/healthz", timeout=60)
        latencies.append(time.perf_counter() - start)
        time.sleep(0.05)
    sender.join()
    ms = np.asarray(latencies) * 1e3
    print(f"{len(body) / 1e6:.1f} MB YAML body: refused with {done['status']} after {done['seconds']:.1f} s; "
          f"/healthz during it: {ms.size} replies, p50 {np.percentile(ms, 50):.1f} ms, "
          f"p99 {np.percentile(ms, 99):.1f} ms, max {ms.max():.1f} ms")


def huge_sweep(base: str, pid: int) -> None:
    httpx.post(f"{base}/v1/sweeps", json={"scenario": SMALL, "params": ["seed=1..3"]}, timeout=60)   # warm
    before = rss_mb(pid)
    start = time.perf_counter()
    reply = httpx.post(f"{base}/v1/sweeps", json={"scenario": SMALL, "params": ["seed=1..1000000000000000"]},
                       timeout=60)
    seconds = time.perf_counter() - start
    after = rss_mb(pid)
    print(f"10^15-point sweep: {reply.status_code} in {seconds * 1e3:.1f} ms ({reply.json()['detail'][0]['msg']}); "
          f"server + validation processes {before:.0f} MB -> {after:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--body-mb", type=float, default=8.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        process, base = start_server(Path(folder) / "b.db", max_body_bytes=str(int((args.body_mb + 1) * 2**20)),
                                     validation_timeout_s="600")
        try:
            time.sleep(2)                      # the validation processes import the simulator
            huge_sweep(base, process.pid)
            health_during_validation(base, args.body_mb)
        finally:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
