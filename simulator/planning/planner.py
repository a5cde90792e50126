"""Capacity planning: the cheapest configuration that meets latency targets at a target rate.

Grid: hardware x tensor parallel x engine knobs (max_num_seqs, chunk size), each with 1..R
replicas (R = max_gpus / tp). Every configuration is sized for the design rate, (1 + headroom) x
the target rate (default headroom in `catalog/engine_defaults.yaml`, section `capacity`). A
configuration's p99 latencies fall as replicas are added, so the fewest replicas meeting the
targets is found by binary search (checked at R first: if R fails, the configuration cannot meet
the targets and the reason says why, e.g. the p99 prompt's prefill alone exceeds the TTFT target);
`exhaustive=True` tries every count and reports the fewest above which every count passes. For
every feasible configuration at its fewest replicas, the highest rate it sustains (capacity, one
definition with `compare`: `simulator.planning.capacity`) is found by bracketing and geometric bisection.

Runs: each point is run once per seed with `RunPolicy.requests_at` requests (at least the
scenario's count or `requests`, and at least `min_arrival_s` of arrivals), repeated longer when its
arrivals last under `e2e_multiple` x its p99 e2e; percentiles skip the warm-up (`steady_records`).
A point meets the targets when every seed's run is stable, rejects and leaves nothing, and the mean
steady p99s are within the targets. Prices: each hardware's own (catalog or profile), a template's
`price_per_gpu_hour_usd` only for the template's hardware, a `prices` map over both; `prices_used`
says which. The Pareto front (cost per hour vs p99 TTFT) is over points that meet the targets; the
best is its cheapest point. Configuration searches are tasks for `simulator.planning.executor`.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from simulator.planning.capacity import RunPolicy, RunVerdict, bisections_for, default_policy, describe, p99, \
    search_max_factor, steady_records
from simulator.errors import InputError
from simulator.planning.executor import run_tasks
from simulator.planning.options import PlanOptions, Targets, plan_options
from simulator.planning.plan_results import best_of, pareto_front, prices_used, row_of, run_length_text, \
    unreachable_reason
from simulator.results.plan_types import PlanPoint, PlanResult, PlanTargets
from simulator.specs.edit import REMOVE, edit_many

RATE_TOLERANCE = 1.1
RATE_DOUBLINGS = 6        # max_rate tries the design rate x2, x4, ... x64 before bisecting
MAX_RATE_FACTOR = 2 ** RATE_DOUBLINGS   # the highest rate any run of plan(capacity=True) uses, x design rate
MAX_RUN_REQUESTS = 2_000_000   # default bound on one run's requests (the service's max_requests_per_job default;
                               # ASSUMPTION: a run of this size fits in a few GB); capacity probes stay below it


@dataclass(frozen=True, slots=True)
class Config:
    hardware: str
    tensor_parallel: int
    max_num_seqs: int
    max_num_batched_tokens: int

    def as_fields(self) -> dict:
        """The knobs as the fields of `PlanConfig` (every point and row of the plan starts with them)."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RunSetup:
    """How every point of one plan is run (picklable: it travels with each task)."""
    seeds: tuple[int, ...]
    base_requests: int
    policy: RunPolicy
    prices: tuple[tuple[str, float], ...] = ()
    max_run_requests: int = MAX_RUN_REQUESTS     # capacity probes stop below rates whose runs would pass this
    base_arrival_s: float = 0.0                  # the scenario's horizon_s: a run lasts at least that long

    def requests_at(self, rate: float) -> int:
        return self.policy.requests_at(self.base_requests, rate, base_arrival_s=self.base_arrival_s)


def point_doc(doc: dict, config: Config, replicas: int, rate: float, seed: int, requests: int | None,
              prices: tuple[tuple[str, float], ...] = ()) -> dict:
    """The serving scenario of one point: the template on `config`, priced for its own hardware
    (`doc` is not changed: `simulator.specs.edit` copies what it sets)."""
    template = dict(doc["deployments"][0])
    if config.hardware.lower() != str(template.get("hardware", "")).lower():
        template.pop("price_per_gpu_hour_usd", None)          # the template's price is its own hardware's
    price = {name.lower(): value for name, value in prices}.get(config.hardware.lower())
    if price is not None:
        template["price_per_gpu_hour_usd"] = price
    engine = {**(template.get("engine") or {}), "max_num_seqs": config.max_num_seqs,
              "max_num_batched_tokens": config.max_num_batched_tokens}
    template.update(name=f"{config.hardware}-tp{config.tensor_parallel}-x{replicas}", hardware=config.hardware,
                    tensor_parallel=config.tensor_parallel, replicas=replicas, engine=engine)
    template.setdefault("router", "least_outstanding_tokens")
    changes = {"deployments": [template], "seed": seed, "workload.arrival.rate_per_s": rate}
    if requests is not None:
        changes.update({"workload.num_requests": requests, "workload.horizon_s": REMOVE})
    return edit_many(doc, changes)


def _run(doc: dict, base_dir: str | None, config: Config, replicas: int, rate: float, seed: int, requests: int,
         setup: RunSetup):
    from simulator.results.runner import run
    from simulator.specs.scenario import ScenarioSpec
    spec = ScenarioSpec.model_validate(point_doc(doc, config, replicas, rate, seed, requests, setup.prices))
    return run(spec, base_dir=Path(base_dir) if base_dir else None).deployments[0]


def _steady(result, policy: RunPolicy) -> tuple[float, float, float | None]:
    """Steady-state p99 TTFT (inf when none completed), p99 TPOT (0 when none) and p99 e2e."""
    records = steady_records(result.records, policy.warmup_fraction)
    done = records[records["status"] == "completed"]
    ttft, tpot = p99(done["ttft_s"]), p99(done["tpot_s"])
    return (np.inf if ttft is None else ttft), (0.0 if tpot is None else tpot), p99(done["e2e_s"])


def evaluate(doc: dict, base_dir: str | None, config: Config, replicas: int, rate: float, setup: RunSetup,
             targets: Targets) -> PlanPoint:
    """One configuration at one replica count and rate, over every seed (steady-state p99s)."""
    requests = setup.requests_at(rate)
    first = _run(doc, base_dir, config, replicas, rate, setup.seeds[0], requests, setup)
    longer = setup.policy.extended_requests(requests, requests / rate, _steady(first, setup.policy)[2])
    runs = len(setup.seeds)
    if longer is not None and min(longer, setup.max_run_requests) > requests:
        requests = min(longer, setup.max_run_requests)
        first = _run(doc, base_dir, config, replicas, rate, setup.seeds[0], requests, setup)
        runs += 1
    results = [first] + [_run(doc, base_dir, config, replicas, rate, seed, requests, setup)
                         for seed in setup.seeds[1:]]
    steady = np.array([_steady(r, setup.policy)[:2] for r in results])
    ttft, tpot = steady[:, 0], steady[:, 1]
    verdict = RunVerdict(stable=all(r.summary.stable for r in results),
                         clean=not any(r.summary.num_rejected or r.summary.num_unfinished for r in results),
                         ttft_p99_s=float(ttft.mean()), tpot_p99_s=float(tpot.mean()))
    clean = verdict.stable and verdict.clean
    meets = targets.criterion().passes(verdict)
    resolved = results[0].resolved
    return PlanPoint(**config.as_fields(), replicas=replicas, rate_per_s=rate, num_requests=requests, num_runs=runs,
                     num_gpus=resolved.num_gpus, price_per_gpu_hour_usd=resolved.price_usd_per_gpu_hour,
                     cost_per_hour_usd=resolved.num_gpus * resolved.price_usd_per_gpu_hour,
                     ttft_p99_s=_finite(ttft.mean()),
                     ttft_p99_spread_s=_finite(ttft.max() - ttft.min()) if np.isfinite(ttft).all() else None,
                     tpot_p99_s=float(tpot.mean()), tpot_p99_spread_s=float(tpot.max() - tpot.min()),
                     stable=clean, meets_slo=bool(meets))


def _finite(value: float) -> float | None:
    """A seed that completed no request has no TTFT: None, never +inf or NaN (JSON carries neither)."""
    return float(value) if np.isfinite(value) else None


def fewest_replicas(at, max_replicas: int, exhaustive: bool) -> int | None:
    """Fewest replicas meeting the targets, never fewer than a larger count that fails."""
    if exhaustive:
        verdicts = [at(r).meets_slo for r in range(1, max_replicas + 1)]
        failing = [r for r, ok in enumerate(verdicts, start=1) if not ok]
        fewest = (failing[-1] + 1) if failing else 1
        return fewest if fewest <= max_replicas else None
    if not at(max_replicas).meets_slo:
        return None
    low, high = 1, max_replicas                  # high always passes; every failing count tried is below it
    while low < high:
        middle = (low + high) // 2
        if at(middle).meets_slo:
            high = middle
        else:
            low = middle + 1
    return high


@dataclass(frozen=True, slots=True)
class ConfigSearch:
    """One configuration's search (a task's result): its fewest replicas meeting the targets (None: none
    does, `reason` says why), the points it tried, its price, and with capacity search its highest rate."""
    config: Config
    min_replicas: int | None
    reason: str
    points: tuple[PlanPoint, ...] = ()
    price_per_gpu_hour_usd: float | None = None      # None when the configuration does not fit
    max_rate_per_s: float | None = None
    capacity_runs: int = 0


def search_config(doc: dict, base_dir: str | None, config: Config, design_qps: float, setup: RunSetup,
                  targets: Targets, max_replicas: int, exhaustive: bool) -> ConfigSearch:
    """Fewest replicas of `config` meeting the targets at `design_qps` (a task: module level, picklable)."""
    from simulator.specs.deployment import resolve_deployment
    try:
        spec = _check_point(point_doc(doc, config, 1, design_qps, setup.seeds[0], setup.requests_at(design_qps),
                                      setup.prices))
        resolved = resolve_deployment(spec.deployments[0], "deployment", Path(base_dir) if base_dir else None)
    except InputError as exc:
        return ConfigSearch(config, None, f"does not fit: {exc}")
    price = resolved.price_usd_per_gpu_hour
    if max_replicas < 1:
        return ConfigSearch(config, None, "tensor parallel degree exceeds --max-gpus", price_per_gpu_hour_usd=price)
    cache: dict[int, PlanPoint] = {}   # replicas -> the point at that count

    def at(replicas: int) -> PlanPoint:
        if replicas not in cache:
            cache[replicas] = evaluate(doc, base_dir, config, replicas, design_qps, setup, targets)
        return cache[replicas]

    fewest = fewest_replicas(at, max_replicas, exhaustive)
    reason = "" if fewest is not None else unreachable_reason(doc, base_dir, config, resolved, cache[max_replicas],
                                                              targets, design_qps, max_replicas)
    return ConfigSearch(config, fewest, reason, tuple(cache[r] for r in sorted(cache)), price)


def max_rate(doc: dict, base_dir: str | None, config: Config, replicas: int, design_qps: float, setup: RunSetup,
             targets: Targets) -> tuple[float, int]:
    """Highest rate (to within 10%) at which `replicas` of `config` still meet the targets (they do at
    design_qps), and the simulation runs the search took."""
    runs = [0]

    def passes(factor: float) -> bool:     # a rate whose runs pass the request bound is not tried
        rate = design_qps * factor
        if setup.requests_at(rate) > setup.max_run_requests:
            return False
        point = evaluate(doc, base_dir, config, replicas, rate, setup, targets)
        runs[0] += point.num_runs
        return point.meets_slo

    factor = search_max_factor(passes, True, RATE_DOUBLINGS, bisections_for(RATE_TOLERANCE), down=False)
    return design_qps * factor, runs[0]


def replica_search_runs(max_replicas: int, exhaustive: bool) -> int:
    """Most `evaluate` calls of `search_config`: R exhaustively, else R first and then ceil(log2 R) bisections."""
    if max_replicas < 1:
        return 0
    return max_replicas if exhaustive else 1 + (max_replicas - 1).bit_length()


def rate_search_runs() -> int:
    """Most `evaluate` calls of `max_rate`: every doubling, then geometric bisection of one factor of 2 down to
    RATE_TOLERANCE (b halvings of the log-ratio, 2 ** (1 / 2**b) <= RATE_TOLERANCE)."""
    return RATE_DOUBLINGS + bisections_for(RATE_TOLERANCE)


def max_simulations(num_configs: int, max_gpus: int, min_tp: int, seeds: int, capacity: bool,
                    exhaustive: bool = False) -> int:
    """Upper bound on the simulation runs of `plan(...)` (each evaluated point runs once per seed, and its
    first seed once more when the run is extended).

    Every configuration gets at most `replica_search_runs(max_gpus // min_tp)`; with `capacity`, each
    (feasible) one also gets `rate_search_runs()`.
    """
    if min(num_configs, max_gpus, min_tp, seeds) < 1:
        return 0
    per_config = replica_search_runs(max_gpus // min_tp, exhaustive) + (rate_search_runs() if capacity else 0)
    return num_configs * per_config * (seeds + 1)


def design_rate(target_qps: float, headroom: float | None, policy: RunPolicy | None = None) -> float:
    """The rate configurations are sized for: (1 + headroom) x target (headroom None: the policy's)."""
    policy = policy or default_policy()
    return target_qps * (1 + (policy.headroom if headroom is None else headroom))


def max_requests_per_run(doc: dict, target_qps: float, requests: int | None, headroom: float | None = None,
                         min_arrival_s: float | None = None) -> int:
    """The most requests a run at the design rate offers, extended (capacity probes stay under
    `max_run_requests` by themselves)."""
    setup = run_setup(doc, (0,), requests, None, min_arrival_s)
    return setup.requests_at(design_rate(target_qps, headroom, setup.policy)) * setup.policy.max_extension


def run_setup(doc: dict, seeds: tuple[int, ...], requests: int | None, prices: dict[str, float] | None,
              min_arrival_s: float | None, max_run_requests: int | None = None) -> RunSetup:
    workload = doc.get("workload", {})
    if requests is None:
        requests = workload.get("num_requests")
    horizon = workload.get("horizon_s") if requests is None else None   # a count given wins over the horizon
    policy = default_policy().with_overrides(min_arrival_s=min_arrival_s)
    return RunSetup(seeds, int(requests or 1), policy, tuple(sorted((prices or {}).items())),
                    max_run_requests or MAX_RUN_REQUESTS, float(horizon or 0.0))


def _check_point(point: dict):
    """A plan's point mapping as a validated scenario (e.g. --requests within num_requests' bounds)."""
    from pydantic import ValidationError

    from simulator.catalog import validation_error_to_input_error
    from simulator.specs.scenario import ScenarioSpec
    try:
        return ScenarioSpec.model_validate(point)
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, None) from None


def plan(doc: dict, base_dir: Path | None, target_qps: float, targets: Targets, hardware: list[str],
         tensor_parallel: list[int], max_num_seqs: list[int], chunk_tokens: list[int], max_gpus: int = 64,
         seeds: int = 3, requests: int | None = None, exhaustive: bool = False, capacity: bool = True,
         workers: int | None = None, ray_address: str | None = None, progress=None,
         prices: dict[str, float] | None = None, headroom: float | None = None,
         min_arrival_s: float | None = None, max_run_requests: int | None = None) -> dict:
    """`plan_result` with every option spelled out, as the JSON mapping `ctxplan plan --format json` prints
    (the targets are exactly `targets`: None is no target, not the scenario's)."""
    options = plan_options(target_qps=target_qps, hardware=hardware, tensor_parallel=tensor_parallel,
                           max_num_seqs=max_num_seqs, chunk_tokens=chunk_tokens, max_gpus=max_gpus, seeds=seeds,
                           requests=requests, capacity=capacity, prices=prices, headroom=headroom,
                           min_arrival_s=min_arrival_s)
    return plan_result(doc, base_dir, options, targets=targets, exhaustive=exhaustive, workers=workers,
                       ray_address=ray_address, progress=progress, max_run_requests=max_run_requests).to_json_dict()


def plan_result(doc: dict, base_dir: Path | None, options: PlanOptions, *, targets: Targets | None = None,
                exhaustive: bool = False, workers: int | None = None, ray_address: str | None = None, progress=None,
                max_run_requests: int | None = None) -> PlanResult:
    """The plan of `options` on the serving scenario `doc` (its first deployment is the template). `targets`
    overrides the options' and the scenario's p99 targets; `exhaustive` tries every replica count (the
    reference for the binary search); `max_run_requests` bounds one run (the service's per-job limit)."""
    arrival = doc.get("workload", {}).get("arrival", {})
    if "rate_per_s" not in arrival:
        raise InputError("planning needs a rate-based arrival process (poisson, gamma or constant)",
                         field="workload.arrival.process", value=arrival.get("process"))
    template_spec = _check_point(doc)
    targets = targets or options.targets(template_spec.slo)
    if targets.ttft_p99_s is None and targets.tpot_p99_s is None:
        raise InputError("give --slo-ttft-p99 and/or --slo-tpot-p99 (or slo: in the scenario)", field="slo")
    grid = options.grid(template_spec.deployments[0])
    target_qps = options.target_qps
    seed0 = int(doc.get("seed", 0))
    setup = run_setup(doc, tuple(seed0 + i for i in range(options.seeds)), options.requests, options.prices,
                      options.min_arrival_s, max_run_requests)
    headroom = setup.policy.headroom if options.headroom is None else options.headroom
    design_qps = design_rate(target_qps, headroom)
    base = str(base_dir) if base_dir else None
    configs = [Config(h, t, s, c) for h, t, s, c in itertools.product(grid.hardware, grid.tensor_parallel,
                                                                      grid.max_num_seqs, grid.chunk_tokens)]
    _check_point(point_doc(doc, configs[0], 1, design_qps, setup.seeds[-1], setup.requests_at(design_qps)))
    template = doc["deployments"][0]
    per_tp = int(template.get("context_parallel", 1)) * int(template.get("pipeline_parallel", 1))
    tasks = [(doc, base, c, design_qps, setup, targets, options.max_gpus // (c.tensor_parallel * per_tp), exhaustive)
             for c in configs]
    searches = run_tasks(search_config, tasks, workers=workers, ray_address=ray_address, progress=progress)
    feasible = [i for i, s in enumerate(searches) if s.min_replicas is not None]
    if options.capacity and feasible:
        rate_tasks = [(doc, base, searches[i].config, searches[i].min_replicas, design_qps, setup, targets)
                      for i in feasible]
        rates = run_tasks(max_rate, rate_tasks, workers=workers, ray_address=ray_address, progress=progress)
        for i, (rate, runs) in zip(feasible, rates):
            searches[i] = dataclasses.replace(searches[i], max_rate_per_s=rate, capacity_runs=runs)
    rows = [row_of(s) for s in searches]
    every_point = [p for s in searches for p in s.points]
    front = pareto_front([p for s in searches if s.min_replicas is not None
                          for p in s.points if p.replicas >= s.min_replicas])   # below it a larger count failed
    from simulator.planning.emit import emit_for
    best = best_of(rows, front, target_qps, lambda row: emit_for(doc, base_dir, Config(
        row.hardware, row.tensor_parallel, row.max_num_seqs, row.max_num_batched_tokens), row.min_replicas))
    return PlanResult(
        target_qps=target_qps, headroom=headroom, design_qps=design_qps, targets=PlanTargets(**asdict(targets)),
        seeds=list(setup.seeds), exhaustive=exhaustive, best=best, configurations=rows, pareto_front=front,
        points=every_point,
        num_simulations=sum(p.num_runs for p in every_point) + sum(s.capacity_runs for s in searches),
        prices_used=prices_used(searches, doc, dict(setup.prices)),
        capacity_definition=describe(targets.criterion().text(over="over the seeds"), run_length_text(setup), len(setup.seeds))
        + f"; percentiles skip the first {setup.policy.warmup_fraction:.0%} of arrivals; rates whose runs could "
          f"exceed {setup.max_run_requests:,} requests are not tried",
        cost_metric="GPU cost per hour of the replicas (price per GPU-hour x GPUs); $ per query at the target rate")
