"""KV-cache manager: per-request block tables over one block pool; the only writer of KV state.

Schedulers ask it questions and give it orders; they never see the free list, a block table or
the host tier. The interface follows vLLM v1's `vllm/v1/core/kv_cache_manager.py` (vLLM
0.8-0.11): `get_computed_blocks(request)` returns a small object (`KVCacheBlocks` there,
`ComputedBlocks` here) "to hide KVCacheManager's internal data structure from the Scheduler";
cache hits are arguments of `allocate_slots`; preemption is `free(request)`. Beyond vLLM: KV that
arrives from outside the GPU (a swapped-out request coming back, a disaggregated prefill's KV) is
registered here and taken at admission, and the decode clock (`simulator.engine.fast.clock`)
reserves its decodes' blocks in bulk and syncs a request's table when it leaves the clock.

A request's block table is a head of block objects (cache hits and the shared-prefix positions it
fills, which others may hit) followed by a count of anonymous blocks. The manager never decides
policy: `allocate_slots` returns None when a request does not fit and the scheduler's policy
chooses whom to preempt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from simulator.engine.kv.block_pool import Block, BlockPool
from simulator.engine.kv.host_tier import HostTier
from simulator.engine.request import Request


@dataclass(frozen=True, slots=True)
class ComputedBlocks:
    """A prefix-cache lookup: GPU blocks to reuse, tokens they and host-tier copies cover, the host part."""
    blocks: tuple[Block, ...] = ()
    num_tokens: int = 0              # tokens whose KV needs no prefill (GPU hits and host reloads)
    num_host_tokens: int = 0         # of which reloaded from host memory over the link


NO_HITS = ComputedBlocks()


class KVCacheManager:
    """Per-request block tables over one `BlockPool`.

    `blocks_for_tokens(n)` says how many blocks a sequence of n tokens occupies: ceil(n / block_size)
    for full attention, fewer when windowed layers cap what is stored. `full_blocks_for_tokens(n)`
    says how many of them are full (n // block_size for full attention); it must keep growing with
    n for prefix caching to map cached blocks back to tokens.
    """

    def __init__(self, num_blocks: int, block_size: int, enable_caching: bool,
                 blocks_for_tokens: Callable[[int], int] | None = None,
                 full_blocks_for_tokens: Callable[[int], int] | None = None,
                 host_tier: HostTier | None = None) -> None:
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        self.block_size = block_size
        self.enable_caching = enable_caching
        self.pool = BlockPool(num_blocks)
        self.num_blocks = num_blocks               # constant: the pool's size
        self.blocks_for_tokens = blocks_for_tokens or (lambda n: -(-n // block_size))
        self.full_blocks_for_tokens = full_blocks_for_tokens or (lambda n: n // block_size)
        self.token_based = full_blocks_for_tokens is None
        self.req_to_blocks: dict[int, list[Block]] = {}      # request id -> head of its block table (objects)
        self.req_to_anonymous: dict[int, int] = {}           # request id -> anonymous blocks after the head
        self.num_cached_blocks: dict[int, int] = {}          # request id -> shared-prefix blocks already hashed
        self.capacity_tokens: dict[int, int] = {}            # request id -> tokens its blocks hold (token-based only)
        self.preloaded_tokens: dict[int, int] = {}           # request id -> KV tokens sent by a prefill pool
        self.host_tier = host_tier
        # tokens a request's blocks hold, `tokens_held(request_id, 0)` (token-based tables only): the
        # decode fast path asks it for every request every step, so it is the dict's own bound `get`
        self.tokens_held = self.capacity_tokens.get
        # `reserve_decode_blocks(n)`: take the blocks clocked decodes open (the decode clock, every step);
        # their tables catch up in `sync_table`. The pool's own `take`, bound: no extra frame per step
        self.reserve_decode_blocks = self.pool.take
        if host_tier is not None and host_tier.keep_evicted:
            self.pool.on_evict = host_tier.keep

    # ----- what schedulers may read ----------------------------------------------------------

    @property
    def num_free_blocks(self) -> int:
        return self.pool.free_queue.num_free_blocks

    @property
    def num_used_blocks(self) -> int:
        return self.num_blocks - self.pool.free_queue.num_free_blocks

    def usage(self) -> float:
        return self.num_used_blocks / self.num_blocks

    def num_blocks_of(self, request: Request) -> int:
        rid = request.request_id
        return len(self.req_to_blocks.get(rid, ())) + self.req_to_anonymous.get(rid, 0)

    def has_slot_for_next_token(self, request: Request) -> bool:
        """Its last block has room for one more token (token-based tables only; False otherwise)."""
        return request.num_computed_tokens < self.tokens_held(request.request_id, 0)

    def new_blocks_needed(self, request: Request, num_new_tokens: int) -> int:
        """Blocks `allocate_slots(request, num_new_tokens)` would take (no cache hits)."""
        needed = self.blocks_for_tokens(request.num_computed_tokens + num_new_tokens)
        return max(0, needed - self.num_blocks_of(request))

    # ----- prefix cache ----------------------------------------------------------------------

    def _shared_blocks(self, request: Request) -> int:
        """Leading table positions other requests may hit: they are kept as objects."""
        if not self.enable_caching or request.prefix_id < 0:
            return 0
        return self.full_blocks_for_tokens(request.prefix_tokens)

    def get_computed_blocks(self, request: Request) -> ComputedBlocks:
        """Longest run of cached full blocks at the start of the request; at least one token is left to compute.

        With a host tier, the run continues through blocks found there: those need fresh GPU
        blocks and a copy over the host link instead of a prefill (`num_host_tokens`)."""
        if not self.enable_caching:
            return NO_HITS
        max_blocks = self.full_blocks_for_tokens(request.num_tokens - 1)
        shared = self.full_blocks_for_tokens(request.prefix_tokens)
        hits = []
        for index in range(max_blocks):
            block = self.pool.get_cached_block(request.block_hash(index, shared))
            if block is None:
                break
            hits.append(block)
        host = len(hits)
        tier = self.host_tier
        if tier is not None and tier.has_cached() and self.token_based:
            while host < max_blocks and tier.holds(request.block_hash(host, shared)):
                host += 1
        num_tokens = self.tokens_for_full_blocks(host, request.num_tokens - 1)
        if not num_tokens:
            return NO_HITS
        return ComputedBlocks(tuple(hits), num_tokens, (host - len(hits)) * self.block_size)

    def tokens_for_full_blocks(self, num_blocks: int, max_tokens: int) -> int:
        """Fewest tokens whose KV fills `num_blocks` full blocks (binary search when layers are windowed)."""
        if num_blocks == 0:
            return 0
        if self.token_based:
            return num_blocks * self.block_size
        low, high = 1, max_tokens
        while low < high:
            mid = (low + high) // 2
            if self.full_blocks_for_tokens(mid) >= num_blocks:
                high = mid
            else:
                low = mid + 1
        return low

    # ----- KV from outside the GPU -----------------------------------------------------------

    def add_preloaded(self, request: Request, num_tokens: int) -> None:
        """A disaggregated prefill computed `num_tokens` of the request's KV elsewhere; it is in place on admission."""
        self.preloaded_tokens[request.request_id] = num_tokens

    def external_tokens(self, request: Request) -> int:
        """KV tokens waiting outside the GPU for this request (swapped out, or sent by a prefill pool)."""
        rid = request.request_id
        tier = self.host_tier
        swapped = tier.swapped_tokens(rid) if tier is not None else 0
        return swapped or self.preloaded_tokens.get(rid, 0)

    def take_external(self, request: Request) -> int:
        """After `allocate_slots` placed them: tokens copied over the host link now (a swap-in; 0 for a preload)."""
        if self.preloaded_tokens.pop(request.request_id, 0):
            return 0
        return self.host_tier.release_swap(request.request_id)

    def swap_out(self, request: Request) -> bool:
        """Preempt by swapping: park the request's KV in host memory, free its GPU blocks; False when it does not fit."""
        tokens = request.num_computed_tokens
        tier = self.host_tier
        if tier is None or not tier.reserve_swap(request.request_id, tokens, self.blocks_for_tokens(tokens)):
            return False
        self.free(request)                      # its KV moves to host memory: nothing to hash
        return True

    # ----- allocation ------------------------------------------------------------------------

    def allocate_slots(self, request: Request, num_new_tokens: int, new_computed_blocks: tuple[Block, ...] = (),
                       num_external_tokens: int = 0) -> int | None:
        """Take blocks for `num_new_tokens` more tokens: how many, or None when short.

        `new_computed_blocks` are GPU cache hits (from `get_computed_blocks`); `num_external_tokens`
        are tokens whose KV arrives from outside (host reloads, a swap-in, a preload) and needs
        fresh blocks but no compute. Both come before the new tokens."""
        rid = request.request_id
        head = self.req_to_blocks.get(rid)
        anonymous = self.req_to_anonymous.get(rid, 0)
        held = anonymous + (len(head) if head is not None else 0)
        if head is not None and not new_computed_blocks and not num_external_tokens:
            num_tokens = request.num_computed_tokens + num_new_tokens
            if self.blocks_for_tokens(num_tokens) <= held:      # fast path: room in the last block
                if self.enable_caching and request.prefix_id >= 0:
                    self._cache_full_blocks(request, head, num_tokens)
                return 0
        hits = new_computed_blocks
        num_computed = request.num_computed_tokens + num_external_tokens + len(hits) * self.block_size
        num_needed = self.blocks_for_tokens(num_computed + num_new_tokens)
        num_new_blocks = max(0, num_needed - held - len(hits))
        num_evictable_hits = sum(1 for b in hits if b.ref_cnt == 0)
        if num_new_blocks > self.pool.num_free_blocks - num_evictable_hits:
            return None
        self.pool.touch(hits)
        self.pool.take(num_new_blocks)
        if head is None:
            head = self.req_to_blocks[rid] = []
        head.extend(hits)
        as_objects = 0
        if not anonymous:                       # positions inside the shared prefix stay objects
            as_objects = min(num_new_blocks, max(0, self._shared_blocks(request) - len(head)))
            head.extend(Block(ref_cnt=1) for _ in range(as_objects))
        anonymous += num_new_blocks - as_objects
        self.req_to_anonymous[rid] = anonymous
        if self.token_based:
            self.capacity_tokens[rid] = (len(head) + anonymous) * self.block_size
        if self.enable_caching:
            self._cache_full_blocks(request, head, num_computed + num_new_tokens)
        return num_new_blocks

    def _cache_full_blocks(self, request: Request, head: list[Block], num_tokens: int) -> None:
        """Hash the full blocks other requests could hit: those of the shared prefix.

        A request's own blocks can only be hit by itself after a preemption, so they are hashed
        lazily, when it is preempted (`free(..., cache_tokens=...)`); the cache then holds exactly
        what hashing every block as it fills would have left there."""
        shared = self.full_blocks_for_tokens(request.prefix_tokens) if request.prefix_id >= 0 else 0
        start = self.num_cached_blocks.get(request.request_id, 0)
        end = min(self.full_blocks_for_tokens(num_tokens), len(head), shared)
        for index in range(start, end):
            self.pool.cache_block(head[index], request.block_hash(index, shared))
        self.num_cached_blocks[request.request_id] = max(start, end)

    def free(self, request: Request, cache_tokens: int | None = None) -> None:
        """Release the request's blocks, tail first, so its unshared tail is evicted before its prefix.

        cache_tokens: on preemption, the tokens its blocks were filled for; their full blocks are
        hashed first so a recompute can hit them."""
        rid = request.request_id
        head = self.req_to_blocks.pop(rid, [])
        anonymous = self.req_to_anonymous.pop(rid, 0)
        pool = self.pool
        if cache_tokens is not None and self.enable_caching and (head or anonymous):
            shared = self.full_blocks_for_tokens(request.prefix_tokens) if request.prefix_id >= 0 else 0
            end = min(self.full_blocks_for_tokens(cache_tokens), len(head) + anonymous)
            start = self.num_cached_blocks.get(rid, 0)
            for index in range(start, min(end, len(head))):
                pool.cache_block(head[index], request.block_hash(index, shared))
            own = []                                  # anonymous positions that become hashed objects
            for index in range(len(head), end):
                block = Block(ref_cnt=1)
                pool.cache_block(block, request.block_hash(index, shared))
                own.append(block)
            pool.release_anonymous(anonymous - len(own))    # the unfilled tail, last first
            for block in reversed(own):
                pool.release(block)
        else:
            pool.release_anonymous(anonymous)
        for block in reversed(head):
            pool.release(block)
        self.num_cached_blocks.pop(rid, None)
        self.capacity_tokens.pop(rid, None)

    # ----- the decode clock ------------------------------------------------------------------

    def sync_table(self, request: Request) -> None:
        """Make a clocked request's table hold its `num_computed_tokens` (blocks already reserved)."""
        rid = request.request_id
        blocks = -(-request.num_computed_tokens // self.block_size)
        self.req_to_anonymous[rid] = blocks - len(self.req_to_blocks[rid])
        self.capacity_tokens[rid] = blocks * self.block_size
