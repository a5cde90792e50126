"""The validation pool: job bodies are parsed, validated and expanded in worker processes, off the
event loop, each under a time limit.

A thread would not help: PyYAML and pydantic-core hold the GIL while they parse, so a large body
validated in a thread still stalls `/healthz` and every other client. A process does not. When a
body runs past `validation_timeout_s`, the pool's processes are killed and the pool is rebuilt
(`concurrent.futures` cannot cancel a running task); bodies in flight at that moment are refused
with 503 and may be retried.

One pool per server process, shared by every app the process builds (tests build many), started
with `spawn` so no thread or connection of the server is inherited (as with any spawn pool, a script
that builds the app at import time needs an `if __name__ == "__main__":` guard). Its processes die
with the server, even a SIGKILLed one.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from api.jobspec import Accepted, Limits, Refusal, validate_submission, warm

log = logging.getLogger("ctxplan.validation")


def _start_worker(server_pid: int) -> None:
    """Pool process initializer: every process imports what validation needs before its first body, and
    yields the CPU to the HTTP process (nice +5) so health checks and small requests answer first."""
    import os
    os.nice(5)
    _exit_with_server(server_pid)
    warm()


def _exit_with_server(server_pid: int) -> None:
    """Exit once the server is gone (even SIGKILLed). A watcher thread, not PR_SET_PDEATHSIG, which
    fires when the *thread* that started the process ends (TestClient's). The server's pid comes from
    the server: a server killed while this process was still starting leaves it a parent of 1 at once."""
    import os
    import threading
    import time

    def watch() -> None:
        while os.getppid() == server_pid:
            time.sleep(1.0)
        os._exit(0)
    threading.Thread(target=watch, daemon=True, name="exit-with-server").start()


class ValidationPool:
    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                     initializer=_start_worker, initargs=(os.getpid(),))
            return self._executor

    def warm_up(self) -> None:
        """Start the processes and import the simulator in them, without waiting."""
        for _ in range(self.workers):
            self._pool().submit(warm)

    def _kill(self, executor: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is executor:
                self._executor = None
        for process in list((executor._processes or {}).values()):   # no public way to stop a running task
            process.kill()
        executor.shutdown(wait=False, cancel_futures=True)

    async def validate(self, kind: str, raw: bytes, content_type: str, uploaded: frozenset[str], limits: Limits,
                       timeout_s: float) -> Accepted:
        """The accepted body, or raises `Refusal` (422 for the body, 503 when the pool had to be rebuilt)."""
        executor = self._pool()
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(executor, validate_submission, kind, raw, content_type, uploaded, limits)
            outcome = await asyncio.wait_for(future, timeout=timeout_s)
        except asyncio.TimeoutError:
            log.warning("validation timed out", extra={"kind": kind, "bytes": len(raw)})
            self._kill(executor)
            raise Refusal(["body"], f"validating this body took longer than validation_timeout_s={timeout_s:g}; "
                                    "it is too large or expands to too much work") from None
        except BrokenProcessPool:
            self._kill(executor)
            raise Refusal(["body"], "the validation worker stopped (another body was too expensive); retry",
                          status=503) from None
        if isinstance(outcome, Refusal):
            raise outcome
        return outcome

    def shutdown(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


_shared: dict[int, ValidationPool] = {}


def shared_pool(workers: int) -> ValidationPool:
    """The process's pool of `workers` processes (created on first use)."""
    if workers not in _shared:
        _shared[workers] = ValidationPool(workers)
    return _shared[workers]
