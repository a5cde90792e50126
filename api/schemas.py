"""Request and response bodies of the HTTP API (separate from the simulator's own schemas)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from simulator.scenario import KVDtype, WeightDtype


class EstimateRequest(BaseModel):
    """The options of `ctxplan estimate`, in snake_case."""
    model_config = ConfigDict(extra="forbid")
    model: str = Field(min_length=1, max_length=200, description="catalog model name")
    hardware: str = Field(min_length=1, max_length=200, description="catalog name or uploaded profile name")
    prompt_tokens: int = Field(ge=1, le=100_000_000)
    output_tokens: int = Field(ge=1, le=100_000_000)
    tp: int = Field(default=1, ge=1, le=1024)
    kv_dtype: KVDtype = "bf16"
    weight_dtype: WeightDtype = "bf16"
    context_parallel: int = Field(default=1, ge=1, le=256)
    pipeline_parallel: int = Field(default=1, ge=1, le=256)
    expert_parallel: int = Field(default=1, ge=1, le=1024)
    attention_impl: Literal["flash", "naive"] = "flash"


class PlanRequest(BaseModel):
    """The options of `ctxplan plan`, with the serving scenario inline."""
    model_config = ConfigDict(extra="forbid")
    scenario: dict = Field(description="a serving scenario (workload: ...); its first deployment is the template")
    target_qps: float = Field(gt=0, le=1e6)
    slo_ttft_p99_s: float | None = Field(default=None, gt=0)
    slo_tpot_p99_s: float | None = Field(default=None, gt=0)
    hardware: list[str] | None = Field(default=None, min_length=1, max_length=16)
    tensor_parallel: list[int] | None = Field(default=None, min_length=1, max_length=8)
    max_num_seqs: list[int] | None = Field(default=None, min_length=1, max_length=8)
    chunk_tokens: list[int] | None = Field(default=None, min_length=1, max_length=8)
    max_gpus: int = Field(default=64, ge=1, le=4096)
    seeds: int = Field(default=3, ge=1, le=20)
    requests: int | None = Field(default=None, ge=1)
    capacity: bool = True


class SweepRequest(BaseModel):
    """The options of `ctxplan sweep`, with the scenario inline."""
    model_config = ConfigDict(extra="forbid")
    scenario: dict = Field(description="a serving or comparison scenario")
    params: list[str] = Field(min_length=1, max_length=8, description="PATH=VALUES, as `ctxplan sweep --param`")


class JobCreated(BaseModel):
    id: str
    status: str


class Job(BaseModel):
    id: str
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float
    created_at: str
    updated_at: str
    started_at: str | None = None
    finished_at: str | None = None
    seed: int | None = None
    error: str | None = None
    name: str | None = Field(default=None, description="the scenario's name")
    result: dict | None = None


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
    resolved: dict
