"""Job bodies, run in their own process: simulate or compare, write progress and the result.

Uploaded profiles are written to a private temporary folder and deployments that name them are
pointed there, so the simulator resolves them like any profile file; clients never pass paths.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import traceback
from pathlib import Path

from api.job_status import JobStatus
from api.schemas import PlanRequest, SweepRequest
from api.store import Store


def _profile_path(hardware: str, profiles: dict[str, str], folder: Path) -> str:
    """An uploaded profile's name -> a file in `folder` holding it; any other name unchanged."""
    if hardware in profiles:
        path = folder / f"{hardware}.yaml"
        path.write_text(profiles[hardware])
        return str(path)
    return hardware


def _materialise_profiles(spec: dict, profiles: dict[str, str], folder: Path) -> dict:
    """Rewrite every `hardware:` value that names an uploaded profile to a file in `folder`."""
    spec = json.loads(json.dumps(spec))
    stack = [spec]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("hardware"), str):
                node["hardware"] = _profile_path(node["hardware"], profiles, folder)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return spec


def _profile_names(result, folder: Path):
    """The result with every materialised profile path put back as the profile's name (no server paths)."""
    prefix = f"{folder}/"
    if isinstance(result, dict):
        return {_profile_names(key, folder): _profile_names(value, folder) for key, value in result.items()}
    if isinstance(result, list):
        return [_profile_names(value, folder) for value in result]
    if isinstance(result, str) and result.startswith(prefix):
        return Path(result).stem
    if isinstance(result, str) and prefix in result:         # a path inside a message (e.g. a reason)
        return re.sub(re.escape(prefix) + r"(\S+?)\.ya?ml", lambda m: Path(m.group(1)).name, result)
    return result


def _plan_or_sweep(kind: str, body: dict, seed: int | None, profiles: dict[str, str], folder: Path, progress) -> dict:
    scenario = _materialise_profiles(body["scenario"], profiles, folder)
    if seed is not None:
        scenario["seed"] = seed

    options = None if kind == "sweep" else PlanRequest.model_validate(body)   # the body as validated when queued
    phases = 2 if options is not None and options.capacity else 1
    state = {"phase": 0, "done": 0}

    def report(done: int, total: int) -> None:   # a plan reports its searches, then its capacity probes
        if done < state["done"]:
            state["phase"] = min(state["phase"] + 1, phases - 1)
        state["done"] = done
        progress((state["phase"] + done / max(total, 1)) / phases)
    if kind == "sweep":
        from simulator.planning.sweep import parse_param, sweep
        params = SweepRequest.model_validate(body).params
        table = sweep(scenario, None, [parse_param(p) for p in params], workers=1, progress=report)
        return {"rows": json.loads(table.to_json(orient="records"))}
    from api.settings import Settings
    from simulator.planning.planner import plan_result
    profile_options = options.model_copy(update={     # uploaded profiles by their files here
        "hardware": options.hardware and [_profile_path(h, profiles, folder) for h in options.hardware],
        "prices": options.prices and {_profile_path(h, profiles, folder): v for h, v in options.prices.items()}})
    result = plan_result(scenario, None, profile_options, workers=1, progress=report,
                         max_run_requests=Settings().max_requests_per_job)
    return _profile_names(result.to_json_dict(), folder)


def execute(kind: str, spec: dict, seed: int | None, profiles: dict[str, str], progress) -> dict:
    with tempfile.TemporaryDirectory(prefix="ctxplan-job-") as tmp:
        if kind in ("plan", "sweep"):
            return _plan_or_sweep(kind, spec, seed, profiles, Path(tmp), progress)
        spec = _materialise_profiles(spec, profiles, Path(tmp))
        if kind == "simulation":
            from simulator.results.runner import run
            from simulator.specs.scenario import ScenarioSpec
            scenario = ScenarioSpec.model_validate(spec)
            count = len(scenario.deployments)
            return run(scenario, seed=seed,
                       progress=lambda i, done, total: progress((i + done / max(total, 1)) / count)).to_json_dict()
        from simulator.comparisons.compare import compare
        from simulator.specs.comparison import ComparisonSpec
        from simulator.specs.scenario import ScenarioSpec
        from simulator.specs.files import is_comparison
        model = ComparisonSpec if is_comparison(spec) else ScenarioSpec
        scenario = model.model_validate(spec if seed is None else {**spec, "seed": seed})
        return compare(scenario, progress=lambda fraction, message: progress(fraction)).to_json_dict()


def limit_memory(megabytes: int) -> tuple[int, int] | None:
    """Cap this process's address space, so a job that still blows up fails alone (MemoryError).

    Returns the previous limits (to restore before writing the failure), or None when unlimited."""
    if megabytes <= 0:
        return None
    import resource
    previous = resource.getrlimit(resource.RLIMIT_AS)
    limit, hard = megabytes * 1024 * 1024, previous[1]
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    return previous


def run_job(database_url: str, job_id: str, memory_limit_mb: int = 0) -> None:
    """Process entry point."""
    store = Store(database_url)
    job = store.get_job(job_id, with_spec=True)
    if job is None or job["status"] != JobStatus.RUNNING:
        return
    last = [0.0]

    def progress(fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] >= 0.5:
            last[0] = now
            store.set_progress(job_id, round(min(max(fraction, 0.0), 0.99), 4))

    profiles = store.profiles(job.get("owner", ""))
    previous = None
    try:
        previous = limit_memory(memory_limit_mb)
        result = execute(job["kind"], job["spec"], job["seed"], profiles, progress)
        result_json = json.dumps(result, allow_nan=False)
    except MemoryError:
        if previous is not None:
            import resource
            resource.setrlimit(resource.RLIMIT_AS, previous)
        store.set_status(job_id, JobStatus.FAILED, only_from=(JobStatus.RUNNING,),
                         error=f"out of memory: the job needed more than job_memory_limit_mb={memory_limit_mb}")
        return
    except Exception as exc:   # any failure of the job ends the job, never the service
        from simulator.errors import CtxplanError
        message = str(exc) if isinstance(exc, CtxplanError) else f"internal error: {exc!r}"
        store.set_status(job_id, JobStatus.FAILED, only_from=(JobStatus.RUNNING,), error=message[:2000])
        if not isinstance(exc, CtxplanError):
            traceback.print_exc()
        return
    store.set_status(job_id, JobStatus.SUCCEEDED, only_from=(JobStatus.RUNNING,), progress=1.0, result_json=result_json)


def die_with_parent() -> None:
    """Linux: get SIGKILL when the server process dies, so a killed server leaves no orphan job running."""
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)   # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


if __name__ == "__main__":   # python -m api.worker DATABASE_URL JOB_ID [MEMORY_LIMIT_MB]
    import sys
    die_with_parent()
    run_job(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0)
