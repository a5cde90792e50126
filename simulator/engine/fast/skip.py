"""Skip-ahead: the engine loop jumping from event to event, with the step-by-step loop's results.

The scheduler is a `ClockedScheduler` (simulator/engine/fast/clock.py): decoding requests advance on a shared
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
    - a hard stop of the run.

The whole stretch is one SimPy timeout. Engine statistics are advanced per stretch: batch sizes
and times in closed form, the KV usage integral by an O(K) loop over the stretch's iterations
(`DecodeClock.usage_time_integral`); per-request timestamps are written when a request leaves the clock.
The step-by-step loop (`exact=True`, simulator/engine/replica.py) stays the reference; tests compare the two.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import simpy

from simulator.costs import costmodel
from simulator.engine.fast.clock import ClockedScheduler, Step
from simulator.costs.costmodel import IterationCostParams
from simulator.engine.replica import ReplicaEngine, step_time_s
from simulator.engine.request import Request


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


class SkipEngine(ReplicaEngine):
    def __init__(self, env: simpy.Environment, index: int, scheduler: ClockedScheduler,
                 cost: IterationCostParams, on_done: Callable[[Request], None],
                 next_arrival_s: Callable[[int], float], stop_s: float = math.inf) -> None:
        super().__init__(env, index, scheduler, cost, on_done)
        if not self._global_layers:
            raise ValueError("skip-ahead needs a model whose layers are all global")
        self.next_arrival_s = next_arrival_s
        self.stop_s = stop_s

    def finalize(self) -> None:
        self.scheduler.unclock_all()

    def run(self):
        env, scheduler, stats = self.env, self.scheduler, self.stats
        kv = scheduler.kv
        while True:
            if not scheduler.has_work():
                self._wake = env.event()
                yield self._wake
                self._wake = None
            step = scheduler.schedule_step()
            if step.exact is not None:
                batch = step.exact
                size, started = len(batch.requests), batch.requests
                step_s = step_time_s(self.cost, batch, self._global_layers)
                stats.num_batched_tokens_sum += sum(batch.num_new_tokens.values())
            else:
                size, started = step.num_clocked + len(step.explicit), step.explicit
                step_s = self._step_time_s(step) if size else 0.0
                stats.num_batched_tokens_sum += step.num_clocked + (sum(step.explicit_new) if step.explicit_new else 0)
            if not size:
                raise RuntimeError(f"replica {self.index}: no request schedulable with "
                                   f"{len(scheduler.waiting)} waiting and {len(scheduler.running)} running")
            now = env.now
            used = kv.pool.num_used_blocks
            self._record_step(started, size, used / kv.pool.num_blocks, step_s)
            if step.exact is None and not step.explicit and not scheduler.prefilling:
                k_count, delta = self._plan(step, step_s, now)
                if k_count > 1:
                    integral, last_usage = scheduler.usage_time_integral(k_count, used, step_s, delta)
                    elapsed = k_count * step_s + delta * k_count * (k_count - 1) / 2
                    stats.num_iterations += k_count - 1
                    stats.busy_s += elapsed - step_s
                    stats.kv_usage_time_integral += integral
                    stats.kv_usage_peak = max(stats.kv_usage_peak, last_usage)
                    stats.batch_size_counts[size] += k_count - 1
                    stats.num_batched_tokens_sum += size * (k_count - 1)
                    yield env.timeout(elapsed)
                    for request in scheduler.advance(k_count, now, step_s, delta):
                        self.on_done(request)
                    continue
            yield env.timeout(step_s)
            for request in scheduler.finish_step(step, env.now, step_s):
                self.on_done(request)

    def _step_time_s(self, step: Step) -> float:
        """`engine.step_time_s` for a clocked step: decodes in aggregate, the rest per request."""
        prefill_chunks = []
        num_decodes = num_samples = step.num_clocked
        decode_context_sum = step.clocked_context_sum
        for request, num_new in zip(step.explicit, step.explicit_new):
            context = request.num_computed_tokens
            if context + num_new >= request.num_tokens:
                num_samples += 1
            if num_new == 1:
                num_decodes += 1
                decode_context_sum += context
            else:
                prefill_chunks.append((context, num_new))
        attended = self._global_layers * (decode_context_sum + num_decodes)
        step_s = costmodel.iteration_time_s(self.cost, prefill_chunks, num_decodes, attended, num_samples)
        if step.transfer_tokens:
            step_s += costmodel.transfer_time_s(self.cost, step.transfer_tokens, self.cost.host_link_bytes_per_s)
        return step_s

    def _plan(self, step: Step, t0: float, now: float) -> tuple[int, float]:
        """Iterations the decode-only batch can run from now in one step, and the per-iteration growth delta."""
        scheduler = self.scheduler
        next_arrival = self.next_arrival_s(self.index)
        if next_arrival <= now + t0:             # the next iteration must see an arrival: nothing to skip
            return 1, 0.0
        # each iteration adds one token of KV per sequence and layer; decode attention is linear in it
        delta = costmodel.decode_attention_time_s(self.cost, self._global_layers * step.num_clocked)
        d = scheduler.iteration
        k = start_times_below(now, t0, delta, next_arrival, scheduler.next_completion() - d)
        if not math.isinf(self.stop_s):          # every iteration must also end before the hard stop
            k = min(k, max(0, start_times_below(now + t0, t0, delta, self.stop_s, k)))
        if k <= 1:
            return k, delta
        free = scheduler.kv.pool.num_free_blocks
        if scheduler.blocks_between(d + 1, d + k) > free:
            low, high = 1, k - 1                  # most iterations whose block needs still fit
            while low < high:
                middle = (low + high + 1) // 2
                if scheduler.blocks_between(d + 1, d + middle) <= free:
                    low = middle
                else:
                    high = middle - 1
            k = low
        return k, delta
