"""Side-by-side comparison with capacity search and winners, for comparison and serving scenarios.

`max_sustainable_qps` is the highest arrival rate at which a deployment stays stable and meets
its SLO for `target_attainment` of queries, found by search on shorter runs of the same workload:
double (or halve) the scenario's rate until the verdict flips, then bisect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from simulator.comparison import run_comparison_deployment
from simulator.comparison_spec import ComparisonSpec
from simulator.runner import run as run_serving
from simulator.scenario import ScenarioSpec, TraceArrivals

PROBE_SECONDS = 120         # each capacity probe offers about two minutes of arrivals,
PROBE_QUERIES = (200, 1000)  # clamped to this many queries (short runs hide slowly growing queues)
SEARCH_STEPS = 3            # bisection steps after bracketing (a factor-2 bracket -> within 9%)
MAX_BRACKET_STEPS = 5
MAX_PROBES = MAX_BRACKET_STEPS + SEARCH_STEPS + 2   # runs beyond the main one: the base probe when not reused,
                                                    # bracketing, bisection (one extra step for a x4 bracket)


@dataclass(slots=True)
class Comparison:
    scenario: str
    seed: int
    deployments: list[dict]
    winner_on_cost: str | None
    winner_on_quality: str | None
    cost_note: str

    def to_json_dict(self) -> dict:
        return {"scenario": self.scenario, "seed": self.seed, "deployments": self.deployments,
                "winner_on_cost": self.winner_on_cost, "winner_on_quality": self.winner_on_quality,
                "cost_note": self.cost_note}


def _arrival_path(spec) -> tuple[str, object]:
    if isinstance(spec, ComparisonSpec):
        return ("queries", spec.queries) if spec.queries else ("conversations", spec.conversations)
    return "workload", spec.workload


def _with_rate(spec, factor: float, count: int):
    key, block = _arrival_path(spec)
    arrival = block.arrival
    if isinstance(arrival, TraceArrivals):
        arrival = arrival.model_copy(update={"time_scale": arrival.time_scale * factor})
    else:
        arrival = arrival.model_copy(update={"rate_per_s": arrival.rate_per_s * factor})
    counter = "num_sessions" if key == "conversations" else "num_requests"
    update = {"arrival": arrival, counter: count}
    if getattr(block, "horizon_s", None) is not None:
        update["horizon_s"] = None
    return spec.model_copy(update={key: block.model_copy(update=update)})


def base_rate(spec) -> float | None:
    arrival = _arrival_path(spec)[1].arrival
    return None if isinstance(arrival, TraceArrivals) else arrival.rate_per_s


def _run_one(spec, index: int, base_dir: Path | None) -> dict:
    if isinstance(spec, ComparisonSpec):
        return run_comparison_deployment(spec, index, base_dir)
    one = spec.model_copy(update={"deployments": [spec.deployments[index]]})
    result = run_serving(one, base_dir).deployments[0]
    m = result.metrics
    return {"name": result.name, "kind": "llm", "model": result.resolved.model.name,
            "hardware": result.resolved.hardware.name, "num_queries": m["num_requests"],
            "num_answered": m["num_completed"], "num_refused": m["num_rejected"], "num_gpus": result.resolved.num_gpus,
            "num_retrieval_nodes": 0, "cost_usd": m["cost_usd"], "cost_per_query_usd": m["cost_per_query_usd"],
            "busy_cost_per_query_usd": (m["gpu_busy_fraction"] * m["cost_usd"] / m["num_completed"]
                                        if m["num_completed"] else None),
            "cost_per_month_usd": m["cost_usd"] / m["duration_s"] * 2_628_000 if m["duration_s"] else 0.0,
            "ttft_s": m["ttft_s"], "e2e_s": m["e2e_s"], "tpot_s": m["tpot_s"], "slo_attainment": m["slo_attainment"],
            "stable": m["stable"], "kv_cache_peak_utilization": m["kv_cache_peak_utilization"],
            "prefix_cache_hit_rate": m["prefix_cache_hit_rate"], "num_preemptions": m["num_preemptions"],
            "expected_accuracy": None, "accuracy_source": None, "cost_per_correct_answer_usd": None,
            "duration_s": m["duration_s"], "notes": list(result.resolved.notes)}


def _target(spec) -> float:
    return getattr(spec.slo, "target_attainment", 0.95)


def _passes(summary: dict, target: float) -> bool:
    return bool(summary["stable"]) and (summary["slo_attainment"] or 0.0) >= target


def max_sustainable_qps(spec, index: int, base_dir: Path | None = None, base_result: dict | None = None) -> float | None:
    """Highest passing rate: the scenario's own run is the first probe; then x2 up (or /4 down) to bracket,
    then geometric bisection. Probes are deterministic (same seed), so the answer is too."""
    rate = base_rate(spec)
    if rate is None:
        return None
    target = _target(spec)

    def ok(factor: float) -> bool:
        count = int(min(PROBE_QUERIES[1], max(PROBE_QUERIES[0], rate * factor * PROBE_SECONDS)))
        return _passes(_run_one(_with_rate(spec, factor, count), index, base_dir), target)

    passed = _passes(base_result, target) if base_result is not None else ok(1.0)
    low, high = (1.0, None) if passed else (None, 1.0)
    for _ in range(MAX_BRACKET_STEPS):
        if low is not None and high is not None:
            break
        if high is None:
            candidate = low * 2
            low, high = (candidate, None) if ok(candidate) else (low, candidate)
        else:
            candidate = high / 4
            low, high = (candidate, high) if ok(candidate) else (None, candidate)
    if low is None:
        return 0.0
    if high is None:
        return low * rate
    for _ in range(SEARCH_STEPS + (1 if high / low > 2 else 0)):
        middle = (low * high) ** 0.5
        low, high = (middle, high) if ok(middle) else (low, middle)
    return low * rate


def compare(spec: ComparisonSpec | ScenarioSpec, base_dir: Path | None = None, search_capacity: bool = True,
            progress: Callable[[str], None] | None = None) -> Comparison:
    rows = []
    for index, deployment in enumerate(spec.deployments):
        if progress:
            progress(deployment.name)
        row = _run_one(spec, index, base_dir)
        row["max_sustainable_qps"] = max_sustainable_qps(spec, index, base_dir, row) if search_capacity else None
        rows.append(row)
    target = _target(spec)
    meeting = [r for r in rows if (r["slo_attainment"] or 0) >= target and r["cost_per_query_usd"] is not None]
    if meeting:
        winner_cost = min(meeting, key=lambda r: r["cost_per_query_usd"])["name"]
        note = f"cheapest per query among deployments meeting the SLO for {target:.0%} of queries"
    else:
        winner_cost = None
        note = f"no deployment meets the SLO for {target:.0%} of queries"
    rated = [r for r in rows if r["expected_accuracy"] is not None]
    winner_quality = max(rated, key=lambda r: r["expected_accuracy"])["name"] if rated else None
    return Comparison(spec.name, spec.seed, rows, winner_cost, winner_quality, note)
