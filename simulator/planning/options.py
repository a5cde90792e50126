"""`PlanOptions`: what a plan is asked for, defined once for `ctxplan plan`, POST /v1/plans, the job
worker and the planner. Defaults and limits live here and nowhere else.

    target_qps         requests per second to serve (sized for (1 + headroom) x it)
    slo_*_p99_s        p99 targets (default: the scenario's slo)
    hardware, tensor_parallel, max_num_seqs, chunk_tokens
                       the grid (default: the template deployment's own value)
    max_gpus, seeds, requests, capacity, prices, headroom, min_arrival_s

Limits (ASSUMPTION: sized so one plan stays a bounded job): at most 20 seeds per point (each seed
is one more run of every point), 16 hardware names and 8 values of each other grid axis, 4096
GPUs, 10 million requests per run. `exhaustive` (try every replica count, the reference search)
is a planner argument, not an option: only the CLI offers it, and the service's bound on a job's
runs (`planner.max_simulations`) assumes the binary search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simulator.planning.capacity import PassCriterion

MAX_SEEDS = 20
MAX_TENSOR_PARALLEL = 1024
MAX_NUM_SEQS = 65536
MAX_CHUNK_TOKENS = 10_000_000

PositiveSmall = Annotated[int, Field(ge=1, le=MAX_TENSOR_PARALLEL)]
PositiveCount = Annotated[int, Field(ge=1, le=MAX_CHUNK_TOKENS)]
CatalogName = Annotated[str, Field(min_length=1, max_length=200)]


@dataclass(frozen=True, slots=True)
class Targets:
    ttft_p99_s: float | None
    tpot_p99_s: float | None

    def criterion(self) -> PassCriterion:
        """`plan`'s question: mean steady-state p99s within these targets, nothing rejected or unfinished."""
        return PassCriterion(ttft_p99_s=self.ttft_p99_s, tpot_p99_s=self.tpot_p99_s, require_clean=True)


@dataclass(frozen=True, slots=True)
class Grid:
    """The configurations' axes, defaults filled in from the template deployment."""
    hardware: list[str]
    tensor_parallel: list[int]
    max_num_seqs: list[int]
    chunk_tokens: list[int]


class PlanOptions(BaseModel):
    """The options of `ctxplan plan` (in snake_case), of a plan job's body, and of `planner.plan_result`."""
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)
    target_qps: float = Field(gt=0, le=1e6)
    slo_ttft_p99_s: float | None = Field(default=None, gt=0, le=86_400)
    slo_tpot_p99_s: float | None = Field(default=None, gt=0, le=86_400)
    hardware: list[CatalogName] | None = Field(default=None, min_length=1, max_length=16,
                                               description="catalog names or uploaded profiles")
    tensor_parallel: list[PositiveSmall] | None = Field(default=None, min_length=1, max_length=8)
    max_num_seqs: list[Annotated[int, Field(ge=1, le=MAX_NUM_SEQS)]] | None = Field(default=None, min_length=1,
                                                                                  max_length=8)
    chunk_tokens: list[PositiveCount] | None = Field(default=None, min_length=1, max_length=8)
    max_gpus: int = Field(default=64, ge=1, le=4096)
    seeds: int = Field(default=3, ge=1, le=MAX_SEEDS)
    requests: PositiveCount | None = Field(default=None, description="at least this many requests per run (default: "
                                           "the scenario's); runs also offer at least min_arrival_s of arrivals")
    capacity: bool = True
    prices: dict[CatalogName, Annotated[float, Field(ge=0, le=1e6)]] | None = Field(
        default=None, max_length=16, description="$ per GPU-hour by hardware name (default: each hardware's catalog or "
                                                 "profile price; a template's price applies to its own hardware only)")
    headroom: float | None = Field(default=None, ge=0, le=10, description="size for (1 + headroom) x target_qps "
                                   "(default 0.2)")
    min_arrival_s: float | None = Field(default=None, gt=0, le=86_400, description="seconds of arrivals every run "
                                        "offers at least (default 60)")

    def targets(self, slo) -> Targets:
        """The p99 targets: these options', else the scenario's `slo` (ttft_s, tpot_s)."""
        return Targets(self.slo_ttft_p99_s if self.slo_ttft_p99_s is not None else slo.ttft_s,
                       self.slo_tpot_p99_s if self.slo_tpot_p99_s is not None else slo.tpot_s)

    def grid(self, template) -> Grid:
        """The axes, each defaulting to the template deployment's (a `DeploymentSpec`) own value."""
        return Grid(self.hardware or [template.hardware], self.tensor_parallel or [template.tensor_parallel],
                    self.max_num_seqs or [template.engine.max_num_seqs],
                    self.chunk_tokens or [template.engine.max_num_batched_tokens])


def plan_options(**values) -> PlanOptions:
    """`PlanOptions` from keyword values, a bad one as a one-line `InputError` naming the option."""
    from simulator.catalog import validation_error_to_input_error
    try:
        return PlanOptions(**values)
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, None) from None
