"""Load test of POST /v1/estimate on loopback: open loop at a fixed rate, then closed loop.

    .venv/bin/python benchmarks/api_load.py [--rate 200] [--duration 20] [--concurrency 64] [--overload-rate 800]

Starts `ctxplan serve` on 127.0.0.1 with a throwaway database, then
1. open loop: requests are sent on a fixed schedule (rate x duration); latency is measured from
   each request's scheduled time, so a slow server cannot hide queueing (no coordinated omission);
2. closed loop: `concurrency` clients send back to back for `duration` seconds;
3. overload: open loop at `overload-rate` for 5 s: the server sheds what passes its in-flight limit
   with 503 + Retry-After (counted apart from errors), so accepted requests keep a short latency.
Client and server share this machine.
Traffic goes only to 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BODY = {"model": "llama-3.1-70b", "hardware": "h100-sxm", "prompt_tokens": 32768, "output_tokens": 512, "tp": 4}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, folder: str) -> subprocess.Popen:
    env = {**os.environ, "CTXPLAN_DATABASE_URL": f"sqlite:///{folder}/load.db", "CTXPLAN_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([str(Path(sys.executable).parent / "ctxplan"), "serve", "--port", str(port)],
                              env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(150):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("server did not start")


def report(name: str, latencies: list[float], errors: int, wall_s: float, shed: int = 0) -> None:
    data = np.asarray(latencies) * 1e3
    p50, p90, p99 = np.percentile(data, [50, 90, 99]) if data.size else (float("nan"),) * 3
    print(f"{name:<34} requests {data.size:>6}  shed (503) {shed:>5}  errors {errors:>4}  "
          f"throughput {data.size / wall_s:>7.1f}/s  "
          f"p50 {p50:6.1f} ms  p90 {p90:6.1f} ms  p99 {p99:6.1f} ms  max {data.max() if data.size else 0:6.1f} ms")


class RawPool:
    """Keep-alive HTTP/1.1 connections over asyncio streams, at most `size` of them.

    A deliberately thin client (one write, one header read, one body read per request): httpx's
    pool spends O(waiting requests) per request, so at 800 req/s the client, not the server, set
    the latency. Requests beyond `size` wait for a free connection, as behind a load balancer.
    """

    def __init__(self, port: int, size: int) -> None:
        self.port = port
        self.free: asyncio.Queue = asyncio.Queue()
        self.slots = asyncio.Semaphore(size)

    async def post(self, path: str, body: bytes) -> int | None:
        async with self.slots:
            if self.free.empty():
                conn = await asyncio.open_connection("127.0.0.1", self.port)
            else:
                conn = self.free.get_nowait()
            reader, writer = conn
            try:
                writer.write(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body))
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, IndexError, ValueError):
                writer.close()
                return None
            if b"connection: close" in head.lower():
                writer.close()
            else:
                self.free.put_nowait(conn)
            return int(head.split(b" ", 2)[1])


class Recorder:
    """Latencies of successful requests, the 503 count and the error count."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.shed = 0
        self.body = json.dumps(BODY).encode()

    async def post(self, pool: RawPool, since: float) -> None:
        status = await pool.post("/v1/estimate", self.body)
        if status == 200:
            self.latencies.append(time.perf_counter() - since)
        elif status == 503:
            self.shed += 1
        else:
            self.errors += 1


async def open_loop(port: int, rate: float, duration: float) -> None:
    recorder, pool = Recorder(), RawPool(port, 256)
    start = time.perf_counter()
    tasks = []
    for i in range(int(rate * duration)):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(recorder.post(pool, scheduled)))
    await asyncio.gather(*tasks)
    report(f"open loop {rate:g}/s for {duration:g} s", recorder.latencies, recorder.errors,
           time.perf_counter() - start, recorder.shed)


async def closed_loop(port: int, concurrency: int, duration: float) -> None:
    recorder, pool = Recorder(), RawPool(port, concurrency)
    start = time.perf_counter()
    stop = start + duration

    async def worker() -> None:
        while time.perf_counter() < stop:
            await recorder.post(pool, time.perf_counter())

    await asyncio.gather(*[worker() for _ in range(concurrency)])
    report(f"closed loop, {concurrency} clients", recorder.latencies, recorder.errors,
           time.perf_counter() - start, recorder.shed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--overload-rate", type=float, default=800)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(port, folder)
        try:
            print(f"server: ctxplan serve on 127.0.0.1; client: one asyncio process (raw HTTP/1.1 keep-alive, "
                  f"at most 256 connections); {os.cpu_count()} cores shared")
            asyncio.run(closed_loop(port, 8, 3))                 # warm-up: first requests build caches
            asyncio.run(open_loop(port, args.rate, args.duration))
            asyncio.run(closed_loop(port, args.concurrency, args.duration))
            asyncio.run(open_loop(port, args.overload_rate, 5))
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
