"""Job execution: a bounded queue in the API process, each job in its own worker process
(`python -m api.worker`, so it shares nothing with the server but the database).

A job process can be killed (cancellation, the per-job wall-clock limit) without touching the
event loop or other jobs. `job_workers` dispatcher tasks each run one process at a time. On
start-up, jobs a crash left `running` are marked failed with reason `interrupted` (or queued again
with `requeue_interrupted`), and queued jobs are picked up again.

The queue's length is the number of `queued` jobs in the database, so a job cancelled while queued
frees its slot at once. One runner per service: `ctxplan serve` refuses `--workers N > 1`, since
each HTTP worker would run its own runner and recover (fail) the other's running jobs.
Each job process runs under an address-space limit (`job_memory_limit_mb`), so a job that still
blows up fails alone, with that reason.
"""

from __future__ import annotations

import asyncio
import sys
import time

from api.job_status import JobStatus
from api.metrics import Metrics
from api.settings import Settings
from api.store import Store


class JobRunner:
    def __init__(self, settings: Settings, store: Store, metrics: Metrics) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.processes: dict[str, asyncio.subprocess.Process] = {}
        self.tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        queued, _ = self.store.recover(self.settings.requeue_interrupted)
        for job_id in queued:
            self.queue.put_nowait(job_id)
        self.tasks = [asyncio.create_task(self._dispatch()) for _ in range(self.settings.job_workers)]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for process in list(self.processes.values()):
            if process.returncode is None:
                process.kill()

    def depth(self) -> int:
        return self.store.count(JobStatus.QUEUED)

    def running(self) -> int:
        """Job processes alive now."""
        return len(self.processes)

    def has_room(self) -> bool:
        return self.store.count(JobStatus.QUEUED) < self.settings.max_queued_jobs

    def submit(self, job_id: str) -> None:
        self.queue.put_nowait(job_id)

    def claim(self, job_id: str) -> bool:
        """queued -> running, before the job's process starts; False when it was cancelled while queued."""
        return self.store.set_status(job_id, JobStatus.RUNNING, only_from=(JobStatus.QUEUED,))

    def record(self, job_id: str, seconds: float) -> None:
        """A job's run has ended (whichever way): its duration by kind and final status, for /metrics."""
        job = self.store.get_job(job_id)
        self.metrics.observe_job(job["kind"] if job else "unknown", job["status"] if job else "unknown", seconds)

    def cancel(self, job_id: str) -> bool:
        if self.store.set_status(job_id, JobStatus.CANCELLED, only_from=(JobStatus.QUEUED,)):
            return True
        if self.store.set_status(job_id, JobStatus.CANCELLED, only_from=(JobStatus.RUNNING,), error="cancelled by request"):
            process = self.processes.get(job_id)
            if process is not None and process.returncode is None:
                process.kill()
            return True
        return False

    def _exit_reason(self, code: int) -> str:
        if code < 0:
            limit = self.settings.job_memory_limit_mb
            hint = f" (out of memory? job_memory_limit_mb={limit})" if -code in (6, 9, 11) else ""
            return f"worker killed by signal {-code}{hint}"
        return f"worker exited with code {code}"

    async def _dispatch(self) -> None:
        while True:
            job_id = await self.queue.get()
            try:
                await self._run(job_id)
            except asyncio.CancelledError:
                raise
            except Exception as exc:   # keep dispatching whatever one job did
                self.store.set_status(job_id, JobStatus.FAILED, only_from=(JobStatus.RUNNING, JobStatus.QUEUED), error=f"dispatch: {exc!r}")

    async def _run(self, job_id: str) -> None:
        if not self.claim(job_id):
            return                                   # cancelled while queued
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(sys.executable, "-m", "api.worker",
                                                       self.settings.database_url, job_id,
                                                       str(self.settings.job_memory_limit_mb))
        self.processes[job_id] = process
        try:
            try:
                code = await asyncio.wait_for(process.wait(), timeout=self.settings.job_timeout_s)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
                self.store.set_status(job_id, JobStatus.FAILED, only_from=(JobStatus.RUNNING,),
                                      error=f"timeout: ran past job_timeout_s={self.settings.job_timeout_s:g}")
            else:
                if code != 0:
                    self.store.set_status(job_id, JobStatus.FAILED, only_from=(JobStatus.RUNNING,), error=self._exit_reason(code))
        finally:
            self.processes.pop(job_id, None)
            self.record(job_id, time.perf_counter() - started)
