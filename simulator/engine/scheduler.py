"""Token-budget scheduler (policy) over the KV-cache manager (mechanism).

There is no prefill phase and no decode phase. Each request has `num_computed_tokens` catching up
with `num_tokens`; each step assigns `{request_id: num_new_tokens}` under a token budget
(`max_num_batched_tokens`) and a sequence cap (`max_num_seqs`). Prefill, chunked prefill and
decode are one operation: a decode is a request one token behind, a prefill chunk is a request
many tokens behind that gets as many as the budget allows.

Who is offered tokens first, whom to preempt and whether a step that preempted admits anyone are
the policy's (`simulator.engine.policy`; vLLM v1's by default: running decodes, then running
prefills, then waiting requests FCFS; the most recently admitted running request is preempted by
recompute, or swapped to host memory when configured, and waits at the head of the queue). Blocks
are the KV-cache manager's: this module never touches a block table. A request whose whole
sequence cannot fit in the pool, or whose prompt exceeds the token budget with chunked prefill
off, is rejected when it arrives, so the engine never waits on something that can never fit.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from simulator.engine.kv import NO_HITS, KVCacheManager
from simulator.engine.policy import DEFAULT_POLICY, FcfsPolicy
from simulator.engine.request import Request, Status
from simulator.engine.step import Step


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
    def __init__(self, config: SchedulerConfig, kv_manager: KVCacheManager,
                 policy: FcfsPolicy = DEFAULT_POLICY) -> None:
        self.config = config
        self.kv = kv_manager
        self.policy = policy
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []
        self.num_preemptions = 0
        self.num_prefix_query_tokens = 0
        self.num_prefix_hit_tokens = 0
        self.num_swaps = 0
        self.transfer_tokens = 0            # swapped out or in since the last schedule, for the step's cost
        self.num_host_hit_tokens = 0
        self.reserved_blocks = 0            # reserving policies: lifetime blocks of the running requests

    def admission_error(self, request: Request) -> str | None:
        """Why a request can never be served by this engine, or None."""
        needed = self.kv.blocks_for_tokens(request.total_tokens)
        if needed > self.kv.num_blocks:
            return (f"kv_cache_too_small: needs {needed} blocks for {request.total_tokens} tokens, "
                    f"the pool has {self.kv.num_blocks}")
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
        if self.config.swap and self.kv.swap_out(request):     # its KV waits in host memory
            self.transfer_tokens += request.num_computed_tokens
            self.num_swaps += 1
        else:
            self.kv.free(request, cache_tokens=request.num_computed_tokens + num_slotted_new)
        request.num_computed_tokens = 0
        request.status = Status.WAITING
        self._release_lifetime(request)
        request.num_preemptions += 1
        self.num_preemptions += 1
        self.policy.requeue(self.waiting, request)

    def schedule(self) -> Step:
        """Tokens for every running request the budget reaches, preempting when blocks run out; then admissions."""
        if self.policy.prefill_first:
            return self._schedule_prefill_first()
        return self._schedule_running_first()

    def _schedule_prefill_first(self) -> Step:
        """A prefill batch (chunked requests continue, then admissions) when one forms, else every decode."""
        policy = self.policy
        if not self.running:
            policy.idle()
        budget = self.config.max_num_batched_tokens
        order: list[Request] = []
        num_new_of: list[int] = []
        for request in self.running:                 # a chunked prefill continues first
            behind = request.num_tokens - request.num_computed_tokens
            if behind > 1 and budget > 0:
                num_new = min(behind, budget)
                if self.kv.allocate_slots(request, num_new) is None:
                    break
                order.append(request)
                num_new_of.append(num_new)
                budget -= num_new
        if budget > 0:
            self.admit_waiting(budget, order, num_new_of)
        if order:
            transfer, self.transfer_tokens = self.transfer_tokens, 0
            return Step(order, num_new_of, transfer)
        preempted_before = self.num_preemptions          # a decode batch: every running request, one token
        step = self._schedule_running_first(admit=False, budget=max(budget, len(self.running)))
        policy.after_decode(self.num_preemptions > preempted_before, self.running)
        return step

    def _schedule_running_first(self, admit: bool = True, budget: int | None = None) -> Step:
        budget = self.config.max_num_batched_tokens if budget is None else budget
        order: list[Request] = []
        num_new_of: list[int] = []
        preempted = False
        kv = self.kv
        tokens_held = kv.tokens_held
        for request in self.policy.running_order(self.running):
            if budget <= 0:
                break
            if request.status is not Status.RUNNING:      # preempted earlier in this step
                continue
            num_new = min(request.num_tokens - request.num_computed_tokens, budget)
            if num_new == 1 and request.num_computed_tokens < tokens_held(request.request_id, 0):
                order.append(request)                     # room in its last block: nothing to allocate
                num_new_of.append(1)
                budget -= 1
                continue
            while kv.allocate_slots(request, num_new) is None:
                victim = self.policy.pick_victim(self.running)
                slotted = 0
                if victim in order:                       # already given tokens this step: take them back
                    index = order.index(victim)
                    del order[index]
                    slotted = num_new_of.pop(index)
                    budget += slotted
                self._preempt(victim, slotted)
                preempted = True
                if victim is request:
                    break
            else:
                order.append(request)
                num_new_of.append(num_new)
                budget -= num_new
        if admit and (not preempted or self.policy.admits_after_preemption):
            self.admit_waiting(budget, order, num_new_of)
        transfer, self.transfer_tokens = self.transfer_tokens, 0
        return Step(order, num_new_of, transfer)

    def admit_waiting(self, budget: int, order: list[Request], num_new_of: list[int]) -> int:
        """Admit waiting requests in queue order while budget, sequence slots and blocks last (appended to the step)."""
        kv = self.kv
        policy = self.policy
        reserves = policy.reserves_lifetime
        token_budget = None                  # prefill-first policies: free tokens less the running requests' growth
        if policy.prefill_first:
            token_budget = kv.num_free_blocks * kv.block_size - policy.reserved_tokens(self.running)
            prompt_budget = policy.max_prefill_tokens
            first = True
        while self.waiting and budget > 0 and len(self.running) < self.config.max_num_seqs:
            request = self.waiting[0]
            if reserves:              # its whole lifetime must fit beside the running requests' lifetimes
                lifetime = kv.blocks_for_tokens(request.total_tokens)
                if self.reserved_blocks + lifetime > kv.num_blocks:
                    break
            external = kv.external_tokens(request)   # swapped out before / KV sent by a prefill pool
            computed = NO_HITS if external else kv.get_computed_blocks(request)
            num_hit_tokens = external or computed.num_tokens
            num_new = uncached = request.num_tokens - num_hit_tokens
            if num_new > budget:
                if not self.config.enable_chunked_prefill:
                    break
                num_new = budget
            if token_budget is not None:
                charge = policy.admission_tokens(request, num_new, uncached)
                if charge >= token_budget or (not first and uncached >= prompt_budget):
                    break
                token_budget -= charge
                prompt_budget -= num_new
                first = False
            if kv.allocate_slots(request, num_new, computed.blocks, external or computed.num_host_tokens) is None:
                break
            self.waiting.popleft()
            if reserves:
                self.reserved_blocks += lifetime
            if external:
                self.transfer_tokens += kv.take_external(request)
            else:
                reloaded = computed.num_host_tokens
                self.transfer_tokens += reloaded
                self.num_host_hit_tokens += reloaded
                self.num_prefix_query_tokens += request.num_tokens
                self.num_prefix_hit_tokens += num_hit_tokens
            if request.num_cached_tokens < 0:
                request.num_cached_tokens = num_hit_tokens
            request.num_computed_tokens = num_hit_tokens
            request.status = Status.RUNNING
            self.running.append(request)
            order.append(request)
            num_new_of.append(num_new)
            budget -= num_new
        return budget

    def emit_token(self, request: Request, now_s: float) -> bool:
        """The request's prompt is caught up: it emits a token now; True when that was its last."""
        request.num_output_tokens += 1
        stamp_token(request, now_s)
        request.last_token_s = now_s
        if request.num_output_tokens < request.max_output_tokens:
            return False
        self.finish(request, now_s)
        return True

    def finish(self, request: Request, now_s: float) -> None:
        """The one FINISHED transition: its blocks go back to the pool (`running` is pruned by the caller)."""
        request.status = Status.FINISHED
        request.finish_s = now_s
        self._release_lifetime(request)
        self.kv.free(request)

    def _release_lifetime(self, request: Request) -> None:
        """A request leaves the running set (finished or preempted): its lifetime reservation ends."""
        if self.policy.reserves_lifetime:
            self.reserved_blocks -= self.kv.blocks_for_tokens(request.total_tokens)

    def prune_running(self) -> None:
        self.running = [r for r in self.running if r.status is Status.RUNNING]

    def update(self, step: Step, now_s: float) -> list[Request]:
        """Apply a finished step: advance counters, emit tokens, retire finished requests."""
        finished = []
        for request, num_new in zip(step.requests, step.num_new):
            if request.status is not Status.RUNNING:
                continue
            request.num_computed_tokens += num_new
            if request.num_computed_tokens < request.num_tokens:
                continue                                   # mid-prefill: no token yet
            if self.emit_token(request, now_s):
                finished.append(request)
        if finished:
            self.prune_running()
        return finished
