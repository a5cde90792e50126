"""The real server (`ctxplan serve` on 127.0.0.1) under slow clients, overload and expensive bodies.

No assertion here is on a duration: each test orders events (the health reply arrives while a
body is still being validated; a half-sent request is closed by the server) and waits with a
generous guard only so that a hang fails instead of blocking the suite.
"""

import json
import os
import signal
import socket
import subprocess
import threading
import time

import httpx
import pytest

from servers import CTXPLAN, ROOT, start_server

SMALL = {"name": "limits", "workload": {"num_requests": 20, "arrival": {"process": "poisson", "rate_per_s": 5},
                                        "prompt_tokens": {"dist": "constant", "value": 100},
                                        "output_tokens": {"dist": "constant", "value": 5}},
         "deployments": [{"name": "a", "model": "llama-3.1-8b", "hardware": "h100-sxm"}]}
GUARD_S = 120


def not_hung(deadline: float) -> None:
    """A guard against a hang (fails the test instead of blocking the suite), not a speed bound."""
    if time.time() > deadline:
        raise AssertionError(f"still waiting after {GUARD_S} s: the service hung")


def _stop(process) -> None:
    process.kill()
    process.wait()


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=GUARD_S)


def expensive_body(target_bytes: int) -> bytes:
    """A YAML body of many small mappings: seconds of PyYAML work, refused in the end."""
    line = b"- {a: 1, b: 2}\n"
    return b"name: slow\ndescription: x\nworkload:\n  junk:\n" + b"  " + (b"  ").join([line] * (target_bytes // 17))


def test_health_answers_while_a_maximal_body_is_validated(tmp_path):
    process, base = start_server(tmp_path / "v.db", max_body_bytes=str(8 * 1024 * 1024), validation_timeout_s="300")
    try:
        body = expensive_body(8 * 1024 * 1024 - 1024)
        outcome = {}

        def post():
            outcome["response"] = httpx.post(f"{base}/v1/simulations", content=body, timeout=GUARD_S * 3,
                                             headers={"content-type": "application/yaml"})
        sender = threading.Thread(target=post)
        sender.start()
        time.sleep(1.0)                   # let the body reach the validation pool (ordering, not a bound)
        health = httpx.get(f"{base}/healthz", timeout=GUARD_S)
        still_validating = sender.is_alive()
        sender.join(GUARD_S * 3)
        assert health.status_code == 200
        assert still_validating, "the big body was done before the health check: make it more expensive"
        assert outcome["response"].status_code == 422
    finally:
        _stop(process)


@pytest.mark.slow
def test_overload_is_shed_with_503_and_slow_clients_are_closed(tmp_path):
    process, base = start_server(tmp_path / "o.db", max_inflight_requests="2", body_timeout_s="2",
                                 header_timeout_s="2")
    try:
        stalled = []
        for _ in range(2):                # two requests whose bodies never finish: both in flight
            sock = _connect(base)
            sock.sendall(b"POST /v1/estimate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100\r\n\r\n{\"model\":")
            stalled.append(sock)
        deadline = time.time() + GUARD_S
        while True:
            shed = httpx.get(f"{base}/v1/models", timeout=GUARD_S)
            if shed.status_code == 503 or time.time() > deadline:
                break
            time.sleep(0.05)
        assert shed.status_code == 503 and shed.headers["retry-after"] == "1"
        assert httpx.get(f"{base}/healthz", timeout=GUARD_S).status_code == 200   # health is never shed
        for sock in stalled:              # the body timeout answers 408 and closes the connection
            reply = sock.recv(4096)
            assert reply.startswith(b"HTTP/1.1 408"), reply[:100]
            sock.close()
        silent = _connect(base)            # a connection that never sends its headers is closed
        assert silent.recv(1) == b""
        silent.close()
        assert httpx.get(f"{base}/v1/models", timeout=GUARD_S).status_code == 200
    finally:
        _stop(process)


def test_serve_refuses_several_http_workers():
    done = subprocess.run([CTXPLAN, "serve", "--workers", "2"], capture_output=True, text=True, cwd=ROOT,
                          timeout=GUARD_S)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "--workers" in done.stderr


def test_a_killed_job_process_fails_alone_and_finished_results_stay(tmp_path):
    process, base = start_server(tmp_path / "k.db", job_workers="1")
    try:
        first = httpx.post(f"{base}/v1/simulations", json=SMALL, timeout=GUARD_S).json()
        deadline = time.time() + GUARD_S
        while httpx.get(f"{base}/v1/simulations/{first['id']}", timeout=GUARD_S).json()["status"] != "succeeded":
            not_hung(deadline)
            time.sleep(0.2)
        finished = httpx.get(f"{base}/v1/simulations/{first['id']}", timeout=GUARD_S).json()
        slow = {**SMALL, "name": "slow", "workload": {**SMALL["workload"], "num_requests": 200_000}}
        second = httpx.post(f"{base}/v1/simulations", json=slow, timeout=GUARD_S).json()
        worker = None
        while worker is None:
            not_hung(deadline)
            listing = subprocess.run(["pgrep", "-f", f"api.worker .* {second['id']}"], capture_output=True,
                                     text=True).stdout.split()
            worker = int(listing[0]) if listing else None
            time.sleep(0.1)
        os.kill(worker, signal.SIGKILL)
        while (job := httpx.get(f"{base}/v1/simulations/{second['id']}", timeout=GUARD_S).json())["status"] == \
                "running":
            not_hung(deadline)
            time.sleep(0.2)
        assert job["status"] == "failed" and "signal 9" in job["error"]
        again = httpx.get(f"{base}/v1/simulations/{first['id']}", timeout=GUARD_S).json()
        assert json.dumps(again["result"], sort_keys=True) == json.dumps(finished["result"], sort_keys=True)
        assert httpx.get(f"{base}/healthz", timeout=GUARD_S).status_code == 200
    finally:
        _stop(process)


def test_a_validation_process_whose_server_died_while_it_started_exits():
    """The server's pid is handed to the pool process: if the server is gone before the process starts
    watching (a SIGKILL during warm-up), the process exits instead of waiting forever as a child of init."""
    import sys
    code = ("import time\nfrom api.validation import _exit_with_server\n"
            "_exit_with_server(2 ** 22 + 12345)\ntime.sleep(60)\n")     # a pid that is not its parent
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, timeout=30)   # hang guard, not a speed bound
    assert done.returncode == 0
