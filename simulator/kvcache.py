"""Paged KV cache: a block pool (mechanism) and a KV-cache manager (per-request block tables).

The pool owns every block. A block holds `block_size` tokens of KV for all layers. Blocks whose
reference count drops to zero go to the tail of a free queue but keep their content hash, so a
later request with the same prefix can take them back (a prefix-cache hit). Allocation pops from
the head of the queue, so the least recently freed cached block is evicted first (LRU).

    free queue:  head -> [7] <-> [3 (hash p0/b1)] <-> [9] <-> ... <- tail (most recently freed)

The free queue is an intrusive doubly linked list: a cache hit must remove a block from the middle
in O(1). The manager never decides policy: `allocate_slots` returns None when a request does not
fit and the scheduler chooses whom to preempt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from simulator.request import Request


@dataclass(slots=True, eq=False)
class Block:
    block_id: int
    ref_cnt: int = 0
    block_hash: tuple[int, int] | None = None
    prev_free: "Block | None" = None
    next_free: "Block | None" = None


class FreeBlockQueue:
    """Doubly linked list of free blocks, threaded through the blocks themselves."""

    def __init__(self, blocks: list[Block]) -> None:
        self.num_free_blocks = len(blocks)
        self._head = Block(-1)
        self._tail = Block(-1)
        previous = self._head
        for block in blocks:
            previous.next_free, block.prev_free = block, previous
            previous = block
        previous.next_free, self._tail.prev_free = self._tail, previous

    def popleft(self) -> Block:
        block = self._head.next_free
        if block is self._tail:
            raise RuntimeError("no free blocks")
        self.remove(block)
        return block

    def remove(self, block: Block) -> None:
        block.prev_free.next_free = block.next_free
        block.next_free.prev_free = block.prev_free
        block.prev_free = block.next_free = None
        self.num_free_blocks -= 1

    def append(self, block: Block) -> None:
        last = self._tail.prev_free
        last.next_free, block.prev_free = block, last
        block.next_free, self._tail.prev_free = self._tail, block
        self.num_free_blocks += 1

    def block_ids(self) -> list[int]:
        """Free block ids from head (next to evict) to tail; for tests and debugging."""
        ids, block = [], self._head.next_free
        while block is not self._tail:
            ids.append(block.block_id)
            block = block.next_free
        return ids


class BlockPool:
    def __init__(self, num_blocks: int) -> None:
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}")
        self.num_blocks = num_blocks
        self.blocks = [Block(i) for i in range(num_blocks)]
        self.free_queue = FreeBlockQueue(self.blocks)
        self.cached: dict[tuple[int, int], Block] = {}   # block hash -> block holding that content
        self.num_evictions = 0

    @property
    def num_free_blocks(self) -> int:
        return self.free_queue.num_free_blocks

    @property
    def num_used_blocks(self) -> int:
        return self.num_blocks - self.free_queue.num_free_blocks

    def get_new_blocks(self, num_blocks: int) -> list[Block]:
        if num_blocks > self.num_free_blocks:
            raise RuntimeError(f"asked for {num_blocks} blocks, {self.num_free_blocks} free")
        taken = []
        for _ in range(num_blocks):
            block = self.free_queue.popleft()
            if block.block_hash is not None:           # evict its cached content
                if self.cached.get(block.block_hash) is block:
                    del self.cached[block.block_hash]
                block.block_hash = None
                self.num_evictions += 1
            block.ref_cnt = 1
            taken.append(block)
        return taken

    def touch(self, blocks: Iterable[Block]) -> None:
        """Take a reference on cache-hit blocks, pulling free ones out of the free queue."""
        for block in blocks:
            if block.ref_cnt == 0:
                self.free_queue.remove(block)
            block.ref_cnt += 1

    def free_blocks(self, ordered_blocks: Iterable[Block]) -> None:
        """Drop a reference on each block; the first in order is the first evicted later."""
        for block in ordered_blocks:
            block.ref_cnt -= 1
            assert block.ref_cnt >= 0, f"block {block.block_id} freed twice"
            if block.ref_cnt == 0:
                self.free_queue.append(block)

    def cache_block(self, block: Block, block_hash: tuple[int, int]) -> None:
        if block.block_hash is None and block_hash not in self.cached:
            block.block_hash = block_hash
            self.cached[block_hash] = block

    def get_cached_block(self, block_hash: tuple[int, int]) -> Block | None:
        return self.cached.get(block_hash)


class KVCacheManager:
    """Per-request block tables over one `BlockPool`.

    `blocks_for_tokens(n)` says how many blocks a sequence of n tokens occupies: ceil(n / block_size)
    for full attention, fewer when windowed layers cap what is stored. `full_blocks_for_tokens(n)`
    says how many of them are full (n // block_size for full attention); it must keep growing with
    n for prefix caching to map cached blocks back to tokens.
    """

    def __init__(self, num_blocks: int, block_size: int, enable_caching: bool,
                 blocks_for_tokens: Callable[[int], int] | None = None,
                 full_blocks_for_tokens: Callable[[int], int] | None = None) -> None:
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        self.block_size = block_size
        self.enable_caching = enable_caching
        self.pool = BlockPool(num_blocks)
        self.blocks_for_tokens = blocks_for_tokens or (lambda n: -(-n // block_size))
        self.full_blocks_for_tokens = full_blocks_for_tokens or (lambda n: n // block_size)
        self.token_based = full_blocks_for_tokens is None
        self.req_to_blocks: dict[int, list[Block]] = {}       # request id -> block table
        self.num_cached_blocks: dict[int, int] = {}          # request id -> shared-prefix blocks already hashed
        self.capacity_tokens: dict[int, int] = {}            # request id -> tokens its blocks hold (token-based only)

    def get_computed_blocks(self, request: Request) -> tuple[list[Block], int]:
        """Longest run of cached full blocks at the start of the request; at least one token is left to compute."""
        if not self.enable_caching:
            return [], 0
        max_blocks = self.full_blocks_for_tokens(request.num_tokens - 1)
        shared = self.full_blocks_for_tokens(request.prefix_tokens)
        hits = []
        for index in range(max_blocks):
            block = self.pool.get_cached_block(request.block_hash(index, shared))
            if block is None:
                break
            hits.append(block)
        return hits, self.tokens_for_full_blocks(len(hits), request.num_tokens - 1)

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

    def allocate_slots(self, request: Request, num_new_tokens: int,
                       new_computed_blocks: list[Block] | None = None) -> list[Block] | None:
        """Blocks for `num_new_tokens` more tokens (after any cache hits), or None when the pool is short."""
        blocks = self.req_to_blocks.get(request.request_id)
        if blocks is not None and not new_computed_blocks:
            num_tokens = request.num_computed_tokens + num_new_tokens
            if self.blocks_for_tokens(num_tokens) <= len(blocks):      # fast path: room in the last block
                if self.enable_caching and request.prefix_id >= 0:
                    self._cache_full_blocks(request, blocks, num_tokens)
                return []
        new_computed_blocks = new_computed_blocks or []
        blocks = blocks if blocks is not None else []
        num_computed = request.num_computed_tokens + len(new_computed_blocks) * self.block_size
        num_needed = self.blocks_for_tokens(num_computed + num_new_tokens)
        num_new_blocks = max(0, num_needed - len(blocks) - len(new_computed_blocks))
        num_evictable_hits = sum(1 for b in new_computed_blocks if b.ref_cnt == 0)
        if num_new_blocks > self.pool.num_free_blocks - num_evictable_hits:
            return None
        self.pool.touch(new_computed_blocks)
        new_blocks = self.pool.get_new_blocks(num_new_blocks)
        blocks = self.req_to_blocks.setdefault(request.request_id, blocks)
        blocks.extend(new_computed_blocks)
        blocks.extend(new_blocks)
        if self.token_based:
            self.capacity_tokens[request.request_id] = len(blocks) * self.block_size
        if self.enable_caching:
            self._cache_full_blocks(request, blocks, num_computed + num_new_tokens)
        return new_blocks

    def _cache_full_blocks(self, request: Request, blocks: list[Block], num_tokens: int,
                           shared_only: bool = True) -> None:
        """Hash the full blocks other requests could hit: the shared prefix (all blocks when `shared_only` is off).

        A request's own blocks can only be hit by itself after a preemption, so they are hashed
        lazily, when it is preempted (`free(..., cache_tokens=...)`); the cache then holds exactly
        what hashing every block as it fills would have left there."""
        shared = self.full_blocks_for_tokens(request.prefix_tokens) if request.prefix_id >= 0 else 0
        start = self.num_cached_blocks.get(request.request_id, 0)
        end = min(self.full_blocks_for_tokens(num_tokens), len(blocks))
        if shared_only:
            end = min(end, shared)
        for index in range(start, end):
            self.pool.cache_block(blocks[index], request.block_hash(index, shared))
        self.num_cached_blocks[request.request_id] = max(start, end)

    def free(self, request: Request, cache_tokens: int | None = None) -> None:
        """Release the request's blocks, tail first, so its unshared tail is evicted before its prefix.

        cache_tokens: on preemption, the tokens its blocks were filled for; their full blocks are
        hashed first so a recompute can hit them."""
        blocks = self.req_to_blocks.pop(request.request_id, [])
        if cache_tokens is not None and self.enable_caching and blocks:
            self._cache_full_blocks(request, blocks, cache_tokens, shared_only=False)
        self.num_cached_blocks.pop(request.request_id, None)
        self.capacity_tokens.pop(request.request_id, None)
        self.pool.free_blocks(reversed(blocks))

    def usage(self) -> float:
        return self.pool.num_used_blocks / self.pool.num_blocks
