"""Token-budget scheduler (policy) over the KV-cache manager (mechanism).

There is no prefill phase and no decode phase. Each request has `num_computed_tokens` catching up
with `num_tokens`; each step assigns `{request_id: num_new_tokens}` under a token budget
(`max_num_batched_tokens`) and a sequence cap (`max_num_seqs`). Prefill, chunked prefill and
decode are one operation: a decode is a request one token behind, a prefill chunk is a request
many tokens behind that gets as many as the budget allows.

Order within a step: running requests that decode, then running requests mid-prefill, then
waiting requests in FCFS order. When a running request cannot grow, the most recently admitted
running request is preempted by recompute (its blocks freed, its progress reset, put back at the
head of the queue); no new request is admitted in a step that preempted. A request whose whole
sequence cannot fit in the pool, or whose prompt exceeds the token budget with chunked prefill
off, is rejected when it arrives, so the engine never waits on something that can never fit.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from simulator.engine.kv.manager import KVCacheManager
from simulator.engine.request import Request, Status


@dataclass(frozen=True, slots=True)
class SchedulerConfig:
    max_num_seqs: int
    max_num_batched_tokens: int
    enable_chunked_prefill: bool
    enable_prefix_caching: bool
    block_size: int
    swap: bool = False              # preemption moves KV to host memory (when it has room) instead of recomputing
    host_kv_blocks: int = 0         # host-tier capacity, in blocks
    host_offload: bool = False      # evicted prefix-cache blocks stay in host memory and reload over the link
    score_bytes_per_query_key: float = 0.0     # naive attention: score-matrix bytes per (query, key) per GPU
    score_bytes_limit: float = float("inf")    # memory a materialised score matrix may take per GPU


@dataclass(slots=True)
class ScheduledBatch:
    num_new_tokens: dict[int, int]          # request id -> tokens computed this step
    requests: list[Request]                 # in schedule order; num_computed_tokens is the context
    transfer_tokens: int = 0                # KV tokens swapped out or in over the host link this step


def stamp_token(request: Request, at_s: float) -> None:
    """A token emitted at `at_s`: the first token's time, or one more inter-token gap (before last_token_s moves)."""
    if request.first_token_s < 0:
        request.first_token_s = at_s
    else:
        gap = at_s - request.last_token_s
        request.itl_sum_s += gap
        if gap > request.itl_max_s:
            request.itl_max_s = gap


class Scheduler:
    def __init__(self, config: SchedulerConfig, kv_manager: KVCacheManager) -> None:
        self.config = config
        self.kv = kv_manager
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []
        self.num_preemptions = 0
        self.num_prefix_query_tokens = 0
        self.num_prefix_hit_tokens = 0
        self.num_swaps = 0
        self.host_blocks_used = 0
        self.transfer_tokens = 0            # swapped out or in since the last schedule, for the step's cost
        self.num_host_hit_tokens = 0
        if config.host_offload:
            kv_manager.enable_host_tier(config.host_kv_blocks)

    def admission_error(self, request: Request) -> str | None:
        """Why a request can never be served by this engine, or None."""
        needed = self.kv.blocks_for_tokens(request.total_tokens)
        if needed > self.kv.pool.num_blocks:
            return (f"kv_cache_too_small: needs {needed} blocks for {request.total_tokens} tokens, "
                    f"the pool has {self.kv.pool.num_blocks}")
        per_pair = self.config.score_bytes_per_query_key
        if per_pair:
            chunk = min(request.total_tokens, self.config.max_num_batched_tokens)
            scores = per_pair * chunk * request.total_tokens
            if scores > self.config.score_bytes_limit:
                return (f"naive_attention_scores: one layer's score matrix needs {scores / 1e9:,.1f} GB per GPU, "
                        f"{self.config.score_bytes_limit / 1e9:,.1f} GB is free")
        if not self.config.enable_chunked_prefill and request.total_tokens > self.config.max_num_batched_tokens:
            return (f"exceeds_token_budget: {request.total_tokens} tokens > max_num_batched_tokens "
                    f"{self.config.max_num_batched_tokens} with chunked prefill disabled")
        return None

    def add_request(self, request: Request) -> None:
        self.waiting.append(request)

    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def _preempt(self, request: Request, num_slotted_new: int = 0) -> None:
        blocks = self.kv.blocks_for_tokens(request.num_computed_tokens)
        host_cache = self.kv.host_cache
        if self.config.swap:       # swapped requests take priority over cached prefixes in host memory
            while host_cache and self.host_blocks_used + len(host_cache) + blocks > self.config.host_kv_blocks:
                host_cache.popitem(last=False)
        if (self.config.swap and request.num_computed_tokens
                and self.host_blocks_used + len(host_cache) + blocks <= self.config.host_kv_blocks):
            self.kv.free(request)                      # its KV moves to host memory: nothing to hash
            request.swapped_tokens = request.num_computed_tokens
            self.host_blocks_used += blocks
            self.kv.host_reserved_blocks = self.host_blocks_used
            self.transfer_tokens += request.num_computed_tokens
            self.num_swaps += 1
        else:
            self.kv.free(request, cache_tokens=request.num_computed_tokens + num_slotted_new)
        request.num_computed_tokens = 0
        request.status = Status.WAITING
        request.num_preemptions += 1
        self.num_preemptions += 1
        self.waiting.appendleft(request)

    def schedule(self) -> ScheduledBatch:
        budget = self.config.max_num_batched_tokens
        scheduled: dict[int, int] = {}
        order: list[Request] = []
        preempted = False
        # decodes first, then running prefills; FCFS within each (stable sort)
        decodes = [r for r in self.running if r.num_tokens - r.num_computed_tokens == 1]
        candidates = decodes if len(decodes) == len(self.running) else \
            decodes + [r for r in self.running if r.num_tokens - r.num_computed_tokens != 1]
        capacity = self.kv.capacity_tokens
        for request in candidates:
            if budget <= 0:
                break
            if request.status is not Status.RUNNING:      # preempted earlier in this step
                continue
            num_new = min(request.num_tokens - request.num_computed_tokens, budget)
            if num_new == 1 and request.num_computed_tokens < capacity.get(request.request_id, 0):
                scheduled[request.request_id] = 1         # room in its last block: nothing to allocate
                order.append(request)
                budget -= 1
                continue
            while self.kv.allocate_slots(request, num_new) is None:
                victim = self.running.pop()
                slotted = 0
                if victim.request_id in scheduled:        # already given tokens this step: take them back
                    slotted = scheduled.pop(victim.request_id)
                    budget += slotted
                    order.remove(victim)
                self._preempt(victim, slotted)
                preempted = True
                if victim is request:
                    break
            else:
                scheduled[request.request_id] = num_new
                order.append(request)
                budget -= num_new
        if not preempted:
            budget = self._admit_waiting(budget, scheduled, order)
        transfer, self.transfer_tokens = self.transfer_tokens, 0
        return ScheduledBatch(scheduled, order, transfer)

    def _admit_waiting(self, budget: int, scheduled: dict[int, int], order: list[Request]) -> int:
        while self.waiting and budget > 0 and len(self.running) < self.config.max_num_seqs:
            request = self.waiting[0]
            swapped, preloaded = request.swapped_tokens, request.preloaded_tokens
            if swapped or preloaded:    # swap back in what was computed before preemption / KV sent by a prefill pool
                hits, num_hit_tokens = [], swapped or preloaded
                request.num_computed_tokens = num_hit_tokens
            else:
                hits, num_hit_tokens = self.kv.get_computed_blocks(request)
                request.num_computed_tokens = self.kv.last_host_hit_blocks * self.kv.block_size   # reloaded
            num_new = request.num_tokens - num_hit_tokens
            if num_new > budget:
                if not self.config.enable_chunked_prefill:
                    request.num_computed_tokens = 0
                    break
                num_new = budget
            if self.kv.allocate_slots(request, num_new, hits) is None:
                request.num_computed_tokens = 0
                break
            self.waiting.popleft()
            if swapped:
                request.swapped_tokens = 0
                self.host_blocks_used -= self.kv.blocks_for_tokens(swapped)
                self.kv.host_reserved_blocks = self.host_blocks_used
                self.transfer_tokens += swapped
            elif preloaded:
                request.preloaded_tokens = 0
            else:
                reloaded = self.kv.last_host_hit_blocks * self.kv.block_size
                self.transfer_tokens += reloaded
                self.num_host_hit_tokens += reloaded
                self.num_prefix_query_tokens += request.num_tokens
                self.num_prefix_hit_tokens += num_hit_tokens
            if request.num_cached_tokens < 0:
                request.num_cached_tokens = num_hit_tokens
            request.num_computed_tokens = num_hit_tokens
            request.status = Status.RUNNING
            self.running.append(request)
            scheduled[request.request_id] = num_new
            order.append(request)
            budget -= num_new
        return budget

    def _emit_token(self, request: Request, now_s: float) -> bool:
        """The request's prompt is caught up: it emits a token now; True (and its blocks freed) when that was its last."""
        request.num_output_tokens += 1
        stamp_token(request, now_s)
        request.last_token_s = now_s
        if request.num_output_tokens < request.max_output_tokens:
            return False
        request.status = Status.FINISHED
        request.finish_s = now_s
        self.kv.free(request)
        return True

    def update(self, batch: ScheduledBatch, now_s: float) -> list[Request]:
        """Apply a finished step: advance counters, emit tokens, retire finished requests."""
        finished = []
        for request in batch.requests:
            if request.status is not Status.RUNNING:
                continue
            request.num_computed_tokens += batch.num_new_tokens[request.request_id]
            if request.num_computed_tokens < request.num_tokens:
                continue                                   # mid-prefill: no token yet
            if self._emit_token(request, now_s):
                finished.append(request)
        if finished:
            self.running = [r for r in self.running if r.status is Status.RUNNING]
        return finished
