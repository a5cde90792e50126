"""Run many independent simulations: a local process pool by default, a Ray cluster on request.

    results = run_tasks(fn, [args, ...], workers=4)                      # local processes
    results = run_tasks(fn, [args, ...], ray_address="auto")             # an existing Ray cluster
    results = run_tasks(fn, [args, ...], ray_address="local")            # a private local Ray instance

`fn` must be a module-level function of picklable arguments and deterministic (every seed is in
its arguments), so the executor never changes a result: results come back in task order whatever
finishes first. `progress(done, total)` is called as tasks complete. Ray is imported only when
asked for (it is an optional extra: `pip install ctxplan[ray]`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from simulator.errors import InputError


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def run_tasks(fn: Callable, tasks: Sequence[tuple], workers: int | None = None, ray_address: str | None = None,
              progress: Callable[[int, int], None] | None = None) -> list:
    total = len(tasks)
    if ray_address:
        return _run_ray(fn, tasks, ray_address, progress)
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise InputError("must be >= 1", field="workers", value=workers)
    results: list = [None] * total
    if workers == 1 or total <= 1:
        for index, args in enumerate(tasks):
            results[index] = fn(*args)
            if progress:
                progress(index + 1, total)
        return results
    with ProcessPoolExecutor(max_workers=min(workers, total)) as pool:
        futures = {pool.submit(fn, *args): index for index, args in enumerate(tasks)}
        for done, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            if progress:
                progress(done, total)
    return results


def _run_ray(fn: Callable, tasks: Sequence[tuple], address: str, progress) -> list:
    try:
        import ray
    except ImportError:
        raise InputError("Ray is not installed; install the extra: pip install 'ctxplan[ray]'",
                         field="ray_address", value=address) from None
    started_here = not ray.is_initialized()
    if started_here:
        try:
            if address == "local":
                ray.init(address="local", include_dashboard=False, log_to_driver=False, configure_logging=False)
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise InputError(f"cannot connect to Ray: {str(exc).splitlines()[0][:200]}", field="ray_address",
                             value=address, allowed="auto, local, or ray://HOST:PORT of a running cluster") from None
    try:
        remote = ray.remote(fn)
        refs = [remote.remote(*args) for args in tasks]
        index_of = {ref: i for i, ref in enumerate(refs)}
        results: list = [None] * len(refs)
        pending, done = list(refs), 0
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                results[index_of[ref]] = ray.get(ref)
                done += 1
                if progress:
                    progress(done, len(refs))
        return results
    finally:
        if started_here:
            ray.shutdown()
