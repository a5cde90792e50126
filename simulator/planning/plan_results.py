"""What a plan reports, apart from how it searches (`simulator.planning.planner`): the Pareto front, each
configuration's row, the best and why, the prices used, why a configuration cannot meet its targets,
and the capacity definition's wording."""

from __future__ import annotations

import numpy as np

from simulator.results.plan_types import (BestConfiguration, FeasibleConfiguration, InfeasibleConfiguration, PlanPoint,
                                          PriceUsed)

SIGNIFICANT_FLOOR = 0.5   # a latency floor above this share of its target is named beside the figures (ASSUMPTION)
NEAR_FLOOR = 0.8          # a latency floor above this share of its target leaves no room for queueing (ASSUMPTION)


def unreachable_reason(doc: dict, base_dir: str | None, config, resolved, point: PlanPoint, targets,
                       design_qps: float, max_replicas: int) -> str:
    """Why `config` misses the targets even at `max_replicas`, in one line: a latency floor no number of
    replicas lowers (the p99 prompt's prefill, one decode step), else the figures at that count."""
    from simulator.costs import costmodel
    from simulator.results.estimate import prefill_time_s
    from simulator.specs.scenario import ScenarioSpec
    from simulator.workloads.generate import sample_lengths
    where = f"{config.hardware} tp{config.tensor_parallel}"
    workload = ScenarioSpec.model_validate(doc).workload
    prompt = 1
    if workload.prompt_tokens is not None:
        prompts = sample_lengths(workload.prompt_tokens, np.random.default_rng(0), 2000, None, "prompt_tokens")
        prompt = int(np.percentile(prompts, 99))
    cost = resolved.setup.cost
    floor = None
    if targets.ttft_p99_s is not None:
        floor = prefill_time_s(cost, prompt, config.max_num_batched_tokens)
        if floor >= NEAR_FLOOR * targets.ttft_p99_s:
            return (f"the p99 prompt ({prompt:,} tokens)'s prefill alone takes {floor:.3g} s on {where}; "
                    f"TTFT target {targets.ttft_p99_s:g} s leaves no room for queueing")
    if targets.tpot_p99_s is not None:
        step = costmodel.iteration_time_s(cost, [], 1, costmodel.decode_attended_tokens(cost, prompt), 1)
        if step >= NEAR_FLOOR * targets.tpot_p99_s:
            return (f"one decode step of the p99 prompt alone takes {step * 1e3:.3g} ms on {where}; TPOT target "
                    f"{targets.tpot_p99_s * 1e3:g} ms leaves no room for batching")
    figures = [f"p99 TTFT {point.ttft_p99_s:.3g} s" if point.ttft_p99_s is not None else "no request done",
               f"p99 TPOT {point.tpot_p99_s * 1e3:.3g} ms", "stable" if point.stable else "queue not stable"]
    if floor is not None and floor >= SIGNIFICANT_FLOOR * targets.ttft_p99_s:
        figures.append(f"the p99 prompt ({prompt:,} tokens)'s prefill alone takes {floor:.3g} s of the "
                       f"{targets.ttft_p99_s:g} s TTFT target, leaving little room for queueing behind other prefills")
    return (f"misses the targets at {design_qps:g} req/s even with {max_replicas} replica(s) "
            f"({', '.join(figures)})")


def pareto_front(points: list[PlanPoint]) -> list[PlanPoint]:
    """Points that meet the targets and that no other such point beats on both cost per hour and p99 TTFT."""
    meeting = sorted((p for p in points if p.meets_slo and p.ttft_p99_s is not None),
                     key=lambda p: (p.cost_per_hour_usd, p.ttft_p99_s))
    front, best_ttft = [], float("inf")
    for p in meeting:
        if p.ttft_p99_s < best_ttft:
            front.append(p)
            best_ttft = p.ttft_p99_s
    return front


def prices_used(searches: list, doc: dict, prices: dict[str, float]) -> dict[str, PriceUsed]:
    """Each hardware's $ per GPU-hour and where it came from (`searches`: `planner.ConfigSearch`es)."""
    template = doc["deployments"][0]
    used = {}
    for s in searches:
        hardware = s.config.hardware
        if hardware in used or s.price_per_gpu_hour_usd is None:
            continue
        if hardware.lower() in {name.lower() for name in prices}:
            source = "given price (--price / prices)"
        elif hardware.lower() == str(template.get("hardware", "")).lower() and \
                template.get("price_per_gpu_hour_usd") is not None:
            source = "the template deployment's price_per_gpu_hour_usd"
        else:
            source = f"the hardware profile's {template.get('pricing') or 'on_demand'} price (catalog or profile)"
        used[hardware] = PriceUsed(usd_per_gpu_hour=s.price_per_gpu_hour_usd, source=source)
    return used


def run_length_text(setup) -> str:
    seconds = max(setup.policy.min_arrival_s, setup.base_arrival_s)
    if setup.base_arrival_s:
        return f"rate x {seconds:g} s of arrivals (the scenario's horizon_s or min_arrival_s)"
    return f"max({setup.base_requests:,} requests, rate x {seconds:g} s of arrivals)"


def row_of(search) -> FeasibleConfiguration | InfeasibleConfiguration:
    """A configuration's row (`search`: a `planner.ConfigSearch`): its point at the fewest replicas, if any."""
    knobs = search.config.as_fields()
    chosen = next((p for p in search.points if p.replicas == search.min_replicas), None)
    if chosen is None:
        return InfeasibleConfiguration(**knobs, min_replicas=None, reason=search.reason, max_rate_per_s=None)
    return FeasibleConfiguration(
        **knobs, min_replicas=search.min_replicas, reason=search.reason, num_gpus=chosen.num_gpus,
        cost_per_hour_usd=chosen.cost_per_hour_usd, ttft_p99_s=chosen.ttft_p99_s,
        ttft_p99_spread_s=chosen.ttft_p99_spread_s, tpot_p99_s=chosen.tpot_p99_s,
        tpot_p99_spread_s=chosen.tpot_p99_spread_s, num_requests=chosen.num_requests,
        max_rate_per_s=search.max_rate_per_s)


def best_of(rows: list, front: list[PlanPoint], target_qps: float, emit) -> BestConfiguration | None:
    """The cheapest feasible row, why, and its deployment (`emit(row) -> PlanEmit`)."""
    ranked = sorted((r for r in rows if r.min_replicas is not None),
                    key=lambda r: (r.cost_per_hour_usd, r.ttft_p99_s, r.hardware, r.tensor_parallel))
    if not ranked:
        return None
    best = ranked[0]
    on_front = any(p.cost_per_hour_usd == best.cost_per_hour_usd and p.hardware == best.hardware
                   and p.tensor_parallel == best.tensor_parallel and p.replicas == best.min_replicas
                   and p.max_num_seqs == best.max_num_seqs for p in front)
    reason = (f"cheapest configuration meeting the targets (${best.cost_per_hour_usd:.2f}/h)"
              + ("" if on_front else "; equal in cost to a faster point on the front"))
    return BestConfiguration(**dict(best), cost_per_query_usd=best.cost_per_hour_usd / 3600.0 / target_qps,
                             why=reason, emit=emit(best))
