"""Typed results of `simulator.planning.planner.plan`: points, configurations, the best, the plan.

One configuration (`PlanConfig`) is searched for its fewest replicas; each replica count it tried
at the design rate is a `PlanPoint`; the configuration's row is feasible or not; the best carries
its deployment (`PlanEmit`). Like `simulator.results.types`, models are frozen and closed, and
their field order is the JSON's key order.
"""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field

from simulator.results.types import Frozen


# ---- kind "plan" -------------------------------------------------------------------------------

class PlanTargets(Frozen):
    ttft_p99_s: float | None
    tpot_p99_s: float | None


class PlanConfig(Frozen):
    """The knobs of one plan configuration (`simulator.planning.planner.Config`)."""
    hardware: str
    tensor_parallel: int
    max_num_seqs: int
    max_num_batched_tokens: int


class PlanPoint(PlanConfig):
    """One configuration at one replica count and rate (`simulator.planning.planner.evaluate`), seeds averaged.

    `ttft_p99_s` and its spread are None when a seed completed no request."""
    replicas: int
    rate_per_s: float
    num_requests: int = Field(description="requests of each seed's run (RunPolicy: at least min_arrival_s of arrivals)")
    num_runs: int = Field(description="simulation runs of this point: one per seed, one more when extended")
    num_gpus: int
    price_per_gpu_hour_usd: float
    cost_per_hour_usd: float
    ttft_p99_s: float | None
    ttft_p99_spread_s: float | None
    tpot_p99_s: float
    tpot_p99_spread_s: float
    stable: bool
    meets_slo: bool


class FeasibleConfiguration(PlanConfig):
    """A configuration with a replica count meeting the targets, and that point's figures."""
    min_replicas: int
    reason: str
    num_gpus: int
    cost_per_hour_usd: float
    ttft_p99_s: float
    ttft_p99_spread_s: float
    tpot_p99_s: float
    tpot_p99_spread_s: float
    num_requests: int
    max_rate_per_s: float | None = Field(description="null when the plan ran without capacity search")


class InfeasibleConfiguration(PlanConfig):
    """A configuration that does not fit, or misses the targets with every allowed replica count."""
    min_replicas: None
    reason: str
    max_rate_per_s: None


class PlanEmit(Frozen):
    vllm_command: str = Field(description="one replica's `vllm serve` command line")
    kubernetes_manifest: str = Field(description="a minimal Kubernetes Deployment (YAML) of every replica")


class BestConfiguration(FeasibleConfiguration):
    cost_per_query_usd: float = Field(description="at the target rate (not the design rate)")
    why: str
    emit: PlanEmit


class PriceUsed(Frozen):
    usd_per_gpu_hour: float
    source: str


class PlanResult(Frozen):
    """Result of a plan job: `simulator.planning.planner.plan`. Configurations are sized for design_qps =
    target_qps x (1 + headroom); `pareto_front` holds only points that meet the targets."""
    target_qps: float
    headroom: float
    design_qps: float
    targets: PlanTargets
    seeds: list[int]
    exhaustive: bool
    best: BestConfiguration | None
    configurations: list[Annotated[Union[FeasibleConfiguration, InfeasibleConfiguration],
                                   Field(union_mode="left_to_right")]]
    pareto_front: list[PlanPoint]
    points: list[PlanPoint]
    num_simulations: int
    prices_used: dict[str, PriceUsed]
    capacity_definition: str
    cost_metric: str
