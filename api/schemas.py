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
