"""One replica's serving engine as a SimPy process: schedule, price, wait, update, repeat.

    loop:
        batch = scheduler.schedule()                      # {request_id: num_new_tokens}
        step_s = costmodel.iteration_time_s(batch shapes)
        yield env.timeout(step_s)
        scheduler.update(batch, env.now)                  # tokens emitted at the end of the step

The engine sleeps on an event when it has nothing to do and the router wakes it. All state is in
per-request token counters, so a later skip-ahead over decode-only stretches can advance many
iterations in closed form.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import math

import numpy as np
import simpy

from simulator import costmodel, skip
from simulator.costmodel import IterationCostParams
from simulator.request import Request, Status
from simulator.scheduler import ScheduledBatch, Scheduler


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
                 cost: IterationCostParams, on_done: Callable[[Request], None],
                 next_arrival_s: Callable[[int], float] | None = None, stop_s: float = math.inf) -> None:
        self.env = env
        self.index = index
        self.scheduler = scheduler
        self.cost = cost
        self.on_done = on_done
        self.stats = EngineStats()
        self._wake: simpy.Event | None = None
        self._global_layers = global_only_layers(cost)
        self.next_arrival_s = next_arrival_s      # None: step by step (the --exact reference)
        self.stop_s = stop_s

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
            preemptions_before = scheduler.num_preemptions
            batch = scheduler.schedule()
            if not batch.requests:
                raise RuntimeError(f"replica {self.index}: no request schedulable with "
                                   f"{len(scheduler.waiting)} waiting and {len(scheduler.running)} running")
            step_s = step_time_s(self.cost, batch, self._global_layers)
            stats.num_batched_tokens_sum += sum(batch.num_new_tokens.values())
            now = env.now
            for request in batch.requests:
                if request.first_scheduled_s < 0:
                    request.first_scheduled_s = now
            usage = scheduler.kv.usage()
            stats.num_engine_steps += 1
            stats.num_iterations += 1
            stats.busy_s += step_s
            stats.kv_usage_time_integral += usage * step_s
            if usage > stats.kv_usage_peak:
                stats.kv_usage_peak = usage
            stats.batch_size_counts[len(batch.requests)] += 1
            if self._can_skip(batch, preemptions_before):
                stretch = self._plan_skip(batch, step_s, now)
                if stretch is not None and stretch.k_count > 1:
                    yield from self._skip(batch, stretch, now)
                    continue
            yield env.timeout(step_s)
            for request in scheduler.update(batch, env.now):
                self.on_done(request)

    def _can_skip(self, batch: ScheduledBatch, preemptions_before: int) -> bool:
        """A decode-only batch of every running request, nothing admitted or preempted this step."""
        scheduler = self.scheduler
        if self.next_arrival_s is None or not self._global_layers or not scheduler.kv.token_based:
            return False
        if scheduler.num_preemptions != preemptions_before or len(batch.requests) != len(scheduler.running):
            return False
        return all(batch.num_new_tokens[r.request_id] == 1 and r.first_token_s >= 0
                   and r.num_computed_tokens + 1 == r.num_tokens for r in batch.requests)

    def _plan_skip(self, batch: ScheduledBatch, step_s: float, now: float) -> skip.Stretch | None:
        kv = self.scheduler.kv
        next_arrival = self.next_arrival_s(self.index)
        if next_arrival <= now + step_s:             # the next iteration must see an arrival: nothing to skip
            return None
        allocated = np.fromiter((kv.num_blocks_of(r) for r in batch.requests),
                                dtype=np.int64, count=len(batch.requests))
        return skip.plan(self.cost, batch.requests, step_s, self._global_layers, now, next_arrival,
                         self.stop_s, kv.pool.num_free_blocks, allocated, kv.block_size)

    def _skip(self, batch: ScheduledBatch, stretch: skip.Stretch, now: float):
        """Run a planned decode-only stretch in one timeout (see simulator/skip.py)."""
        env, scheduler, stats = self.env, self.scheduler, self.stats
        kv = scheduler.kv
        k_count, t0 = stretch.k_count, stretch.t0
        integral, last_usage = skip.usage_time_integral(stretch.contexts, stretch.allocated,
                                                        kv.pool.num_used_blocks, kv.pool.num_blocks, k_count, t0,
                                                        stretch.delta, kv.block_size)
        elapsed = stretch.elapsed_s
        batch_size = len(batch.requests)
        stats.num_iterations += k_count - 1
        stats.busy_s += elapsed - t0
        stats.kv_usage_time_integral += integral
        stats.kv_usage_peak = max(stats.kv_usage_peak, last_usage)
        stats.batch_size_counts[batch_size] += k_count - 1
        stats.num_batched_tokens_sum += batch_size * (k_count - 1)
        yield env.timeout(elapsed)
        finished = skip.apply(batch.requests, kv, stretch, now)
        if finished:
            scheduler.running = [r for r in scheduler.running if r.status is Status.RUNNING]
        for request in finished:
            self.on_done(request)


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
    return costmodel.iteration_time_s(cost, prefill_chunks, num_decodes, decode_attended, num_samples)
