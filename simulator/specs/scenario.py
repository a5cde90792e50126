"""Scenario files: the pydantic schema of a YAML scenario, and loading it with one-line errors.

A scenario holds one workload (arrivals, lengths, shared prefixes), optional SLOs, and one or more
named deployments that all serve the same generated requests (same seed), for side by side
comparison. `ctxplan schema` prints the JSON Schema of `ScenarioSpec`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import Field, ValidationError, model_validator

from simulator.catalog import validation_error_to_input_error
from simulator.engine.cluster import RouterPolicy
from simulator.errors import InputError
from simulator.costs.costmodel import AttentionImpl
from simulator.costs.hardware import PricingTier
from simulator.specs.base import (MAX_DESCRIPTION_CHARS, MAX_HORIZON_S, MAX_NAME_CHARS, MAX_PRICE_USD, MAX_REQUESTS,
                                  MAX_SCENARIO_BYTES, MAX_TOKENS, _Strict)
from simulator.specs.engine_spec import EngineSpec
from simulator.specs.parallel import expert_parallel_allowed
from simulator.specs.paths import FileRef, HardwareRef, ModelRef, OptionalHardwareRef, path_state, read_text_file
from simulator.specs.yamlio import load_yaml_text

# ----- length distributions -----------------------------------------------------------------

class _LengthBase(_Strict):
    min: int = Field(default=1, ge=1, le=MAX_TOKENS, description="clip samples below this many tokens")
    max: int | None = Field(default=None, ge=1, le=MAX_TOKENS, description="clip samples above this many tokens "
                            "(the upper tail the service's work bounds use)")

    @model_validator(mode="after")
    def _bounds(self):
        if self.max is not None and self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        return self


class ConstantLength(_LengthBase):
    dist: Literal["constant"]
    value: int = Field(ge=1, le=MAX_TOKENS, description="tokens")


class UniformLength(_LengthBase):
    dist: Literal["uniform"]
    low: int = Field(ge=1, le=MAX_TOKENS)
    high: int = Field(ge=1, le=MAX_TOKENS)

    @model_validator(mode="after")
    def _order(self):
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must be >= low ({self.low})")
        return self


class NormalLength(_LengthBase):
    dist: Literal["normal"]
    mean: float = Field(gt=0, le=MAX_TOKENS)
    std: float = Field(ge=0, le=MAX_TOKENS)


class LognormalLength(_LengthBase):
    dist: Literal["lognormal"]
    median: float = Field(gt=0, le=MAX_TOKENS, description="exp(mu), tokens")
    sigma: float = Field(ge=0, le=5, description="standard deviation of log(tokens)")


class EmpiricalLength(_LengthBase):
    dist: Literal["empirical"]
    path: FileRef = Field(description="CSV file, sampled with replacement")
    column: str


LengthDist = Annotated[Union[ConstantLength, UniformLength, NormalLength, LognormalLength, EmpiricalLength],
                       Field(discriminator="dist")]


# ----- arrivals -----------------------------------------------------------------------------

class PoissonArrivals(_Strict):
    process: Literal["poisson"]
    rate_per_s: float = Field(gt=0, le=1e6)


class GammaArrivals(_Strict):
    process: Literal["gamma"]
    rate_per_s: float = Field(gt=0, le=1e6)
    cv: float = Field(gt=0, le=100, description="coefficient of variation of inter-arrival gaps (1 = Poisson)")


class ConstantArrivals(_Strict):
    process: Literal["constant"]
    rate_per_s: float = Field(gt=0, le=1e6)


class TraceArrivals(_Strict):
    process: Literal["trace"]
    path: FileRef = Field(description="CSV with arrival_time_s,prompt_tokens,output_tokens or Azure "
                                      "TIMESTAMP,ContextTokens,GeneratedTokens")
    time_scale: float = Field(default=1.0, gt=0, le=1e6, description="inter-arrival gaps are divided by this")


Arrivals = Annotated[Union[PoissonArrivals, GammaArrivals, ConstantArrivals, TraceArrivals],
                     Field(discriminator="process")]

MAX_USERS = 1_000_000


class ConcurrencyArrivals(_Strict):
    """A closed loop, as GuideLLM's `concurrent`, genai-perf's `--concurrency` and vLLM's
    `--max-concurrency` benchmarks run: `users` clients start at time 0; each sends its next request
    `think_time_s` after its previous one finished. A request's latencies count from when its user sent it."""
    process: Literal["concurrency"]
    users: int = Field(ge=1, le=MAX_USERS)
    think_time_s: float = Field(default=0.0, ge=0, le=MAX_HORIZON_S)


class AllAtOnceArrivals(_Strict):
    """Every request queued at time 0: offline throughput, as `trtllm-bench throughput` and vLLM's
    `benchmark_throughput` measure it."""
    process: Literal["all_at_once"]


WorkloadArrivals = Annotated[Union[PoissonArrivals, GammaArrivals, ConstantArrivals, TraceArrivals,
                                   ConcurrencyArrivals, AllAtOnceArrivals], Field(discriminator="process")]
COUNTED_ARRIVALS = (ConcurrencyArrivals, AllAtOnceArrivals)     # need num_requests; no rate, no horizon


class SharedPrefix(_Strict):
    id: str = Field(min_length=1)
    tokens: int = Field(ge=1, le=MAX_TOKENS, description="tokens shared by every request that uses this prefix")
    probability: float = Field(gt=0, le=1, description="share of requests that start with it")


class WorkloadSpec(_Strict):
    num_requests: int | None = Field(default=None, ge=1, le=MAX_REQUESTS)
    horizon_s: float | None = Field(default=None, gt=0, le=MAX_HORIZON_S, description="no arrivals after this time")
    arrival: WorkloadArrivals
    prompt_tokens: LengthDist | None = Field(default=None, description="tokens after any shared prefix")
    output_tokens: LengthDist | None = None
    shared_prefixes: list[SharedPrefix] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self):
        is_trace = isinstance(self.arrival, TraceArrivals)
        if not is_trace and self.num_requests is None and self.horizon_s is None:
            raise ValueError("set num_requests or horizon_s (or use a trace)")
        if isinstance(self.arrival, COUNTED_ARRIVALS):
            if self.num_requests is None or self.horizon_s is not None:
                raise ValueError(f"arrival process {self.arrival.process!r} needs num_requests and no horizon_s")
            users = getattr(self.arrival, "users", 1)
            if users > self.num_requests:
                raise ValueError(f"arrival.users ({users}) exceeds num_requests ({self.num_requests}); "
                                 f"allowed: 1..num_requests")
        if not is_trace and (self.prompt_tokens is None or self.output_tokens is None):
            raise ValueError("prompt_tokens and output_tokens are required unless arrivals come from a trace")
        if sum(p.probability for p in self.shared_prefixes) > 1 + 1e-9:
            raise ValueError("shared_prefixes probabilities must sum to <= 1")
        if len({p.id for p in self.shared_prefixes}) != len(self.shared_prefixes):
            raise ValueError("shared_prefixes ids must be unique")
        return self


class SLOSpec(_Strict):
    ttft_s: float | None = Field(default=None, gt=0, le=MAX_HORIZON_S)
    tpot_s: float | None = Field(default=None, gt=0, le=MAX_HORIZON_S)


WeightDtype = Literal["bf16", "fp16", "fp8", "fp4", "int8", "int4"]
KVDtype = Literal["bf16", "fp16", "fp8", "int4"]


class PrefillPoolSpec(_Strict):
    """Disaggregated serving: a separate prefill pool; the deployment's own fields describe the decode pool."""
    hardware: OptionalHardwareRef = Field(default=None, description="catalog name or profile YAML path; "
                                          "defaults to the deployment's hardware")
    tensor_parallel: int = Field(default=1, ge=1, le=1024)
    replicas: int = Field(default=1, ge=1, le=100_000)
    transfer_gb_s: float | None = Field(default=None, gt=0, le=1e6, description="KV transfer link per GPU, GB/s; "
                                        "default: the scale-out link of the slower pool's hardware")


class DeploymentSpec(_Strict):
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    model: ModelRef
    hardware: HardwareRef
    replicas: int = Field(default=1, ge=1, le=100_000)
    tensor_parallel: int = Field(default=1, ge=1, le=1024)
    weight_dtype: WeightDtype = "bf16"
    kv_cache_dtype: KVDtype = "bf16"
    pricing: PricingTier = PricingTier.ON_DEMAND
    price_per_gpu_hour_usd: float | None = Field(default=None, ge=0, le=MAX_PRICE_USD,
                                                 description="overrides the catalog price")
    router: RouterPolicy = RouterPolicy.ROUND_ROBIN
    engine: EngineSpec = Field(default_factory=EngineSpec)
    context_parallel: int = Field(default=1, ge=1, le=1024, description="GPUs each sequence is sharded over "
                                  "(ring attention)")
    pipeline_parallel: int = Field(default=1, ge=1, le=256)
    expert_parallel: int = Field(default=1, ge=1, le=1024, description="1, or tensor_parallel: MoE experts "
                                 "placed whole across the tensor-parallel group, with all-to-all")
    attention_impl: AttentionImpl = "flash"
    preemption_mode: Literal["recompute", "swap"] = Field(default="recompute", description="swap: preempted "
                                                          "requests move their KV to host memory")
    kv_offload: bool = Field(default=False, description="evicted prefix-cache blocks stay in host memory and "
                             "reload over the host link instead of being prefilled again")
    kv_quality_penalty: float | None = Field(default=None, ge=0, le=1, description="accuracy lost to KV "
                                             "compression; default from catalog/quality.yaml by kv_cache_dtype")
    prefill_pool: PrefillPoolSpec | None = Field(default=None, description="disaggregated prefill")

    @model_validator(mode="after")
    def _expert_parallel(self):
        if not expert_parallel_allowed(self.tensor_parallel, self.expert_parallel):
            raise ValueError(f"expert_parallel must be 1 or tensor_parallel ({self.tensor_parallel}), "
                             f"got {self.expert_parallel}")
        return self


class ScenarioSpec(_Strict):
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    description: str = Field(default="", max_length=MAX_DESCRIPTION_CHARS)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    max_sim_time_s: float | None = Field(default=None, gt=0, le=MAX_HORIZON_S,
                                         description="hard stop; unfinished requests are counted")
    workload: WorkloadSpec
    slo: SLOSpec = Field(default_factory=SLOSpec)
    deployments: list[DeploymentSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self):
        names = [d.name for d in self.deployments]
        if len(set(names)) != len(names):
            raise ValueError(f"deployment names must be unique, got {names}")
        return self


def read_scenario_mapping(path: Path) -> dict:
    """The parsed YAML mapping of a scenario file, or a one-line `InputError`."""
    if path_state(path) == "missing":
        raise InputError("scenario file not found", file=str(path))
    data = load_yaml_text(read_text_file(path, max_bytes=MAX_SCENARIO_BYTES), str(path))
    if not isinstance(data, dict):
        raise InputError("a scenario must be a YAML mapping", file=str(path))
    return data


def validate_scenario(model, data: dict, path: Path):
    """`model.model_validate(data)` with errors located in `path`; returns (spec, folder for relative paths)."""
    try:
        return model.model_validate(data), path.resolve().parent
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, str(path)) from None


def load_scenario(path: str | Path) -> tuple[ScenarioSpec, Path]:
    """Parse and validate a serving scenario file; returns the spec and the folder relative paths resolve against."""
    path = Path(path)
    data = read_scenario_mapping(path)
    if "workload" not in data and any(key in data for key in ("queries", "conversations", "corpus")):
        raise InputError("this is a comparison scenario (queries over a corpus, or conversations); "
                         "run it with: ctxplan compare " + str(path), file=str(path))
    return validate_scenario(ScenarioSpec, data, path)
