"""Parallel degrees of one replica, checked against a model in one place.

A replica is tp x cp x pp GPUs: tensor parallelism splits every layer's heads (tp must divide the
attention heads), context parallelism shards each sequence (ring attention), pipeline parallelism
splits the layers into stages (at most one stage per layer). Expert parallelism is not more GPUs:
a mixture-of-experts model may place its experts whole across the tensor-parallel group (ep = tp),
otherwise ep = 1. Scenario files (`specs.scenario.DeploymentSpec`), deployment resolution and the
closed-form estimate all use these checks.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from simulator.costs.model import ModelSpec
from simulator.errors import InputError


class Degree(str, Enum):
    """A parallel degree, by its field name in scenario files and API bodies."""
    TENSOR = "tensor_parallel"
    CONTEXT = "context_parallel"
    PIPELINE = "pipeline_parallel"
    EXPERT = "expert_parallel"


def expert_parallel_allowed(tp: int, ep: int) -> bool:
    """ep is 1 or the tensor-parallel degree (the model-free part of the rule)."""
    return ep in (1, tp)


def valid_tp(model: ModelSpec, tp: int) -> bool:
    return tp >= 1 and model.num_attention_heads % tp == 0


def check_degrees(model: ModelSpec, tp: int, pp: int, ep: int,
                  field: Callable[[Degree], str] = lambda degree: degree.value) -> None:
    """Raise a one-line `InputError` naming `field(degree)` when a degree does not suit `model`."""
    if not valid_tp(model, tp):
        raise InputError(f"must be >= 1 and divide the model's {model.num_attention_heads} attention heads",
                         field=field(Degree.TENSOR), value=tp)
    if not 1 <= pp <= model.num_layers:
        raise InputError(f"at least one stage and at most one per layer ({model.name} has {model.num_layers})",
                         field=field(Degree.PIPELINE), value=pp, allowed=f"1..{model.num_layers}")
    if ep > 1 and not model.is_moe:
        raise InputError(f"{model.name} has no experts", field=field(Degree.EXPERT), value=ep, allowed="1")
    if not expert_parallel_allowed(tp, ep):
        raise InputError("must be 1, or equal tensor_parallel for a mixture-of-experts model",
                         field=field(Degree.EXPERT), value=ep, allowed=f"1 or {tp}")
