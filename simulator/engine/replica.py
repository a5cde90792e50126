"""One replica's serving engine as a SimPy process: schedule, price, wait, update, repeat.

    loop:
        batch = scheduler.schedule()                      # {request_id: num_new_tokens}
        step_s = costmodel.iteration_time_s(batch shapes)
        yield env.timeout(step_s)
        scheduler.update(batch, env.now)                  # tokens emitted at the end of the step

The engine sleeps on an event when it has nothing to do and the router wakes it. This loop is the
step-by-step reference (`--exact`); simulator/engine/fast/skip.py runs the same schedule jumping from event
to event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import simpy

from simulator.costs import costmodel
from simulator.costs.costmodel import IterationCostParams
from simulator.engine.request import Request, Status
from simulator.engine.scheduler import ScheduledBatch, Scheduler


@dataclass(slots=True)
class EngineStats:
    num_iterations: int = 0
    num_engine_steps: int = 0                # loop passes: one per iteration, or one per skipped stretch
    busy_s: float = 0.0
    kv_usage_time_integral: float = 0.0     # sum of usage x step seconds
    kv_usage_peak: float = 0.0
    batch_size_counts: Counter = field(default_factory=Counter)   # sequences per step -> steps
    num_batched_tokens_sum: int = 0


class ReplicaEngine:
    def __init__(self, env: simpy.Environment, index: int, scheduler: Scheduler,
                 cost: IterationCostParams, on_done: Callable[[Request], None]) -> None:
        self.env = env
        self.index = index
        self.scheduler = scheduler
        self.cost = cost
        self.on_done = on_done
        self.stats = EngineStats()
        self._wake: simpy.Event | None = None
        self._global_layers = global_only_layers(cost)
        self.timeline: list[tuple[float, float, int, int]] | None = None   # (time, KV usage, waiting, running)

    def submit(self, request: Request) -> None:
        request.replica = self.index
        reason = self.scheduler.admission_error(request)
        if reason is not None:
            request.status = Status.REJECTED
            request.reject_reason = reason
            self.on_done(request)
            return
        self.scheduler.add_request(request)
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def run(self):
        env, scheduler, stats = self.env, self.scheduler, self.stats
        while True:
            if not scheduler.has_work():
                self._wake = env.event()
                yield self._wake
                self._wake = None
            batch = scheduler.schedule()
            if not batch.requests:
                raise RuntimeError(f"replica {self.index}: no request schedulable with "
                                   f"{len(scheduler.waiting)} waiting and {len(scheduler.running)} running")
            step_s = step_time_s(self.cost, batch, self._global_layers)
            stats.num_batched_tokens_sum += sum(batch.num_new_tokens.values())
            self._record_step(batch.requests, len(batch.requests), scheduler.kv.usage(), step_s)
            yield env.timeout(step_s)
            for request in scheduler.update(batch, env.now):
                self.on_done(request)

    def _record_step(self, started: list[Request], size: int, usage: float, step_s: float) -> None:
        """Statistics of one scheduled step (and the timeline when traced); stamps first scheduling."""
        now, stats, scheduler = self.env.now, self.stats, self.scheduler
        for request in started:
            if request.first_scheduled_s < 0:
                request.first_scheduled_s = now
        if self.timeline is not None:
            self.timeline.append((now, usage, len(scheduler.waiting), len(scheduler.running)))
        stats.num_engine_steps += 1
        stats.num_iterations += 1
        stats.busy_s += step_s
        stats.kv_usage_time_integral += usage * step_s
        if usage > stats.kv_usage_peak:
            stats.kv_usage_peak = usage
        stats.batch_size_counts[size] += 1

    def finalize(self) -> None:
        """Write back any state kept implicitly (nothing here; see simulator/engine/fast/skip.py)."""


def global_only_layers(cost: IterationCostParams) -> int:
    """Layer count when every layer is global (decode attention then sums in closed form), else 0."""
    groups = cost.layer_groups
    return groups[0].num_layers if len(groups) == 1 and groups[0].window_tokens is None else 0


def step_time_s(cost: IterationCostParams, batch: ScheduledBatch, global_layers: int | None = None) -> float:
    """Predicted seconds of one scheduled batch (before `Scheduler.update` advances its counters)."""
    if global_layers is None:
        global_layers = global_only_layers(cost)
    prefill_chunks = []
    num_decodes = 0
    decode_context_sum = 0
    decode_attended = 0
    num_samples = 0
    for request in batch.requests:
        context = request.num_computed_tokens
        num_new = batch.num_new_tokens[request.request_id]
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
    if batch.transfer_tokens:     # swapped KV crosses the host link before the step's compute (not overlapped)
        step_s += costmodel.transfer_time_s(cost, batch.transfer_tokens, cost.host_link_bytes_per_s)
    return step_s
