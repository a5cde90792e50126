"""The real app with an in-process job runner, for route tests (the FastAPI template's way: the real
app through TestClient, one dependency swapped with `app.dependency_overrides`).

`InlineRunner` is the service's `JobRunner` with one difference: a submitted job stays `queued`
until the test calls `run_queued()`, which runs it here, through the job process's own entry point
(`api.worker.run_job`), with the runner's own status transitions and metrics. No process starts
and nothing is polled, so a route test takes milliseconds and its order of events is exact (a job
cancelled before `run_queued()` never runs; a full queue stays full).

Real job processes are tested end to end in test_api_e2e.py, test_service_limits.py, the memory
limit test of test_api_hardening.py and the PostgreSQL job test of test_store.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.deps import get_runner
from api.jobs import JobRunner
from api.main import create_app
from api.settings import Settings
from api.worker import run_job


class InlineRunner(JobRunner):
    def __init__(self, app: FastAPI) -> None:
        super().__init__(app.state.settings, app.state.store, app.state.metrics)
        self.submitted: list[str] = []

    def submit(self, job_id: str) -> None:
        self.submitted.append(job_id)

    def run_queued(self) -> list[str]:
        """Run every submitted job that is still queued, in submission order; the ids that ran."""
        ran = []
        while self.submitted:
            job_id = self.submitted.pop(0)
            if self.claim(job_id):
                started = time.perf_counter()
                run_job(self.store.url, job_id)          # no memory limit: it would bind the test process
                self.record(job_id, time.perf_counter() - started)
                ran.append(job_id)
        return ran


@contextmanager
def inline_client(settings: Settings) -> Iterator[tuple[TestClient, InlineRunner]]:
    """A TestClient of the real app whose routes get an `InlineRunner`."""
    app = create_app(settings)
    with TestClient(app) as client:
        runner = InlineRunner(app)
        app.dependency_overrides[get_runner] = lambda: runner
        yield client, runner


def finished(client: TestClient, runner: InlineRunner, url: str, headers: dict | None = None) -> dict:
    """The job at `url` after running the queued jobs."""
    runner.run_queued()
    job = client.get(url, headers=headers).json()
    assert job["status"] in ("succeeded", "failed", "cancelled"), job
    return job
