"""Decode clock: the decoding requests of a running batch advanced by one shared counter.

Between events every decoding request gains one token per iteration, so its counters are a
function of the engine's iteration count. The clock stores the iteration a clocked request's fields were last
written at (its base); its context at iteration d is `num_computed_tokens + d - base`.
The scheduler keeps only aggregates over the clock (count, sum of contexts, requests per block
phase, a heap of completion iterations), so a decode step costs O(1) Python whatever the batch
size, and a stretch of K decode-only iterations costs O(K) cheap arithmetic (`advance` logs K
iteration times and ends; `usage_time_integral` sums K block-usage terms), not O(K x batch) of
per-request work (see simulator/engine/fast/skip.py). Fields are written back, and the KV-cache
manager syncs the request's block table, when it leaves the clock (it finishes, or a step needs
the exact per-request path).

Block boundaries are arithmetic: with full-attention layers a request holds ceil(context /
block_size) blocks, so it opens a block at every iteration d with d = base - context (mod
block_size); `phase[r]` counts clocked requests with that residue r.

The clocked scheduler holds a per-request `Scheduler` (the --exact reference, with the same
policy) and owns its waiting and running lists through it: admissions and token emission are the
scheduler's, and a step falls back to its `schedule()` when the pool cannot cover the step's
allocations, which is when a preemption can happen.
"""

from __future__ import annotations

import heapq

from simulator.engine.request import Request, Status
from simulator.engine.scheduler import Scheduler, stamp_token
from simulator.engine.step import Step

NEVER = 1 << 62


class IterationLog:
    """End time and duration of each engine iteration still needed by a clocked request.

    A request's largest inter-token gap is the largest duration over its clocked span; the maxima of
    aligned chunks of CHUNK iterations (filled in lazily) make that O(CHUNK + span / CHUNK), not O(span)."""

    CHUNK = 64

    def __init__(self) -> None:
        self.ends: list[float] = []
        self.durations: list[float] = []
        self.origin = 0                       # iteration index of entry 0 (a multiple of CHUNK)
        self._chunk_max: list[float] = []     # max of durations[j * CHUNK:(j + 1) * CHUNK], complete chunks
        self._compact_at = 1 << 16

    def add(self, end_s: float, duration_s: float) -> None:
        self.ends.append(end_s)
        self.durations.append(duration_s)

    def extend(self, start_s: float, k_count: int, t0: float, delta: float) -> None:
        """A stretch of `k_count` iterations from `start_s`, iteration k lasting t0 + k delta."""
        self.durations.extend([t0 + delta * k for k in range(k_count)])
        self.ends.extend([start_s + (k + 1) * t0 + delta * k * (k + 1) / 2 for k in range(k_count)])

    def needs_compaction(self) -> bool:
        return len(self.ends) > self._compact_at

    def compact(self, keep_from: int) -> None:
        """Drop whole chunks of iterations before `keep_from` (no clocked request needs them)."""
        size = self.CHUNK
        cut = (keep_from - self.origin) // size * size
        del self.ends[:cut], self.durations[:cut], self._chunk_max[:cut // size]
        self.origin += cut
        self._compact_at = max(1 << 16, 2 * len(self.ends))

    def end(self, iteration: int) -> float:
        return self.ends[iteration - self.origin]

    def max_duration(self, first: int, stop: int) -> float:
        """Largest duration of iterations first .. stop - 1 (first < stop)."""
        durations, size = self.durations, self.CHUNK
        low, high = first - self.origin, stop - self.origin
        if high - low <= 2 * size:
            return max(durations[low:high])
        maxes = self._chunk_max
        for j in range(len(maxes), len(durations) // size):
            maxes.append(max(durations[j * size:(j + 1) * size]))
        inner_low, inner_high = -(-low // size), high // size
        return max(max(durations[low:inner_low * size], default=0.0), max(maxes[inner_low:inner_high]),
                   max(durations[inner_high * size:high], default=0.0))


class ClockedScheduler:
    def __init__(self, scheduler: Scheduler) -> None:
        config, kv = scheduler.config, scheduler.kv
        if config.max_num_batched_tokens < config.max_num_seqs or not kv.token_based:   # a guard: the decision
            raise ValueError("the decode clock needs full-attention blocks and a token budget >= max_num_seqs")
        self.scheduler = scheduler
        self.kv = kv
        self.iteration = 0                 # iterations run so far: the clock
        self.prefilling: list[Request] = []   # running requests off the clock, in running order
        self.log = IterationLog()
        self._heap: list[tuple[int, int, Request]] = []   # (iteration count after its last token, seq, request)
        self._base: dict[int, int] = {}    # request id -> iteration its fields were last written at
        self._seq: dict[int, int] = {}     # request id -> order of its latest admission, until it is clocked
        self._next_seq = 0
        self.num_clocked = 0
        self._offset_sum = 0               # sum of num_computed_tokens - base over the clock
        self.phase = [0] * config.block_size

    def has_work(self) -> bool:
        return self.scheduler.has_work()

    # ----- the clock ----------------------------------------------------------------------

    def clocked_context_sum(self) -> int:
        return self._offset_sum + self.num_clocked * self.iteration

    def next_completion(self) -> int:
        """Iteration count at which the first clocked request has emitted its last token."""
        return self._heap[0][0] if self._heap else NEVER

    def blocks_between(self, first: int, stop: int) -> int:
        """Blocks the clocked requests open in iterations first .. stop - 1."""
        if stop <= first or not self.num_clocked:
            return 0
        size = len(self.phase)
        cycles, rest = divmod(stop - first, size)
        total = cycles * self.num_clocked
        start = first % size
        for residue in range(start, start + rest):
            total += self.phase[residue % size]
        return total

    def _sequence(self, request: Request) -> None:
        self._seq[request.request_id] = self._next_seq
        self._next_seq += 1

    def _clock(self, request: Request) -> None:
        d = self.iteration
        self._base[request.request_id] = d
        self.num_clocked += 1
        self._offset_sum += request.num_computed_tokens - d
        self.phase[(d - request.num_computed_tokens) % len(self.phase)] += 1
        heapq.heappush(self._heap, (d + request.max_output_tokens - request.num_output_tokens,
                                    self._seq.pop(request.request_id), request))

    def _unclock(self, request: Request) -> None:
        """Write the request's counters and timestamps for the current iteration; the manager syncs its table."""
        base, d = self._base.pop(request.request_id), self.iteration
        context = request.num_computed_tokens
        self.num_clocked -= 1
        self._offset_sum -= context - base
        self.phase[(base - context) % len(self.phase)] -= 1
        tokens = d - base
        if tokens:
            log = self.log
            first_end, last_end = log.end(base), log.end(d - 1)
            stamp_token(request, first_end)
            if tokens > 1:
                request.itl_sum_s += last_end - first_end
                request.itl_max_s = max(request.itl_max_s, log.max_duration(base + 1, d))
            request.last_token_s = last_end
            request.num_computed_tokens = context + tokens
            request.num_output_tokens += tokens
        self.kv.sync_table(request)

    def unclock_all(self) -> None:
        for _, _, request in self._heap:
            self._unclock(request)
        self._heap = []

    def oldest_clock_base(self) -> int:
        return min(self._base.values(), default=self.iteration)

    # ----- one step -----------------------------------------------------------------------

    def schedule_step(self) -> Step:
        """Clocked decodes in aggregate plus prefill chunks and admissions; the exact path when blocks may run out."""
        d, kv, scheduler = self.iteration, self.kv, self.scheduler
        free = kv.num_free_blocks
        decode_blocks = self.phase[d % len(self.phase)] if self.num_clocked else 0
        need = decode_blocks
        budget = scheduler.config.max_num_batched_tokens - self.num_clocked
        plan = []
        if need <= free:
            for request in self.prefilling:
                if budget <= 0:
                    break
                num_new = min(request.num_tokens - request.num_computed_tokens, budget)
                need += kv.new_blocks_needed(request, num_new)
                if need > free:
                    break
                plan.append((request, num_new))
                budget -= num_new
        if need > free:               # someone may be preempted: run this step request by request
            self.unclock_all()
            return scheduler.schedule()
        if decode_blocks:
            kv.reserve_decode_blocks(decode_blocks)
        explicit, explicit_new = [], []
        for request, num_new in plan:
            kv.allocate_slots(request, num_new)
            explicit.append(request)
            explicit_new.append(num_new)
        transfer = 0
        if scheduler.waiting:
            first_admitted = len(explicit)
            scheduler.admit_waiting(budget, explicit, explicit_new)
            for request in explicit[first_admitted:]:
                self._sequence(request)
                self.prefilling.append(request)
            transfer, scheduler.transfer_tokens = scheduler.transfer_tokens, 0
        return Step(explicit, explicit_new, transfer, self.num_clocked, self.clocked_context_sum(), per_request=False)

    def finish_step(self, step: Step, now_s: float, step_s: float) -> list[Request]:
        """Apply a finished iteration; returns the requests that finished in it, in the reference's order."""
        self.log.add(now_s, step_s)
        self.iteration += 1
        scheduler = self.scheduler
        if step.per_request:
            finished = scheduler.update(step, now_s)
            self.prefilling = []
            for request in scheduler.running:
                self._sequence(request)
                if request.num_tokens - request.num_computed_tokens == 1:
                    self._clock(request)
                else:
                    self.prefilling.append(request)
            return finished
        heap = self._heap
        finished = self._finish_clocked(now_s) if heap and heap[0][0] <= self.iteration else []
        clocked_any = False
        for request, num_new in zip(step.requests, step.num_new):
            request.num_computed_tokens += num_new
            if request.num_computed_tokens < request.num_tokens:
                continue
            if scheduler.emit_token(request, now_s):
                finished.append(request)
                self._seq.pop(request.request_id, None)
            else:
                self._clock(request)
            clocked_any = True
        if clocked_any:
            base = self._base
            self.prefilling = [r for r in self.prefilling
                               if r.request_id not in base and r.status is Status.RUNNING]
        if finished:
            scheduler.prune_running()
        return finished

    def _finish_clocked(self, now_s: float) -> list[Request]:
        finished = []
        heap = self._heap
        while heap and heap[0][0] <= self.iteration:
            request = heapq.heappop(heap)[2]
            self._unclock(request)
            self.scheduler.finish(request, now_s)
            finished.append(request)
        return finished

    def advance(self, k_count: int, start_s: float, t0: float, delta: float) -> list[Request]:
        """Run a planned decode-only stretch of `k_count` iterations (iteration 0's blocks already taken)."""
        d = self.iteration
        self.kv.reserve_decode_blocks(self.blocks_between(d + 1, d + k_count))
        log = self.log
        if log.needs_compaction():
            log.compact(self.oldest_clock_base())
        log.extend(start_s, k_count, t0, delta)
        self.iteration = d + k_count
        finished = self._finish_clocked(log.ends[-1])
        if finished:
            self.scheduler.prune_running()
        return finished

    def usage_time_integral(self, k_count: int, used0: int, t0: float, delta: float) -> tuple[float, float]:
        """(sum over iterations 1..K-1 of a stretch of usage x duration, usage at its last iteration)."""
        phase, size, d = self.phase, len(self.phase), self.iteration
        used, integral = used0, 0.0
        for k in range(1, k_count):
            used += phase[(d + k) % size]
            integral += used * (t0 + delta * k)
        num_blocks = self.kv.num_blocks
        return integral / num_blocks, used / num_blocks
