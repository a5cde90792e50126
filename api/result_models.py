"""Response models of the HTTP API: job results, the estimate, catalog, scenarios and health.

They mirror, key for key and in the same order, the JSON the simulator produces today:

    kind "simulation"  SimulationResult   simulator.results.runner.run(...).to_json_dict()
    kind "comparison"  ComparisonResult   simulator.comparisons.compare.compare(...).to_json_dict()
    kind "plan"        PlanResult         simulator.planning.planner.plan(...)
    kind "sweep"       SweepResult        {"rows": ...} as api.worker._plan_or_sweep builds it

(The estimate, catalog, scenario and health responses are in `api.response_models`.)
Every model forbids unknown keys, so a key added to a simulator output fails the tests until the
model follows (sweep rows excepted: their swept-parameter columns are dynamic). The simulator's
own typed results will later replace these models without changing the schema.

Floats are plain `float` where the simulator writes a number; inputs are finite (schemas refuse
NaN and infinities) and a plan point with no completed request has `ttft_p99_s: null`.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model, model_serializer


DeploymentKind = Literal["llm", "rag", "long_context", "hybrid"]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LatencyStats(_Closed):
    """Percentiles of one latency over completed requests (or answered queries); all null when none."""
    p50: float | None
    p90: float | None
    p99: float | None
    mean: float | None


class BatchSizeStats(_Closed):
    """Requests per engine iteration, weighted by iterations; all null when no iteration ran."""
    mean: float | None
    p50: float | None
    p99: float | None
    max: float | None


# ---- kind "simulation" -------------------------------------------------------------------------

class ServingMetrics(_Closed):
    """`simulator.results.metrics.summarize`: one deployment's summary."""
    num_requests: int
    num_completed: int
    num_rejected: int
    num_unfinished: int
    num_clipped: int
    reject_reasons: dict[str, int] = Field(description="rejected requests by reason (the text before ':')")
    ttft_s: LatencyStats
    tpot_s: LatencyStats
    itl_s: LatencyStats
    itl_max_s: LatencyStats
    e2e_s: LatencyStats
    queueing_delay_s: LatencyStats
    duration_s: float
    throughput_requests_per_s: float
    throughput_input_tokens_per_s: float
    throughput_output_tokens_per_s: float
    slo_attainment: float | None
    goodput_requests_per_s: float
    kv_cache_mean_utilization: float
    kv_cache_peak_utilization: float
    prefix_cache_hit_rate: float
    num_preemptions: int
    num_iterations: int
    num_engine_steps: int
    batch_size: BatchSizeStats
    mean_batched_tokens: float
    gpu_busy_fraction: float
    mean_requests_in_system: float
    stable: bool
    gpu_hours: float
    price_usd_per_gpu_hour: float
    cost_usd: float
    cost_per_query_usd: float | None
    cost_per_million_input_tokens_usd: float | None
    cost_per_million_output_tokens_usd: float | None


class SimulatedDeployment(_Closed):
    """`simulator.results.runner.DeploymentResult.to_json_dict`."""
    name: str
    model: str
    hardware: str
    replicas: int
    tensor_parallel: int
    context_parallel: int
    pipeline_parallel: int
    layout: str = Field(description="'replicas x GPUs each', e.g. '4x1' or '2x1 prefill + 2x1 decode'")
    num_gpus: int
    num_kv_blocks_per_replica: int
    kv_cache_capacity_tokens_per_replica: int
    notes: list[str]
    metrics: ServingMetrics


class SimulationResult(_Closed):
    """Result of a simulation job: every deployment of a serving scenario on one workload."""
    ctxplan_version: str
    scenario: str
    seed: int
    deployments: list[SimulatedDeployment]


# ---- kind "comparison" -------------------------------------------------------------------------
# Two row shapes: a comparison scenario's rows (queries over a corpus, or conversations) carry
# three keys that a serving scenario's rows (simulator.comparisons.compare._run_one) do not.

class ComparisonRow(_Closed):
    """`simulator.comparisons.deployment_run._summary` plus `max_sustainable_qps`: one deployment of a comparison scenario."""
    name: str
    kind: DeploymentKind
    model: str
    hardware: str
    num_queries: int
    num_answered: int
    num_refused: int
    num_gpus: int
    num_retrieval_nodes: int
    cost_usd: float
    cost_per_query_usd: float | None
    busy_cost_per_query_usd: float | None
    cost_per_month_usd: float
    indexing_one_off_usd: float
    api_cost_per_query_usd: float | None
    ttft_s: LatencyStats
    e2e_s: LatencyStats
    tpot_s: LatencyStats
    slo_attainment: float | None
    stable: bool
    kv_cache_peak_utilization: float
    prefix_cache_hit_rate: float
    num_preemptions: int
    expected_accuracy: float | None
    accuracy_source: str | None
    cost_per_correct_answer_usd: float | None
    fallback_fraction: float | None = Field(description="hybrid deployments only; null otherwise")
    duration_s: float
    notes: list[str]
    max_sustainable_qps: float | None = Field(description="null without capacity search or for trace arrivals; "
                                              "see the result's capacity_definition")
    capacity_num_queries: int | None = Field(description="queries (sessions) of the probe that found "
                                             "max_sustainable_qps: re-running at that rate with this count gives "
                                             "the same verdict")


_QUERY_ONLY_KEYS = ("indexing_one_off_usd", "api_cost_per_query_usd", "fallback_fraction")
ServingComparisonRow = create_model(   # ComparisonRow's fields, in its order, less three; kind is always "llm"
    "ServingComparisonRow", __base__=_Closed,
    __doc__="`simulator.comparisons.compare._run_one` on a serving scenario: one plain LLM deployment.",
    **{name: (Literal["llm"], ...) if name == "kind" else (field.annotation, field)
       for name, field in ComparisonRow.model_fields.items() if name not in _QUERY_ONLY_KEYS})


class ComparisonResult(_Closed):
    """Result of a comparison job (a comparison scenario or a serving scenario compared side by side)."""
    scenario: str
    seed: int
    deployments: list[Annotated[Union[ComparisonRow, ServingComparisonRow], Field(union_mode="left_to_right")]]
    winner_on_cost: str | None
    winner_on_quality: str | None
    cost_note: str
    capacity_definition: str | None = Field(description="what max_sustainable_qps means; null without capacity search")
    cost_metric: str = Field(description="the cost every ranking of this result uses (winner_on_cost)")


# ---- kind "plan" -------------------------------------------------------------------------------

class PlanTargets(_Closed):
    ttft_p99_s: float | None
    tpot_p99_s: float | None


class _PlanConfig(_Closed):
    """The knobs of one plan configuration (`simulator.planning.planner.Config`)."""
    hardware: str
    tensor_parallel: int
    max_num_seqs: int
    max_num_batched_tokens: int


class PlanPoint(_PlanConfig):
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


class FeasibleConfiguration(_PlanConfig):
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


class InfeasibleConfiguration(_PlanConfig):
    """A configuration that does not fit, or misses the targets with every allowed replica count."""
    min_replicas: None
    reason: str
    max_rate_per_s: None


class PlanEmit(_Closed):
    vllm_command: str = Field(description="one replica's `vllm serve` command line")
    kubernetes_manifest: str = Field(description="a minimal Kubernetes Deployment (YAML) of every replica")


class BestConfiguration(FeasibleConfiguration):
    cost_per_query_usd: float = Field(description="at the target rate (not the design rate)")
    why: str
    emit: PlanEmit


class PriceUsed(_Closed):
    usd_per_gpu_hour: float
    source: str


class PlanResult(_Closed):
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


# ---- kind "sweep" ------------------------------------------------------------------------------

class SweepRow(BaseModel):
    """One point x deployment of a sweep (`simulator.planning.sweep.sweep`, written by pandas `to_json`).

    The swept parameter paths (e.g. "workload.arrival.rate_per_s") are columns too, holding the
    point's values: they depend on the request, so they are extra keys (`extra="allow"`) and the
    schema allows any further property. pandas writes NaN and +/-inf as null, so every float
    column may be null."""
    model_config = ConfigDict(extra="allow")
    point: int
    deployment: str
    kind: DeploymentKind
    model: str
    hardware: str
    ttft_p50_s: float | None
    ttft_p99_s: float | None
    tpot_p50_s: float | None
    tpot_p99_s: float | None
    e2e_p50_s: float | None
    e2e_p99_s: float | None
    cost_per_query_usd: float | None
    slo_attainment: float | None
    stable: bool
    expected_accuracy: float | None
    num_gpus: int
    cost_per_month_usd: float | None
    kv_cache_peak_utilization: float | None
    num_refused: int

    @model_serializer(mode="wrap")
    def _assignments_after_point(self, handler):   # no return annotation: keeps the row schema
        """Keep the source's column order: point, the swept paths, then the metrics."""
        data = handler(self)
        extra = self.__pydantic_extra__ or {}
        fixed = [k for k in data if k not in extra]
        return {k: data[k] for k in fixed[:1] + list(extra) + fixed[1:]}


class SweepResult(_Closed):
    """Result of a sweep job: one row per point and deployment."""
    rows: list[SweepRow]


JobResult = Annotated[Union[SimulationResult, ComparisonResult, PlanResult, SweepResult],
                      Field(union_mode="left_to_right")]
"""A job's result. `Job.kind` tells which member it is ("simulation", "comparison", "plan",
"sweep"); the members' required keys are disjoint, so validation picks it unambiguously too."""

RESULT_MODELS: dict[str, type[BaseModel]] = {   # job kind -> its result model
    "simulation": SimulationResult, "comparison": ComparisonResult, "plan": PlanResult, "sweep": SweepResult}
