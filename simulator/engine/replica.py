"""One replica's serving engine as a SimPy process: one loop, a stepper plans each step.

    loop:
        step = stepper.schedule()                         # who computes how many tokens
        step_s = step_time_s(cost, step)                  # the one price of a step
        stretch = stepper.stretch(step, step_s, now)      # skip-ahead: K decode-only iterations at once
        yield env.timeout(step_s or the stretch's seconds)
        finished = stepper.finish(step) or stepper.advance(stretch)   # tokens emitted at the end

Two steppers share this loop. `ExactStepper` runs the scheduler step by step (the `--exact`
reference); `SkipStepper` (simulator/engine/fast/skip.py) schedules decodes on a shared clock and
jumps over decode-only stretches. They differ only in how they plan a step. The engine sleeps on
an event when it has nothing to do and the router wakes it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import simpy

from simulator.costs.costmodel import IterationCostParams
from simulator.engine.request import Request, Status
from simulator.engine.scheduler import Scheduler
from simulator.engine.step import Step, global_only_layers, step_time_s


@dataclass(slots=True)
class EngineStats:
    num_iterations: int = 0
    num_engine_steps: int = 0                # loop passes: one per iteration, or one per skipped stretch
    busy_s: float = 0.0
    kv_usage_time_integral: float = 0.0     # sum of usage x step seconds
    kv_usage_peak: float = 0.0
    batch_size_counts: Counter = field(default_factory=Counter)   # sequences per step -> steps
    num_batched_tokens_sum: int = 0


class ExactStepper:
    """Every iteration scheduled and applied request by request."""

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def has_work(self) -> bool:
        return self.scheduler.has_work()

    def schedule(self) -> Step:
        return self.scheduler.schedule()

    def stretch(self, step: Step, step_s: float, now_s: float) -> tuple[int, float] | None:
        return None

    def finish(self, step: Step, now_s: float, step_s: float) -> list[Request]:
        return self.scheduler.update(step, now_s)

    def finalize(self) -> None:
        """Nothing is kept implicitly."""


class ReplicaEngine:
    def __init__(self, env: simpy.Environment, index: int, stepper, cost: IterationCostParams,
                 on_done: Callable[[Request], None]) -> None:
        self.env = env
        self.index = index
        self.stepper = stepper
        self.scheduler: Scheduler = stepper.scheduler
        self.cost = cost
        self.on_done = on_done
        self.stats = EngineStats()
        self._wake: simpy.Event | None = None
        self._global_layers = global_only_layers(cost)
        self.timeline: list[tuple[float, float, int, int]] | None = None   # (time, KV usage, waiting, running)

    def submit(self, request: Request, preloaded_tokens: int = 0) -> None:
        """A request routed here; `preloaded_tokens` of its KV were computed by a prefill pool."""
        request.replica = self.index
        reason = self.scheduler.admission_error(request)
        if reason is not None:
            request.status = Status.REJECTED
            request.reject_reason = reason
            self.on_done(request)
            return
        if preloaded_tokens:
            self.scheduler.kv.add_preloaded(request, preloaded_tokens)
        self.scheduler.add_request(request)
        if self._wake is not None and not self._wake.triggered:
            self._wake.succeed()

    def run(self):
        env, stepper, stats, kv = self.env, self.stepper, self.stats, self.scheduler.kv
        while True:
            if not stepper.has_work():
                self._wake = env.event()
                yield self._wake
                self._wake = None
            step = stepper.schedule()
            size = step.num_clocked + len(step.requests)
            if not size:
                raise RuntimeError(f"replica {self.index}: no request schedulable with "
                                   f"{len(self.scheduler.waiting)} waiting and {len(self.scheduler.running)} running")
            step_s = step_time_s(self.cost, step, self._global_layers)
            now, used = env.now, kv.num_used_blocks
            usage = used / kv.num_blocks
            for request in step.requests:
                if request.first_scheduled_s < 0:
                    request.first_scheduled_s = now
            if self.timeline is not None:
                self.timeline.append((now, usage, len(self.scheduler.waiting), len(self.scheduler.running)))
            stats.num_engine_steps += 1            # the engine's statistics: written here and only here
            stats.num_iterations += 1
            stats.busy_s += step_s
            stats.num_batched_tokens_sum += step.num_clocked
            if step.num_new:                       # decode-only clocked steps have none: skip the sum
                stats.num_batched_tokens_sum += sum(step.num_new)
            stats.kv_usage_time_integral += usage * step_s
            if usage > stats.kv_usage_peak:
                stats.kv_usage_peak = usage
            stats.batch_size_counts[size] += 1
            # a stretch is decode-only: a step with explicit requests never is (the exact stepper's always have some)
            stretch = None if step.requests else stepper.stretch(step, step_s, now)
            if stretch is None:
                yield env.timeout(step_s)
                finished = stepper.finish(step, env.now, step_s)
            else:
                k_count, delta = stretch
                integral, last_usage = stepper.usage_time_integral(k_count, used, step_s, delta)
                elapsed = k_count * step_s + delta * k_count * (k_count - 1) / 2
                more = k_count - 1                     # the stretch's iterations after the first
                stats.num_iterations += more
                stats.busy_s += elapsed - step_s
                stats.kv_usage_time_integral += integral
                if last_usage > stats.kv_usage_peak:
                    stats.kv_usage_peak = last_usage
                stats.batch_size_counts[size] += more
                stats.num_batched_tokens_sum += size * more
                yield env.timeout(elapsed)
                finished = stepper.advance(k_count, now, step_s, delta)
            for request in finished:
                self.on_done(request)

    def finalize(self) -> None:
        """Write back any state a stepper keeps implicitly (the decode clock's)."""
        self.stepper.finalize()
