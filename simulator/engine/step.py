"""One engine iteration as both steppers plan it, and its price: the one `step_time_s`.

A step lists the requests given tokens one by one (`requests`, `num_new`; their
`num_computed_tokens` is the context they attend to) and, for the skip-ahead stepper, decodes
counted in aggregate on the decode clock (`num_clocked` requests whose contexts sum to
`clocked_context_sum`). The step-by-step path has no clocked decodes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.costs import costmodel
from simulator.costs.costmodel import IterationCostParams
from simulator.engine.request import Request


@dataclass(slots=True)
class Step:
    requests: list[Request] = field(default_factory=list)    # in schedule order
    num_new: list[int] = field(default_factory=list)         # tokens each computes this step
    transfer_tokens: int = 0            # KV tokens swapped out or in over the host link this step
    num_clocked: int = 0                # decodes on the decode clock, one token each
    clocked_context_sum: int = 0
    per_request: bool = True            # every running request is in `requests` (the exact path)


def global_only_layers(cost: IterationCostParams) -> int:
    """Layer count when every layer is global (decode attention then sums in closed form), else 0."""
    groups = cost.layer_groups
    return groups[0].num_layers if len(groups) == 1 and groups[0].window_tokens is None else 0


def step_time_s(cost: IterationCostParams, step: Step, global_layers: int) -> float:
    """Predicted seconds of one step (before its counters advance): compute, then any host-link copy."""
    prefill_chunks = []
    num_decodes = num_samples = step.num_clocked
    decode_context_sum = step.clocked_context_sum
    decode_attended = 0
    for request, num_new in zip(step.requests, step.num_new):
        context = request.num_computed_tokens
        if context + num_new >= request.num_tokens:
            num_samples += 1
        if num_new == 1:
            num_decodes += 1
            if global_layers:
                decode_context_sum += context
            else:
                decode_attended += costmodel.decode_attended_tokens(cost, context)
        else:
            prefill_chunks.append((context, num_new))
    if global_layers:
        decode_attended = global_layers * (decode_context_sum + num_decodes)
    step_s = costmodel.iteration_time_s(cost, prefill_chunks, num_decodes, decode_attended, num_samples)
    if step.transfer_tokens:     # swapped KV crosses the host link before the step's compute (not overlapped)
        step_s += costmodel.transfer_time_s(cost, step.transfer_tokens, cost.host_link_bytes_per_s)
    return step_s
