"""End to end with real job processes: `ctxplan serve` on 127.0.0.1 as a subprocess, SIGKILLed mid-job
and restarted; a running job's process killed by its cancellation. (Route tests elsewhere swap the
job runner for an in-process one, see tests/runners.py.)"""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from servers import free_port, start_server, wait_for

from api.main import create_app
from api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CTXPLAN = str(Path(sys.executable).parent / "ctxplan")
SMALL = {"name": "e2e-small", "seed": 2,
         "workload": {"num_requests": 60, "arrival": {"process": "poisson", "rate_per_s": 4},
                      "prompt_tokens": {"dist": "lognormal", "median": 400, "sigma": 0.5, "max": 8000},
                      "output_tokens": {"dist": "constant", "value": 30}},
         "deployments": [{"name": "a", "model": "llama-3.1-8b", "hardware": "h100-sxm"}]}
LONG = {**SMALL, "name": "e2e-long", "workload": {**SMALL["workload"], "num_requests": 400_000,
                                                   "arrival": {"process": "poisson", "rate_per_s": 9}}}


def start(port: int, db: Path) -> subprocess.Popen:
    return start_server(db, port)[0]


def wait_status(base: str, job_id: str, wanted: set[str], timeout: float = 120) -> dict:
    seen: list[dict] = []

    def reached() -> bool:
        seen.append(httpx.get(f"{base}/v1/simulations/{job_id}", timeout=5).json())
        return seen[-1]["status"] in wanted
    wait_for(reached, f"job {job_id} to reach {sorted(wanted)}", guard_s=timeout, poll_s=0.2)
    return seen[-1]


@pytest.mark.slow
def test_serve_job_matches_cli_and_survives_sigkill(tmp_path):
    port, db = free_port(), tmp_path / "service.db"
    base = f"http://127.0.0.1:{port}"
    server = start(port, db)
    try:
        done_id = httpx.post(f"{base}/v1/simulations?seed=5", json=SMALL, timeout=10).json()["id"]
        finished = wait_status(base, done_id, {"succeeded", "failed"})
        assert finished["status"] == "succeeded", finished["error"]
        path = tmp_path / "small.yaml"
        path.write_text(json.dumps(SMALL))
        cli = subprocess.run([CTXPLAN, "run", str(path), "--seed", "5", "--format", "json"], capture_output=True,
                             text=True, cwd=ROOT, timeout=120)
        assert finished["result"] == json.loads(cli.stdout)

        running_id = httpx.post(f"{base}/v1/simulations", json=LONG, timeout=10).json()["id"]
        wait_status(base, running_id, {"running"}, timeout=30)
        time.sleep(1.0)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        server = start(port, db)
        after_done = httpx.get(f"{base}/v1/simulations/{done_id}", timeout=5).json()
        assert after_done["status"] == "succeeded" and after_done["result"] == finished["result"]
        interrupted = httpx.get(f"{base}/v1/simulations/{running_id}", timeout=5).json()
        assert interrupted["status"] == "failed" and interrupted["error"] == "interrupted"
    finally:
        server.kill()
        server.wait(timeout=10)


def test_cancelling_a_running_job_kills_its_process_and_the_job_stays_cancelled(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'c.db'}", log_level="ERROR", job_workers=1)
    with TestClient(create_app(settings)) as client:
        runner = client.app.state.runner
        url = client.post("/v1/simulations", json=LONG).headers["location"]
        job_id = url.rsplit("/", 1)[1]
        wait_for(lambda: job_id in runner.processes, "the job's process to start")
        process = runner.processes[job_id]
        cancelled = client.delete(url)
        assert cancelled.status_code == 200, cancelled.text
        assert (cancelled.json()["status"], cancelled.json()["error"]) == ("cancelled", "cancelled by request")
        wait_for(lambda: job_id not in runner.processes, "the runner to see its process end")
        assert process.returncode == -signal.SIGKILL
        job = client.get(url).json()
        assert (job["status"], job["error"], job["result"]) == ("cancelled", "cancelled by request", None)
        assert client.delete(url).status_code == 409
