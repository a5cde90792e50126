"""Typed results of the simulator: the one definition of every result that crosses a module boundary.

    LatencyStats, BatchSizeStats    percentiles of one latency / of batch sizes
    ClosedLoopWindow                the steady window of a closed-loop (`concurrency`) run
    ServingMetrics                  `simulator.results.metrics.summarize`: one deployment's summary
    SimulatedDeployment             one deployment of `simulator.results.runner.run` (its JSON part)
    SimulationResult                `runner.run(...).to_model()`: every deployment of a serving scenario
    ComparisonRow                   one deployment of a comparison scenario (`comparisons.rows.comparison_row`)
    ServingComparisonRow            one deployment of a serving scenario compared side by side
    ComparisonResult                `simulator.comparisons.compare.compare(...)`
    SweepRow, SweepResult           one point x deployment of `simulator.planning.sweep.sweep`

Plans are in `simulator.results.plan_types`, the closed-form estimate in
`simulator.results.estimate_types`. The HTTP API uses these same classes as response models
(`api.result_models`, `api.response_models` re-export them), so OpenAPI documents what the CLI prints.

Every model is frozen and forbids unknown keys (sweep rows excepted: their swept-parameter columns
are dynamic). Field order is the JSON's key order: `to_json_dict()` is what `--format json` prints,
byte for byte. Floats are plain `float`; inputs are finite (schemas refuse NaN and infinities).
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, create_model, model_serializer


DeploymentKind = Literal["llm", "rag", "long_context", "hybrid"]


class Frozen(BaseModel):
    """A result: immutable, closed (an unknown key is an error), dumped to the JSON the CLI prints."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json_dict(self) -> dict:
        """The mapping `json.dumps` writes: fields in declaration order, None as null."""
        return self.model_dump()


class LatencyStats(Frozen):
    """Percentiles of one latency over completed requests (or answered queries); all null when none."""
    p50: float | None
    p90: float | None
    p99: float | None
    mean: float | None


class BatchSizeStats(Frozen):
    """Requests per engine iteration, weighted by iterations; all null when no iteration ran."""
    mean: float | None
    p50: float | None
    p99: float | None
    max: float | None


# ---- kind "simulation" -------------------------------------------------------------------------

class ClosedLoopWindow(Frozen):
    """A closed-loop run's steady window: from when every user's first request has finished (warm-up:
    all users start at once) to when the first user has finished its last one (drain: fewer than `users`
    remain). Its figures are over the requests that finished inside the window; all null when none did."""
    users: int
    think_time_s: float
    window_start_s: float | None
    window_end_s: float | None
    num_measured: int
    throughput_requests_per_s: float | None
    throughput_output_tokens_per_s: float | None
    ttft_s: LatencyStats
    tpot_s: LatencyStats
    e2e_s: LatencyStats
    users_by_littles_law: float | None = Field(description="throughput x (mean e2e + think time): equals "
                                                           "`users` when the window is steady")


class ServingMetrics(Frozen):
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
    closed_loop: ClosedLoopWindow | None = Field(default=None, description="set for `arrival.process: "
                                                 "concurrency`; the figures above cover the whole run")


PROVENANCE = Field(description="where the hardware profile's numbers come from: the catalog's datasheet default, "
                                "a calibration (device and date), or a user's profile file")


class SimulatedDeployment(Frozen):
    """One deployment of a simulation (`simulator.results.runner.DeploymentResult.to_model`)."""
    name: str
    model: str
    hardware: str
    hardware_provenance: str = PROVENANCE
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


class SimulationResult(Frozen):
    """Result of a simulation job: every deployment of a serving scenario on one workload."""
    ctxplan_version: str
    scenario: str
    seed: int
    deployments: list[SimulatedDeployment]


# ---- kind "comparison" -------------------------------------------------------------------------
# Two row shapes: a comparison scenario's rows (queries over a corpus, or conversations) carry
# three keys that a serving scenario's rows do not; both are built by simulator.comparisons.rows.comparison_row.

class ComparisonRow(Frozen):
    """One deployment of a comparison scenario (`simulator.comparisons.rows.comparison_row`), with its capacity."""
    name: str
    kind: DeploymentKind
    model: str
    hardware: str
    hardware_provenance: str = PROVENANCE
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
    "ServingComparisonRow", __base__=Frozen,
    __doc__="One deployment of a serving scenario compared side by side (`comparisons.rows.comparison_row`).",
    **{name: (Literal["llm"], ...) if name == "kind" else (field.annotation, field)
       for name, field in ComparisonRow.model_fields.items() if name not in _QUERY_ONLY_KEYS})


class ComparisonResult(Frozen):
    """Result of a comparison job (a comparison scenario or a serving scenario compared side by side)."""
    scenario: str
    seed: int
    deployments: list[Annotated[Union[ComparisonRow, ServingComparisonRow], Field(union_mode="left_to_right")]]
    winner_on_cost: str | None
    winner_on_quality: str | None
    cost_note: str
    capacity_definition: str | None = Field(description="what max_sustainable_qps means; null without capacity search")
    cost_metric: str = Field(description="the cost every ranking of this result uses (winner_on_cost)")


# ---- kind "sweep" ------------------------------------------------------------------------------

class SweepRow(BaseModel):
    """One point x deployment of a sweep (`simulator.planning.sweep.sweep_row`; the table pandas writes).

    The swept parameter paths (e.g. "workload.arrival.rate_per_s") are columns too, holding the
    point's values: they depend on the request, so they are extra keys (`extra="allow"`) and the
    schema allows any further property. pandas writes NaN and +/-inf as null, so every float
    column may be null."""
    model_config = ConfigDict(extra="allow", frozen=True)
    point: int
    deployment: str
    kind: DeploymentKind
    model: str
    hardware: str
    hardware_provenance: str = PROVENANCE
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


class SweepResult(Frozen):
    """Result of a sweep job: one row per point and deployment."""
    rows: list[SweepRow]
