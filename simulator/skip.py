"""Skip-ahead over decode-only stretches: many engine iterations in one step, with the same result.

Between events the batch is fixed: every running request decodes one token per iteration, nothing
is admitted or preempted, nothing finishes. For a model whose layers are all global, iteration k
of such a stretch costs

    t_k = t_0 + k * delta        (decode attention grows by B tokens of KV per iteration)

so K iterations take K t_0 + delta K (K - 1) / 2 and iteration k starts at
s_k = now + k t_0 + delta k (k - 1) / 2. The stretch ends at the first of:

    - the next arrival: the iteration that starts at or after it must be scheduled normally;
    - the first completion: after min(remaining outputs) iterations;
    - the KV pool running short: block needs grow as sequences cross block boundaries
      (sum_i max(0, ceil((c_i + k + 1) / block_size) - allocated_i) must stay within free blocks);
    - a hard stop of the run.

Blocks are then allocated per request in one call (the same set of blocks leaves the free queue
and the same hashes are cached, only which request holds which block id differs), and per-request
counters, inter-token gaps and engine statistics are advanced in closed form. The step-by-step
loop (`exact=True`) stays the reference; tests compare the two.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator import costmodel
from simulator.costmodel import IterationCostParams
from simulator.request import Request, Status


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


def new_blocks_needed(contexts: np.ndarray, allocated: np.ndarray, k: int, block_size: int) -> int:
    """Blocks the batch must add to run iteration k (iteration 0 is already allocated)."""
    need = -(-(contexts + k + 1) // block_size)
    return int(np.maximum(0, need - allocated).sum())


@dataclass(slots=True)
class Stretch:
    """A planned decode-only stretch: `k_count` iterations, the first costing t0, each next one delta more."""
    k_count: int
    t0: float
    delta: float
    contexts: np.ndarray        # tokens computed per request before iteration 0
    allocated: np.ndarray       # blocks held per request after iteration 0's allocation

    @property
    def elapsed_s(self) -> float:
        return self.k_count * self.t0 + self.delta * self.k_count * (self.k_count - 1) / 2


def plan(cost: IterationCostParams, requests: list[Request], t0: float, layers: int, now: float,
         next_arrival_s: float, stop_s: float, free_blocks: int, allocated: np.ndarray, block_size: int) -> Stretch:
    """The stretch a decode-only batch whose iteration 0 costs t0 can run in one step."""
    batch = len(requests)
    contexts = np.fromiter((r.num_computed_tokens for r in requests), dtype=np.int64, count=batch)
    k = _iterations(cost, requests, t0, layers, now, next_arrival_s, stop_s, free_blocks, allocated, block_size,
                    contexts)
    return Stretch(k[0], t0, k[1], contexts, allocated)


def _iterations(cost, requests, t0, layers, now, next_arrival_s, stop_s, free_blocks, allocated, block_size,
                contexts) -> tuple[int, float]:
    batch = len(requests)
    remaining = min(r.max_output_tokens - r.num_output_tokens for r in requests)
    attended = layers * (int(contexts.sum()) + 2 * batch)
    delta = costmodel.iteration_time_s(cost, [], batch, attended, batch) - t0
    delta = max(delta, 0.0)
    k = start_times_below(now, t0, delta, next_arrival_s, remaining)
    if not math.isinf(stop_s):   # every iteration must also end before the hard stop
        k = min(k, max(0, start_times_below(now + t0, t0, delta, stop_s, remaining)))
    if k <= 1:
        return k, delta
    if new_blocks_needed(contexts, allocated, k - 1, block_size) > free_blocks:
        low, high = 0, k - 1                   # largest iteration index whose needs still fit
        while low < high:
            middle = (low + high + 1) // 2
            if new_blocks_needed(contexts, allocated, middle, block_size) <= free_blocks:
                low = middle
            else:
                high = middle - 1
        k = low + 1
    return k, delta


def usage_time_integral(contexts: np.ndarray, allocated: np.ndarray, used0: int, total: int, k_count: int,
                        t0: float, delta: float, block_size: int) -> tuple[float, float]:
    """(sum over iterations 1..K-1 of usage_k x t_k, usage at the last iteration)."""
    ks = np.arange(1, k_count)
    if ks.size == 0:
        return 0.0, used0 / total
    need = -(-(contexts[None, :] + ks[:, None] + 1) // block_size)
    used = used0 + np.maximum(0, need - allocated[None, :]).sum(axis=1)
    times = t0 + delta * ks
    return float((used * times).sum() / total), float(used[-1] / total)


def apply(requests: list[Request], kv, stretch: Stretch, start: float) -> list[Request]:
    """Advance every request by `stretch.k_count` tokens ending at start + elapsed; returns the finished ones."""
    k_count, t0, delta = stretch.k_count, stretch.t0, stretch.delta
    end_first = start + t0
    end_last = start + k_count * t0 + delta * k_count * (k_count - 1) / 2
    later_gaps = (k_count - 1) * t0 + delta * (k_count - 1) * k_count / 2   # sum of t_1 .. t_{K-1}
    last_step = t0 + delta * (k_count - 1)
    finished = []
    capacity = kv.capacity_tokens
    for request in requests:
        context = request.num_computed_tokens
        if context + k_count > capacity.get(request.request_id, 0) or request.prefix_id >= 0:
            request.num_computed_tokens = context + k_count - 1  # allocate through the last iteration's token
            kv.allocate_slots(request, 1)
        request.num_computed_tokens = context + k_count
        request.num_output_tokens += k_count
        first_gap = end_first - request.last_token_s
        request.itl_sum_s += first_gap + later_gaps
        request.itl_max_s = max(request.itl_max_s, first_gap, last_step if k_count > 1 else first_gap)
        request.last_token_s = end_last
        if request.num_output_tokens >= request.max_output_tokens:
            request.status = Status.FINISHED
            request.finish_s = end_last
            kv.free(request)
            finished.append(request)
    return finished
