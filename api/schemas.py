"""Request and response bodies of the HTTP API (separate from the simulator's own schemas)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from api.response_models import ResolvedProfile
from api.result_models import JobResult
from simulator.costs.costmodel import AttentionImpl
from simulator.planning.options import PlanOptions
from simulator.specs.scenario import KVDtype, WeightDtype


class EstimateRequest(BaseModel):
    """The options of `ctxplan estimate`, in snake_case; `tensor_parallel` may also be sent as `tp`."""
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=200, description="catalog model name")
    hardware: str = Field(min_length=1, max_length=200, description="catalog name or uploaded profile name")
    prompt_tokens: int = Field(ge=1, le=100_000_000)
    output_tokens: int = Field(ge=1, le=100_000_000)
    tensor_parallel: int = Field(default=1, ge=1, le=1024, validation_alias=AliasChoices("tensor_parallel", "tp"),
                                 description="tensor-parallel degree (also accepted as `tp`, the CLI's --tp)")
    kv_dtype: KVDtype = "bf16"
    weight_dtype: WeightDtype = "bf16"
    context_parallel: int = Field(default=1, ge=1, le=256)
    pipeline_parallel: int = Field(default=1, ge=1, le=256)
    expert_parallel: int = Field(default=1, ge=1, le=1024)
    attention_impl: AttentionImpl = "flash"

    @model_validator(mode="before")
    @classmethod
    def _one_tensor_parallel(cls, data: Any) -> Any:
        """`tp` and `tensor_parallel` name one field: both may be sent only with the same value."""
        if not (isinstance(data, dict) and "tp" in data and "tensor_parallel" in data):
            return data
        tp, tensor_parallel = data["tp"], data["tensor_parallel"]
        if tp != tensor_parallel or type(tp) is not type(tensor_parallel):
            both = all(type(v) is int for v in (tp, tensor_parallel))    # echo numbers only
            got = f" (got tp {tp} and tensor_parallel {tensor_parallel})" if both else ""
            error = PydanticCustomError("alias_conflict", "tp and tensor_parallel name the same field and differ"
                                        f"{got}; send one of them")
            raise ValidationError.from_exception_data(cls.__name__, [InitErrorDetails(
                type=error, loc=("tensor_parallel",), input=tensor_parallel)])
        return {key: value for key, value in data.items() if key != "tp"}


# Scenarios inside plan and sweep bodies stay mappings (sweep paths edit them before validation);
# the job validation checks them against these schemas, which OpenAPI shows.
# (`api.openapi_docs` replaces the `x-ctxplan-scenario` mark with references to those schemas).
ServingScenario = Annotated[dict, Field(json_schema_extra={"x-ctxplan-scenario": ["ScenarioSpec"]})]
AnyScenario = Annotated[dict, Field(json_schema_extra={"x-ctxplan-scenario": ["ScenarioSpec", "ComparisonSpec"]})]


class PlanRequest(PlanOptions):
    """The options of `ctxplan plan` (`simulator.planning.options.PlanOptions`: the one definition of their
    defaults and limits), with the serving scenario inline."""
    scenario: ServingScenario = Field(description="a serving scenario (workload: ...); its first deployment is "
                                      "the template")


class SweepRequest(BaseModel):
    """The options of `ctxplan sweep`, with the scenario inline."""
    model_config = ConfigDict(extra="forbid")
    scenario: AnyScenario = Field(description="a serving or comparison scenario")
    params: list[Annotated[str, Field(min_length=3, max_length=2000)]] = Field(
        min_length=1, max_length=8, description="PATH=VALUES, as `ctxplan sweep --param`")


JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobCreated(BaseModel):
    id: str
    status: JobStatus


class Job(BaseModel):
    id: str
    kind: Literal["simulation", "comparison", "plan", "sweep"]
    status: JobStatus
    progress: float
    created_at: str
    updated_at: str
    started_at: str | None = None
    finished_at: str | None = None
    seed: int | None = None
    error: str | None = None
    name: str | None = Field(default=None, description="the scenario's name")
    result: JobResult | None = Field(default=None, description="by kind: SimulationResult, ComparisonResult, "
                                     "PlanResult or SweepResult")


class JobPage(BaseModel):
    items: list[Job]
    total: int
    offset: int
    limit: int


class ProfileUpload(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$", description="lowercase kebab-case")
    profile: dict = Field(description="the profile document, as `ctxplan calibrate` writes it")


class ProfileOut(BaseModel):
    name: str
    profile: dict
    resolved: ResolvedProfile
