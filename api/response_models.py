"""Response models of the HTTP API besides job results: the estimate, catalog, scenarios and health.

Like `api.result_models`, they mirror key for key the JSON the routes return today and forbid
unknown keys, so a new key fails the tests until the model follows.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field

from api.result_models import _Closed
from simulator.catalog.rows import HardwareRow
from simulator.scenario import KVDtype, WeightDtype


# ---- POST /v1/estimate -------------------------------------------------------------------------

class AttentionImplEstimate(_Closed):
    prefill_time_s: float
    score_matrix_bytes_per_gpu: int
    fits: bool
    reason: str


class AttentionImpls(_Closed):
    """Each attention implementation's prefill on the same shape (`costmodel.ATTENTION_IMPLS`)."""
    flash: AttentionImplEstimate
    naive: AttentionImplEstimate


class GpuLayout(_Closed):
    tensor_parallel: int
    context_parallel: int
    pipeline_parallel: int
    num_gpus: int


class EstimateResponse(_Closed):
    """`simulator.estimate.estimate`: the JSON `ctxplan estimate --format json` prints."""
    model: str
    hardware: str
    tensor_parallel: int
    context_parallel: int
    pipeline_parallel: int
    expert_parallel: int
    num_gpus: int
    attention_impl: Literal["flash", "naive"]
    weight_dtype: WeightDtype
    kv_cache_dtype: KVDtype
    prompt_tokens: int
    output_tokens: int
    weights_bytes: int
    weights_bytes_per_gpu: int
    kv_cache_bytes_per_token: int
    kv_cache_bytes: int
    kv_cache_bytes_per_gpu: int
    kv_cache_bytes_peak: int
    memory_bytes_per_gpu: int
    kv_cache_capacity_bytes: int
    kv_cache_capacity_tokens: int
    max_concurrent_sequences: int
    exceeds_context: bool
    fits: bool
    fit_reason: str
    min_num_gpus: int | None = Field(description="null when no layout up to the limits fits")
    needs: GpuLayout | None = Field(description="the smallest layout that fits; null when this one fits")
    prefill_time_s: float
    ring_communication_s: float
    attention: AttentionImpls
    decode_time_per_token_s: float
    e2e_latency_s: float
    decode_batch_size: int
    decode_step_time_at_batch_s: float
    throughput_output_tokens_per_s: float
    price_usd_per_gpu_hour: float
    cost_per_query_usd: float
    cost_per_million_output_tokens_usd: float


# ---- catalog, scenarios, health ----------------------------------------------------------------
# GET /v1/models answers list[ModelRow] (simulator.catalog.rows), exactly its dumps.

class CatalogHardwareRow(HardwareRow):
    """A catalog accelerator in GET /v1/hardware: its catalog row."""
    uploaded: Literal[False]


class EfficiencyCurvesOut(_Closed):
    """`simulator.hardware.EfficiencyCurves`, resolved (catalog defaults filled in)."""
    matmul_efficiency_max: float
    matmul_half_saturation_tokens: float
    attention_efficiency_max: float
    attention_half_saturation_tokens: float
    bandwidth_efficiency: float
    decode_bandwidth_efficiency: float
    kernel_launch_s: float
    iteration_overhead_s: float
    allreduce_latency_s: float
    interconnect_efficiency: float


class ResolvedProfile(_Closed):
    """An uploaded profile as the simulator resolves it (`api.routes.catalog._describe`; `ProfileOut.resolved`)."""
    name: str
    memory_gb: float
    memory_bandwidth_tb_s: float
    bf16_dense_tflops: float
    efficiency: EfficiencyCurvesOut


class UploadedHardwareRow(ResolvedProfile):
    """An uploaded profile in GET /v1/hardware."""
    uploaded: Literal[True]
    source: str


HardwareListItem = Annotated[Union[CatalogHardwareRow, UploadedHardwareRow], Field(discriminator="uploaded")]


class ScenarioSummary(_Closed):
    """An item of GET /v1/scenarios."""
    name: str
    kind: Literal["simulation", "comparison"]
    description: str


class ScenarioDocument(_Closed):
    """GET /v1/scenarios/{name}: the file parsed, and its text."""
    name: str
    scenario: dict[str, Any]
    yaml: str


class Health(_Closed):
    """GET /healthz."""
    status: Literal["ok"]
    version: str
