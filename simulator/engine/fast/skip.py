"""Skip-ahead: a stepper that jumps from event to event, with the step-by-step stepper's results.

It plugs into the one engine loop (simulator/engine/replica.py). The scheduler is a
`ClockedScheduler` (simulator/engine/fast/clock.py): decoding requests advance on a shared
clock, so a step costs O(1) Python for its decodes plus the work of its prefill chunks. When a
step is decode-only (every running request decodes, nothing is admitted, nothing preempted), the
next iterations are too until an event, and for a model whose layers are all global iteration k
of such a stretch costs

    t_k = t_0 + k * delta        (decode attention grows by B tokens of KV per iteration)

so K iterations take K t_0 + delta K (K - 1) / 2 and iteration k starts at
s_k = now + k t_0 + delta k (k - 1) / 2. The stretch ends at the first of:

    - the next arrival: the iteration that starts at or after it must be scheduled normally;
    - the first completion (the top of the clock's completion heap);
    - the KV pool running short: block needs are arithmetic in the clock's phase counts, and the
      iteration that would need more blocks than are free must be scheduled normally;
    - a hard stop of the run;
    - where the engine's host work runs beside the GPU and is the longer (a host-bound step: each takes
      the host's time, delta 0), the last iteration whose GPU share is still below the host's.

The whole stretch is one SimPy timeout. Engine statistics are advanced per stretch: batch sizes
and times in closed form, the KV usage integral by an O(K) loop over the stretch's iterations
(`ClockedScheduler.usage_time_integral`); per-request timestamps are written when a request leaves
the clock. The step-by-step stepper (`exact=True`) stays the reference; tests compare the two.
Whether skip-ahead applies is decided in one place, `why_not_skip_ahead`, which says why not.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from simulator.costs import costmodel
from simulator.costs.costmodel import IterationCostParams
from simulator.engine.fast.clock import ClockedScheduler
from simulator.engine.scheduler import Scheduler
from simulator.engine.setup import ReplicaSetup
from simulator.engine.step import Step, global_only_layers, step_time_s


def why_not_skip_ahead(setup: ReplicaSetup, *, exact: bool, disaggregated: bool, dependent_calls: bool) -> str | None:
    """None when a deployment can run with skip-ahead, else why it runs step by step."""
    if exact:
        return "the step-by-step reference was asked for (--exact)"
    if disaggregated:
        return "disaggregated serving: handoffs reach the decode pool at times only the prefill pool knows"
    if dependent_calls:
        return "dependent calls (map-reduce, chat turns) arrive at times a stretch cannot foresee"
    if setup.policy.prefill_first:
        return (f"engine policy {setup.policy.name}: unmixed prefill batches and a new-token ratio that changes "
                "every decode step")
    if setup.full_blocks_for_tokens is not None or not global_only_layers(setup.cost):
        return "windowed layers: decode attention and block counts are not linear in the context"
    if setup.scheduler.max_num_batched_tokens < setup.scheduler.max_num_seqs:
        return "max_num_batched_tokens < max_num_seqs: a step cannot hold every clocked decode"
    return None


def start_times_below(now: float, t0: float, delta: float, limit: float, k_max: int) -> int:
    """Number of iterations k = 0, 1, ... (at most k_max) whose start s_k = now + k t0 + delta k(k-1)/2 < limit."""
    if limit <= now:
        return 0
    if math.isinf(limit):
        return k_max
    budget = limit - now
    if delta > 0:   # delta/2 k^2 + (t0 - delta/2) k - budget < 0
        b = t0 - delta / 2
        k = int((-b + math.sqrt(b * b + 2 * delta * budget)) / delta)
    else:
        k = int(budget / t0)
    k = max(0, min(k_max, k + 2))
    while k > 0 and now + (k - 1) * t0 + delta * (k - 1) * (k - 2) / 2 >= limit:
        k -= 1
    return k


class SkipStepper:
    """Clocked decodes, and decode-only stretches run as one timeout (see the module docstring)."""

    def __init__(self, scheduler: Scheduler, cost: IterationCostParams, index: int,
                 next_arrival_s: Callable[[int], float], stop_s: float = math.inf) -> None:
        self.scheduler = scheduler
        self.clock = ClockedScheduler(scheduler)
        self.cost = cost
        self.index = index
        self.global_layers = global_only_layers(cost)
        # the GPU's share of a step where the engine's host work runs beside it (a host-bound stretch's bound)
        self.gpu_cost = (dataclasses.replace(cost, host_step_s=0.0, host_step_s_per_sequence=0.0)
                         if cost.host_overlapped and (cost.host_step_s or cost.host_step_s_per_sequence) else None)
        self.next_arrival_s = next_arrival_s
        self.stop_s = stop_s
        # the loop's calls go straight to the clock (bound methods: no extra Python frame per step)
        self.has_work = scheduler.has_work
        self.schedule = self.clock.schedule_step            # -> Step
        self.finish = self.clock.finish_step                # (step, now_s, step_s) -> finished requests
        self.advance = self.clock.advance                   # (k_count, start_s, t0, delta) -> finished requests
        self.usage_time_integral = self.clock.usage_time_integral

    def finalize(self) -> None:
        self.clock.unclock_all()

    def stretch(self, step: Step, t0: float, now: float) -> tuple[int, float] | None:
        """(iterations, per-iteration growth) of a decode-only stretch starting with `step`, or None."""
        clock = self.clock
        if step.per_request or step.requests or clock.prefilling:
            return None
        next_arrival = self.next_arrival_s(self.index)
        if next_arrival <= now + t0:             # the next iteration must see an arrival: nothing to skip
            return None
        # each iteration adds one token of KV per sequence and layer; decode attention is linear in it
        delta = costmodel.decode_attention_time_s(self.cost, self.global_layers * step.num_clocked)
        d = clock.iteration
        k_max = clock.next_completion() - d
        if self.gpu_cost is not None:
            host_s = costmodel.host_time_s(self.cost, step.num_clocked)
            if t0 <= host_s:     # host-bound: every step takes host_s while the GPU's growing share stays below it
                gpu_s = step_time_s(self.gpu_cost, step, self.global_layers)
                if delta > 0:
                    k_max = min(k_max, 1 + int((host_s - gpu_s) / delta))
                delta = 0.0
        k = start_times_below(now, t0, delta, next_arrival, k_max)
        if not math.isinf(self.stop_s):          # every iteration must also end before the hard stop
            k = min(k, max(0, start_times_below(now + t0, t0, delta, self.stop_s, k)))
        if k <= 1:
            return None
        free = clock.kv.num_free_blocks
        if clock.blocks_between(d + 1, d + k) > free:
            low, high = 1, k - 1                  # most iterations whose block needs still fit
            while low < high:
                middle = (low + high + 1) // 2
                if clock.blocks_between(d + 1, d + middle) <= free:
                    low = middle
                else:
                    high = middle - 1
            k = low
        return (k, delta) if k > 1 else None
