"""Host-memory KV tier: copies of evicted prefix-cache blocks (LRU) and swapped-out requests.

Two uses share one capacity in blocks. With offloading, a hashed block evicted from GPU memory
keeps its content here (least recently evicted dropped first), and a later request whose prefix
continues through such blocks reloads them over the host link instead of recomputing them
(a hit does not refresh the block's position). With swap preemption, a preempted request's KV is
parked here until it is admitted again; swapped requests take priority: cached copies are dropped
to make room for them. Owned by the KV-cache manager (`simulator.engine.kv.manager`).
"""

from __future__ import annotations

from collections import OrderedDict


class HostTier:
    def __init__(self, capacity_blocks: int, keep_evicted: bool) -> None:
        self.capacity_blocks = capacity_blocks
        self.keep_evicted = keep_evicted            # offloading: evicted prefix blocks are kept here
        self._cached: OrderedDict[tuple[int, int], None] = OrderedDict()
        self._reserved_blocks = 0                   # held by swapped-out requests
        self._swapped: dict[int, tuple[int, int]] = {}    # request id -> (tokens, blocks) parked here

    def has_cached(self) -> bool:
        return bool(self._cached)

    def holds(self, block_hash: tuple[int, int]) -> bool:
        return block_hash in self._cached

    def keep(self, block_hash: tuple[int, int]) -> None:
        """An evicted GPU block's content, now the most recent entry; the oldest go when over capacity."""
        cached = self._cached
        cached[block_hash] = None
        cached.move_to_end(block_hash)
        while cached and len(cached) + self._reserved_blocks > self.capacity_blocks:
            cached.popitem(last=False)

    def reserve_swap(self, request_id: int, num_tokens: int, num_blocks: int) -> bool:
        """Park a preempted request's KV: cached copies make room first; False when it still does not fit."""
        cached = self._cached
        while cached and self._reserved_blocks + len(cached) + num_blocks > self.capacity_blocks:
            cached.popitem(last=False)
        if not num_tokens or self._reserved_blocks + len(cached) + num_blocks > self.capacity_blocks:
            return False
        self._reserved_blocks += num_blocks
        self._swapped[request_id] = (num_tokens, num_blocks)
        return True

    def swapped_tokens(self, request_id: int) -> int:
        entry = self._swapped.get(request_id)
        return entry[0] if entry else 0

    def release_swap(self, request_id: int) -> int:
        """The request's KV went back to the GPU: its reservation ends; returns its tokens."""
        num_tokens, num_blocks = self._swapped.pop(request_id)
        self._reserved_blocks -= num_blocks
        return num_tokens
