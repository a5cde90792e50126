"""Side-by-side comparison with capacity search and winners, for comparison and serving scenarios.

`max_sustainable_qps` is the highest arrival rate at which a deployment stays stable and meets
its SLO for `target_attainment` of queries, found by search on shorter runs of the same workload:
double (or halve) the scenario's rate until the verdict flips, then bisect.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from simulator.comparisons.deployment_run import run_comparison_deployment
from simulator.comparisons.rows import Answered, comparison_row
from simulator.results.types import ComparisonResult, ComparisonRow, ServingComparisonRow
from simulator.planning.capacity import PassCriterion, RunPolicy, RunVerdict, default_policy, describe, search_max_factor
from simulator.specs.comparison import ComparisonSpec
from simulator.specs.edit import edit_many
from simulator.results.runner import run as run_serving
from simulator.specs.scenario import ScenarioSpec, TraceArrivals

PROBE_CAP = 1000            # most queries (sessions) of one capacity probe beyond the scenario's own count,
                            # so a search stays within seconds (ASSUMPTION; the count used is reported)
SEARCH_STEPS = 3            # bisection steps after bracketing (a factor-2 bracket -> within 9%)
MAX_BRACKET_STEPS = 5
MAX_PROBES = MAX_BRACKET_STEPS + SEARCH_STEPS + 2   # runs beyond the main one: the base probe when not reused,
                                                    # bracketing, bisection (one extra step for a x4 bracket)
COST_METRIC = ("cost_per_query_usd", "all-in $ per answered query: every GPU (and retrieval node) for the whole "
                                     "run, idle time included, plus indexing and API charges")


Row = ComparisonRow | ServingComparisonRow


def _arrival_path(spec) -> tuple[str, object]:
    if isinstance(spec, ComparisonSpec):
        return ("queries", spec.queries) if spec.queries else ("conversations", spec.conversations)
    return "workload", spec.workload


def _with_rate(spec, factor: float, count: int):
    """The scenario at `factor` x its rate (a trace: its time scale) with `count` queries (sessions)."""
    key, block = _arrival_path(spec)
    field = "time_scale" if isinstance(block.arrival, TraceArrivals) else "rate_per_s"
    changes = {f"{key}.arrival.{field}": getattr(block.arrival, field) * factor,
               f"{key}.{'num_sessions' if key == 'conversations' else 'num_requests'}": count}
    if getattr(block, "horizon_s", None) is not None:
        changes[f"{key}.horizon_s"] = None
    return edit_many(spec, changes)


def base_rate(spec) -> float | None:
    arrival = _arrival_path(spec)[1].arrival
    return None if isinstance(arrival, TraceArrivals) else getattr(arrival, "rate_per_s", None)   # closed: none


def _run_one(spec, index: int, base_dir: Path | None) -> Row:
    if isinstance(spec, ComparisonSpec):
        return run_comparison_deployment(spec, index, base_dir)
    one = spec.model_copy(update={"deployments": [spec.deployments[index]]})
    result = run_serving(one, base_dir).deployments[0]
    m = result.summary
    counts = Answered(num_queries=m.num_requests, num_answered=m.num_completed, num_refused=m.num_rejected,
                      ttft_s=m.ttft_s, e2e_s=m.e2e_s, tpot_s=m.tpot_s, slo_attainment=m.slo_attainment)
    return comparison_row(
        name=result.name, kind="llm", model=result.resolved.model.name, hardware=result.resolved.hardware.name,
        hardware_provenance=result.resolved.hardware.provenance,
        answered=counts, num_gpus=result.resolved.num_gpus, num_retrieval_nodes=0, cost_usd=m.cost_usd,
        busy_cost_usd=m.gpu_busy_fraction * m.cost_usd, duration_s=m.duration_s, llm=m, expected_accuracy=None,
        accuracy_source=None, notes=list(result.resolved.notes))


def _criterion(spec) -> PassCriterion:
    """`compare`'s question: at least the scenario's `target_attainment` of queries meet every SLO."""
    return PassCriterion(min_attainment=getattr(spec.slo, "target_attainment", 0.95))


def _passes(row: Row, criterion: PassCriterion) -> bool:
    return criterion.passes(RunVerdict(stable=row.stable, slo_attainment=row.slo_attainment))


def base_count(spec) -> int:
    """Queries (sessions, requests) of the scenario's own run."""
    key, block = _arrival_path(spec)
    count = block.num_sessions if key == "conversations" else block.num_requests
    horizon = getattr(block, "horizon_s", None)
    if horizon is None:
        return count
    from simulator.workloads.generate import arrivals_to_draw      # both set: the smaller, as the run and its bound
    by_time = arrivals_to_draw(block.arrival, horizon)
    return by_time if count is None else min(count, by_time)


def probe_count(spec, factor: float, policy: RunPolicy | None = None) -> int:
    """Queries of the capacity probe at `factor` x the scenario's rate (`simulator.planning.capacity.RunPolicy`)."""
    policy = policy or default_policy()
    base = base_count(spec)
    return policy.requests_at(base, base_rate(spec) * factor, cap=max(base, PROBE_CAP))


def max_sustainable_qps(spec, index: int, base_dir: Path | None = None, base_result: Row | None = None,
                        progress: Callable[[float, str], None] | None = None) -> tuple[float | None, int | None]:
    """Highest passing rate and the probe length it was found with (`simulator.planning.capacity`): the
    scenario's own run is the first probe when it has the probe's length; probes are deterministic
    (same seed), so re-running the scenario at the returned rate with that count gives the same verdict.
    Probe lengths follow `RunPolicy.requests_at` (the minimum arrival time, capped at PROBE_CAP beyond
    the scenario's count); unlike `plan`, probes are not repeated longer on a long p99 e2e."""
    rate = base_rate(spec)
    if rate is None:
        return None, None
    criterion, policy = _criterion(spec), default_policy()
    lengths: dict[float, int] = {}

    def ok(factor: float) -> bool:
        count = probe_count(spec, factor, policy)
        if progress:
            progress(len(lengths) / MAX_PROBES, f"{spec.deployments[index].name}: capacity probe at "
                                                f"{rate * factor:.3g} q/s, {count} queries")
        probe = _run_one(_with_rate(spec, factor, count), index, base_dir)
        lengths[factor] = count
        return _passes(probe, criterion)

    reuse = base_result is not None and probe_count(spec, 1.0, policy) == base_count(spec) and \
        getattr(_arrival_path(spec)[1], "horizon_s", None) is None
    if reuse:
        lengths[1.0] = base_count(spec)
    start = _passes(base_result, criterion) if reuse else ok(1.0)
    factor = search_max_factor(ok, start, MAX_BRACKET_STEPS, SEARCH_STEPS)
    return factor * rate, lengths.get(factor)


def capacity_definition(spec) -> str:
    policy = default_policy()
    requests = (f"max({base_count(spec):,} queries, rate x {policy.min_arrival_s:g} s of arrivals up to {PROBE_CAP:,}) "
                f"(the count used is capacity_num_queries)")
    return describe(_criterion(spec).text(), requests, 1)


def deployment_row(spec, index: int, base_dir: Path | None, search_capacity: bool,
                   progress: Callable[[float, str], None] | None = None) -> Row:
    """One deployment's row and, with `search_capacity`, its capacity (a task: module level, picklable)."""
    row = _run_one(spec, index, base_dir)
    if not search_capacity:
        return row
    rate, count = max_sustainable_qps(spec, index, base_dir, row, progress)
    return row.model_copy(update={"max_sustainable_qps": rate, "capacity_num_queries": count})


def compare(spec: ComparisonSpec | ScenarioSpec, base_dir: Path | None = None, search_capacity: bool = True,
            progress: Callable[[float, str], None] | None = None, workers: int = 1) -> ComparisonResult:
    """Every deployment's row, its capacity (with `search_capacity`) and the winners. `progress(fraction, message)`
    hears of each deployment and, with one worker, of each capacity probe (fraction of the whole, 0..1).
    With `workers` > 1 the deployments run in parallel processes (`simulator.planning.executor`); results are the same."""
    count = len(spec.deployments)
    if workers > 1 and count > 1:
        from simulator.planning.executor import run_tasks
        rows = run_tasks(deployment_row, [(spec, i, base_dir, search_capacity) for i in range(count)],
                         workers=workers, progress=None if progress is None else
                         (lambda done, total: progress(done / total, f"{done} of {total} deployments done")))
    else:
        rows = []
        for index, deployment in enumerate(spec.deployments):
            report = None if progress is None else \
                (lambda part, message, index=index: progress(min(1.0, (index + part * 0.9 + 0.1) / count), message))
            if progress:
                progress(index / count, f"simulating {deployment.name}")
            rows.append(deployment_row(spec, index, base_dir, search_capacity, report))
    target = _criterion(spec).min_attainment
    meeting = [r for r in rows if (r.slo_attainment or 0) >= target and r.cost_per_query_usd is not None]
    if meeting:
        winner_cost = min(meeting, key=lambda r: r.cost_per_query_usd).name
        note = f"cheapest all-in $ per answered query among deployments meeting the SLO for {target:.0%} of queries"
    else:
        winner_cost = None
        note = f"no deployment meets the SLO for {target:.0%} of queries"
    rated = [r for r in rows if r.expected_accuracy is not None]
    winner_quality = max(rated, key=lambda r: r.expected_accuracy).name if rated else None
    definition = capacity_definition(spec) if search_capacity and base_rate(spec) is not None else None
    return ComparisonResult(scenario=spec.name, seed=spec.seed, deployments=rows, winner_on_cost=winner_cost,
                            winner_on_quality=winner_quality, cost_note=note, capacity_definition=definition,
                            cost_metric=COST_METRIC[1])
