"""Response models of the HTTP API besides job results: the estimate, catalog, scenarios and health.

The estimate is the simulator's own typed result (`simulator.results.estimate_types.Estimate`),
re-exported as `EstimateResponse`. The others mirror key for key the JSON the routes return and
forbid unknown keys, so a new key fails the tests until the model follows.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field

from api.result_models import _Closed
from simulator.catalog.rows import HardwareRow
from simulator.results.estimate_types import (AttentionImplEstimate, AttentionImpls, Estimate,  # noqa: F401
                                              FitLimitName, GpuLayout)


# ---- POST /v1/estimate: the simulator's own result (simulator.results.estimate_types) ------------

EstimateResponse = Estimate


# ---- catalog, scenarios, health ----------------------------------------------------------------
# GET /v1/models answers list[ModelRow] (simulator.catalog.rows), exactly its dumps.

class CatalogHardwareRow(HardwareRow):
    """A catalog accelerator in GET /v1/hardware: its catalog row."""
    uploaded: Literal[False]


class EfficiencyCurvesOut(_Closed):
    """`simulator.costs.hardware.EfficiencyCurves`, resolved (catalog defaults filled in)."""
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
    allreduce_step_latency_s: float
    matmul_tile: int
    fp4_matmul_efficiency_max: float | None


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
