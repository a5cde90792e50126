"""Capacity planning: the cheapest configuration that meets latency targets at a target rate.

Grid: hardware x tensor parallel x engine knobs (max_num_seqs, chunk size), each with 1..R
replicas (R = max_gpus / tp). A configuration's p99 latencies fall as replicas are added at a
fixed rate, so the fewest replicas meeting the SLOs is found by binary search (checked at R
first: if R fails, the configuration is infeasible); `exhaustive=True` tries every replica count
instead (the reference the tests compare with). For every feasible configuration at its fewest
replicas, the highest rate it sustains within the SLOs is then found by bracketing (x2) and
geometric bisection to 10%: latency grows with load, so that search is monotone too.

Each point is averaged over `seeds` runs (the spread is reported); a point meets the SLOs when
every seed's run is stable, rejects and leaves nothing, and the mean p99s are within the targets.
Configuration searches are independent tasks for `simulator.executor` (processes or Ray).
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from simulator.errors import InputError
from simulator.executor import run_tasks

RATE_TOLERANCE = 1.1
RATE_DOUBLINGS = 6        # max_rate tries target x2, x4, ... x64 before bisecting
MAX_RATE_FACTOR = 2 ** RATE_DOUBLINGS   # the highest rate any run of plan(capacity=True) uses, x target_qps


@dataclass(frozen=True, slots=True)
class Config:
    hardware: str
    tensor_parallel: int
    max_num_seqs: int
    max_num_batched_tokens: int


@dataclass(frozen=True, slots=True)
class Targets:
    ttft_p99_s: float | None
    tpot_p99_s: float | None


def point_doc(doc: dict, config: Config, replicas: int, rate: float, seed: int, requests: int | None) -> dict:
    point = copy.deepcopy(doc)
    template = point["deployments"][0]
    engine = dict(template.get("engine") or {})
    engine.update(max_num_seqs=config.max_num_seqs, max_num_batched_tokens=config.max_num_batched_tokens)
    template.update(name=f"{config.hardware}-tp{config.tensor_parallel}-x{replicas}", hardware=config.hardware,
                    tensor_parallel=config.tensor_parallel, replicas=replicas, engine=engine)
    template.setdefault("router", "least_outstanding_tokens")
    point["deployments"] = [template]
    point["seed"] = seed
    point["workload"]["arrival"]["rate_per_s"] = rate
    if requests is not None:
        point["workload"]["num_requests"] = requests
        point["workload"].pop("horizon_s", None)
    return point


def evaluate(doc: dict, base_dir: str | None, config: Config, replicas: int, rate: float, seeds: tuple[int, ...],
             requests: int | None, targets: Targets) -> dict:
    """One configuration at one replica count and rate, over every seed."""
    from simulator.runner import run
    from simulator.scenario import ScenarioSpec
    runs = []
    for seed in seeds:
        spec = ScenarioSpec.model_validate(point_doc(doc, config, replicas, rate, seed, requests))
        result = run(spec, base_dir=Path(base_dir) if base_dir else None).deployments[0]
        runs.append((result.metrics, result.resolved))
    metrics = [m for m, _ in runs]
    ttft = np.array([m["ttft_s"]["p99"] if m["ttft_s"]["p99"] is not None else np.inf for m in metrics])
    tpot = np.array([m["tpot_s"]["p99"] if m["tpot_s"]["p99"] is not None else 0.0 for m in metrics])
    clean = all(m["stable"] and not m["num_rejected"] and not m["num_unfinished"] for m in metrics)
    meets = clean and (targets.ttft_p99_s is None or ttft.mean() <= targets.ttft_p99_s) \
        and (targets.tpot_p99_s is None or tpot.mean() <= targets.tpot_p99_s)
    resolved = runs[0][1]
    return {"replicas": replicas, "rate_per_s": rate, "num_gpus": resolved.num_gpus,
            "cost_per_hour_usd": resolved.num_gpus * resolved.price_usd_per_gpu_hour,
            "ttft_p99_s": _finite(ttft.mean()),
            "ttft_p99_spread_s": _finite(ttft.max() - ttft.min()) if np.isfinite(ttft).all() else None,
            "tpot_p99_s": float(tpot.mean()), "tpot_p99_spread_s": float(tpot.max() - tpot.min()),
            "stable": clean, "meets_slo": bool(meets)}


def _finite(value: float) -> float | None:
    """A seed that completed no request has no TTFT: None, never +inf or NaN (JSON carries neither)."""
    return float(value) if np.isfinite(value) else None


def search_config(doc: dict, base_dir: str | None, config: Config, target_qps: float, seeds: tuple[int, ...],
                  requests: int | None, targets: Targets, max_replicas: int, exhaustive: bool) -> dict:
    """Fewest replicas of `config` meeting the targets at `target_qps` (a task: module level, picklable)."""
    from simulator.deployment import resolve_deployment
    from simulator.scenario import ScenarioSpec
    out = {"config": asdict(config), "min_replicas": None, "reason": "", "points": []}
    try:
        _check_point(point_doc(doc, config, 1, target_qps, seeds[0], requests))
        spec = ScenarioSpec.model_validate(point_doc(doc, config, 1, target_qps, seeds[0], requests))
        resolve_deployment(spec.deployments[0], "deployment", Path(base_dir) if base_dir else None)
    except InputError as exc:
        out["reason"] = f"does not fit: {exc}"
        return out
    if max_replicas < 1:
        out["reason"] = "tensor parallel degree exceeds --max-gpus"
        return out
    cache: dict[int, dict] = {}

    def at(replicas: int) -> dict:
        if replicas not in cache:
            cache[replicas] = evaluate(doc, base_dir, config, replicas, target_qps, seeds, requests, targets)
        return cache[replicas]

    if exhaustive:
        passing = [r for r in range(1, max_replicas + 1) if at(r)["meets_slo"]]
        out["min_replicas"] = passing[0] if passing else None
    elif at(max_replicas)["meets_slo"]:
        low, high = 1, max_replicas                  # high always passes
        while low < high:
            middle = (low + high) // 2
            if at(middle)["meets_slo"]:
                high = middle
            else:
                low = middle + 1
        out["min_replicas"] = high
    if out["min_replicas"] is None:
        out["reason"] = f"misses the targets at {target_qps:g} req/s even with {max_replicas} replica(s)"
    out["points"] = [cache[r] for r in sorted(cache)]
    return out


def max_rate(doc: dict, base_dir: str | None, config: Config, replicas: int, target_qps: float,
             seeds: tuple[int, ...], requests: int | None, targets: Targets) -> float:
    """Highest rate (to within 10%) at which `replicas` of `config` still meet the targets (they do at target_qps)."""
    passing, failing = target_qps, None
    for _ in range(RATE_DOUBLINGS):
        rate = passing * 2
        if evaluate(doc, base_dir, config, replicas, rate, seeds, requests, targets)["meets_slo"]:
            passing = rate
        else:
            failing = rate
            break
    while failing is not None and failing / passing > RATE_TOLERANCE:
        rate = float(np.sqrt(passing * failing))
        if evaluate(doc, base_dir, config, replicas, rate, seeds, requests, targets)["meets_slo"]:
            passing = rate
        else:
            failing = rate
    return passing


def replica_search_runs(max_replicas: int, exhaustive: bool) -> int:
    """Most `evaluate` calls of `search_config`: R exhaustively, else R first and then ceil(log2 R) bisections."""
    if max_replicas < 1:
        return 0
    return max_replicas if exhaustive else 1 + (max_replicas - 1).bit_length()


def rate_search_runs() -> int:
    """Most `evaluate` calls of `max_rate`: every doubling, then geometric bisection of one factor of 2 down to
    RATE_TOLERANCE (b halvings of the log-ratio, 2 ** (1 / 2**b) <= RATE_TOLERANCE)."""
    bisections = max(0, math.ceil(math.log2(math.log(2) / math.log(RATE_TOLERANCE))))
    return RATE_DOUBLINGS + bisections


def max_simulations(num_configs: int, max_gpus: int, min_tp: int, seeds: int, capacity: bool,
                    exhaustive: bool = False) -> int:
    """Upper bound on the simulation runs of `plan(...)` (each evaluated point runs once per seed).

    Every configuration gets at most `replica_search_runs(max_gpus // min_tp)`; with `capacity`, each
    (feasible) one also gets `rate_search_runs()`.
    """
    if min(num_configs, max_gpus, min_tp, seeds) < 1:
        return 0
    per_config = replica_search_runs(max_gpus // min_tp, exhaustive) + (rate_search_runs() if capacity else 0)
    return num_configs * per_config * seeds


def pareto_front(points: list[dict]) -> list[dict]:
    """Points no other point beats on both cost per hour and p99 TTFT (stable points only)."""
    stable = sorted((p for p in points if p["stable"]), key=lambda p: (p["cost_per_hour_usd"], p["ttft_p99_s"]))
    front, best_ttft = [], float("inf")
    for p in stable:
        if p["ttft_p99_s"] < best_ttft:
            front.append(p)
            best_ttft = p["ttft_p99_s"]
    return front


def _check_point(point: dict) -> None:
    """A plan's point mapping must be a valid scenario (e.g. --requests within num_requests' bounds)."""
    from pydantic import ValidationError

    from simulator.catalog import validation_error_to_input_error
    from simulator.scenario import ScenarioSpec
    try:
        ScenarioSpec.model_validate(point)
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, None) from None


def plan(doc: dict, base_dir: Path | None, target_qps: float, targets: Targets, hardware: list[str],
         tensor_parallel: list[int], max_num_seqs: list[int], chunk_tokens: list[int], max_gpus: int = 64,
         seeds: int = 3, requests: int | None = None, exhaustive: bool = False, capacity: bool = True,
         workers: int | None = None, ray_address: str | None = None, progress=None) -> dict:
    if target_qps <= 0:
        raise InputError("must be > 0", field="target_qps", value=target_qps)
    if targets.ttft_p99_s is None and targets.tpot_p99_s is None:
        raise InputError("give --slo-ttft-p99 and/or --slo-tpot-p99 (or slo: in the scenario)", field="slo")
    if not 1 <= seeds <= 100:
        raise InputError("out of range", field="seeds", value=seeds, allowed="1..100")
    if max_gpus < 1:
        raise InputError("must be >= 1", field="max_gpus", value=max_gpus)
    for name, values, high in (("hardware", hardware, None), ("tensor_parallel", tensor_parallel, 1024),
                               ("max_num_seqs", max_num_seqs, 65536), ("chunk_tokens", chunk_tokens, 10_000_000)):
        if not values:
            raise InputError("needs at least one value", field=name)
        for value in values if high is not None else ():
            if not isinstance(value, int) or not 1 <= value <= high:
                raise InputError("out of range", field=name, value=value, allowed=f"1..{high}")
    arrival = doc.get("workload", {}).get("arrival", {})
    if "rate_per_s" not in arrival:
        raise InputError("planning needs a rate-based arrival process (poisson, gamma or constant)",
                         field="workload.arrival.process", value=arrival.get("process"))
    seed0 = int(doc.get("seed", 0))
    seed_list = tuple(seed0 + i for i in range(seeds))
    base = str(base_dir) if base_dir else None
    configs = [Config(h, t, s, c) for h, t, s, c in itertools.product(hardware, tensor_parallel, max_num_seqs,
                                                                      chunk_tokens)]
    _check_point(point_doc(doc, configs[0], 1, target_qps, seed_list[-1], requests))
    tasks = [(doc, base, c, target_qps, seed_list, requests, targets, max_gpus // c.tensor_parallel, exhaustive)
             for c in configs]
    searches = run_tasks(search_config, tasks, workers=workers, ray_address=ray_address, progress=progress)
    feasible = [s for s in searches if s["min_replicas"] is not None]
    if capacity and feasible:
        rate_tasks = [(doc, base, Config(**s["config"]), s["min_replicas"], target_qps, seed_list, requests, targets)
                      for s in feasible]
        rates = run_tasks(max_rate, rate_tasks, workers=workers, ray_address=ray_address, progress=progress)
        for s, rate in zip(feasible, rates):
            s["max_rate_per_s"] = rate
    rows = []
    for s in searches:
        chosen = next((p for p in s["points"] if p["replicas"] == s["min_replicas"]), None)
        rows.append({**s["config"], "min_replicas": s["min_replicas"], "reason": s["reason"],
                     **({k: chosen[k] for k in ("num_gpus", "cost_per_hour_usd", "ttft_p99_s", "ttft_p99_spread_s",
                                                "tpot_p99_s", "tpot_p99_spread_s")} if chosen else {}),
                     "max_rate_per_s": s.get("max_rate_per_s")})
    ranked = sorted((r for r in rows if r["min_replicas"] is not None),
                    key=lambda r: (r["cost_per_hour_usd"], r["ttft_p99_s"], r["hardware"], r["tensor_parallel"]))
    best = ranked[0] if ranked else None
    if best is not None:
        best = {**best, "cost_per_query_usd": best["cost_per_hour_usd"] / 3600.0 / target_qps}
    every_point = [{**s["config"], **p} for s in searches for p in s["points"]]
    return {"target_qps": target_qps, "targets": asdict(targets), "seeds": list(seed_list),
            "exhaustive": exhaustive, "best": best, "configurations": rows, "pareto_front": pareto_front(every_point),
            "points": every_point, "num_simulations": len(every_point) * len(seed_list)}
