"""Paged KV cache: a block pool (mechanism) and a KV-cache manager (per-request block tables).

The pool counts blocks. A block holds `block_size` tokens of KV for all layers. Only blocks whose
content can be found again (a hashed block: a shared prefix, or a preempted request's own blocks)
are objects; every other block is anonymous and only counted, so a decode crossing a block
boundary is an integer update, not an object moved between lists. Blocks whose reference count
drops to zero go to the tail of a free queue, hashed ones keeping their hash so a later request
with the same prefix can take them back (a prefix-cache hit). Allocation pops from the head, so
the least recently freed cached block is evicted first (LRU).

    free queue:  head -> [anon x 7] <-> [hash p0/b1] <-> [anon x 2] <-> ... <- tail (most recently freed)

The free queue is an intrusive doubly linked list of runs of anonymous blocks and single hashed
blocks: a cache hit must remove a hashed block from the middle in O(1). A request's block table
is a head of block objects (cache hits and the shared-prefix positions it fills, which others may
hit) followed by a count of anonymous blocks. The manager never decides policy: `allocate_slots`
returns None when a request does not fit and the scheduler chooses whom to preempt.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from simulator.engine.request import Request


@dataclass(slots=True, eq=False)
class Block:
    """A block with an identity; in the free queue, `anon > 0` makes it a run of anonymous blocks."""
    ref_cnt: int = 0
    block_hash: tuple[int, int] | None = None
    anon: int = 0
    prev_free: "Block | None" = None
    next_free: "Block | None" = None


class FreeBlockQueue:
    """Doubly linked list of free runs, threaded through the nodes themselves."""

    def __init__(self, num_blocks: int) -> None:
        self.num_free_blocks = 0
        self._head = Block()
        self._tail = Block()
        self._head.next_free, self._tail.prev_free = self._tail, self._head
        self.append_anonymous(num_blocks)

    def _link_last(self, node: Block) -> None:
        last = self._tail.prev_free
        last.next_free, node.prev_free = node, last
        node.next_free, self._tail.prev_free = self._tail, node

    def _unlink(self, node: Block) -> None:
        node.prev_free.next_free = node.next_free
        node.next_free.prev_free = node.prev_free
        node.prev_free = node.next_free = None

    def pop(self, num_blocks: int, evicted: list[Block]) -> None:
        """Take `num_blocks` from the head; hashed blocks taken are appended to `evicted`."""
        if num_blocks > self.num_free_blocks:
            raise RuntimeError(f"asked for {num_blocks} blocks, {self.num_free_blocks} free")
        self.num_free_blocks -= num_blocks
        while num_blocks:
            node = self._head.next_free
            if node.anon:
                taken = min(node.anon, num_blocks)
                node.anon -= taken
                num_blocks -= taken
                if not node.anon:
                    self._unlink(node)
            else:
                self._unlink(node)
                evicted.append(node)
                num_blocks -= 1

    def remove(self, block: Block) -> None:
        """Take a free hashed block out of the middle (a cache hit on it)."""
        self._unlink(block)
        self.num_free_blocks -= 1

    def append(self, block: Block) -> None:
        self._link_last(block)
        self.num_free_blocks += 1

    def append_anonymous(self, num_blocks: int) -> None:
        if num_blocks <= 0:
            return
        self.num_free_blocks += num_blocks
        last = self._tail.prev_free
        if last is not self._head and last.anon:
            last.anon += num_blocks
        else:
            self._link_last(Block(anon=num_blocks))

    def layout(self) -> list[int | tuple[int, int]]:
        """Head to tail: an int for a run of anonymous blocks, the hash for a hashed block (tests, debugging)."""
        out, node = [], self._head.next_free
        while node is not self._tail:
            out.append(node.anon if node.anon else node.block_hash)
            node = node.next_free
        return out


class BlockPool:
    def __init__(self, num_blocks: int) -> None:
        if num_blocks < 1:
            raise ValueError(f"num_blocks must be >= 1, got {num_blocks}")
        self.num_blocks = num_blocks
        self.free_queue = FreeBlockQueue(num_blocks)
        self.cached: dict[tuple[int, int], Block] = {}   # block hash -> block holding that content
        self.num_evictions = 0
        self._evicted: list[Block] = []
        self.on_evict = None          # callable(block_hash): a lower tier keeping evicted content

    @property
    def num_free_blocks(self) -> int:
        return self.free_queue.num_free_blocks

    @property
    def num_used_blocks(self) -> int:
        return self.num_blocks - self.free_queue.num_free_blocks

    def take(self, num_blocks: int) -> None:
        """Take blocks off the free queue head, evicting the cached content of hashed ones."""
        evicted = self._evicted
        self.free_queue.pop(num_blocks, evicted)
        if evicted:
            for block in evicted:
                if self.cached.get(block.block_hash) is block:
                    del self.cached[block.block_hash]
                    if self.on_evict is not None:
                        self.on_evict(block.block_hash)
                self.num_evictions += 1
            evicted.clear()

    def touch(self, blocks: Iterable[Block]) -> None:
        """Take a reference on cache-hit blocks, pulling free ones out of the free queue."""
        for block in blocks:
            if block.ref_cnt == 0:
                self.free_queue.remove(block)
            block.ref_cnt += 1

    def release(self, block: Block) -> None:
        """Drop a reference; a block nobody holds joins the free queue (anonymous unless hashed)."""
        block.ref_cnt -= 1
        assert block.ref_cnt >= 0, "block freed twice"
        if block.ref_cnt == 0:
            if block.block_hash is None:
                self.free_queue.append_anonymous(1)
            else:
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
        self.req_to_blocks: dict[int, list[Block]] = {}      # request id -> head of its block table (objects)
        self.req_to_anonymous: dict[int, int] = {}           # request id -> anonymous blocks after the head
        self.num_cached_blocks: dict[int, int] = {}          # request id -> shared-prefix blocks already hashed
        self.capacity_tokens: dict[int, int] = {}            # request id -> tokens its blocks hold (token-based only)
        self.host_cache: OrderedDict[tuple[int, int], None] = OrderedDict()   # hashes held in host memory
        self.host_capacity_blocks = 0
        self.host_reserved_blocks = 0      # host blocks holding swapped-out requests (they take priority)
        self.last_host_hit_blocks = 0

    def num_blocks_of(self, request: Request) -> int:
        rid = request.request_id
        return len(self.req_to_blocks.get(rid, ())) + self.req_to_anonymous.get(rid, 0)

    def _shared_blocks(self, request: Request) -> int:
        """Leading table positions other requests may hit: they are kept as objects."""
        if not self.enable_caching or request.prefix_id < 0:
            return 0
        return self.full_blocks_for_tokens(request.prefix_tokens)

    def enable_host_tier(self, num_blocks: int) -> None:
        """Keep the content of evicted hashed blocks in host memory (LRU, `num_blocks` at most)."""
        self.host_capacity_blocks = num_blocks
        self.pool.on_evict = self._to_host

    def _to_host(self, block_hash: tuple[int, int]) -> None:
        host = self.host_cache
        host[block_hash] = None
        host.move_to_end(block_hash)
        while host and len(host) + self.host_reserved_blocks > self.host_capacity_blocks:
            host.popitem(last=False)

    def get_computed_blocks(self, request: Request) -> tuple[list[Block], int]:
        """Longest run of cached full blocks at the start of the request; at least one token is left to compute.

        With a host tier, the run continues through blocks found there (`last_host_hit_blocks` of
        them): those need fresh GPU blocks and a copy over the host link instead of a prefill."""
        self.last_host_hit_blocks = 0
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
        host = len(hits)
        if self.host_cache and self.token_based:
            while host < max_blocks and request.block_hash(host, shared) in self.host_cache:
                host += 1
            self.last_host_hit_blocks = host - len(hits)
        return hits, self.tokens_for_full_blocks(host, request.num_tokens - 1)

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

    def new_blocks_needed(self, request: Request, num_new_tokens: int) -> int:
        """Blocks `allocate_slots(request, num_new_tokens)` would take (no cache hits)."""
        needed = self.blocks_for_tokens(request.num_computed_tokens + num_new_tokens)
        return max(0, needed - self.num_blocks_of(request))

    def allocate_slots(self, request: Request, num_new_tokens: int,
                       new_computed_blocks: list[Block] | None = None) -> int | None:
        """Take blocks for `num_new_tokens` more tokens (after any cache hits): how many, or None when short."""
        rid = request.request_id
        head = self.req_to_blocks.get(rid)
        anonymous = self.req_to_anonymous.get(rid, 0)
        held = anonymous + (len(head) if head is not None else 0)
        if head is not None and not new_computed_blocks:
            num_tokens = request.num_computed_tokens + num_new_tokens
            if self.blocks_for_tokens(num_tokens) <= held:      # fast path: room in the last block
                if self.enable_caching and request.prefix_id >= 0:
                    self._cache_full_blocks(request, head, num_tokens)
                return 0
        hits = new_computed_blocks or []
        num_computed = request.num_computed_tokens + len(hits) * self.block_size
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
            pool.free_queue.append_anonymous(anonymous - len(own))    # the unfilled tail, last first
            for block in reversed(own):
                pool.release(block)
        else:
            pool.free_queue.append_anonymous(anonymous)
        for block in reversed(head):
            pool.release(block)
        self.num_cached_blocks.pop(rid, None)
        self.capacity_tokens.pop(rid, None)

    def usage(self) -> float:
        return self.pool.num_used_blocks / self.pool.num_blocks
