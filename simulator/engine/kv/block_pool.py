"""Block pool: the mechanism that counts KV blocks and keeps freed cached blocks findable (LRU).

A block holds `block_size` tokens of KV for all layers. Only blocks whose content can be found
again (a hashed block: a shared prefix, or a preempted request's own blocks) are objects; every
other block is anonymous and only counted, so a decode crossing a block boundary is an integer
update, not an object moved between lists. Blocks whose reference count drops to zero go to the
tail of a free queue, hashed ones keeping their hash so a later request with the same prefix can
take them back (a prefix-cache hit). Allocation pops from the head, so the least recently freed
cached block is evicted first (LRU).

    free queue:  head -> [anon x 7] <-> [hash p0/b1] <-> [anon x 2] <-> ... <- tail (most recently freed)

The free queue is an intrusive doubly linked list of runs of anonymous blocks and single hashed
blocks: a cache hit must remove a hashed block from the middle in O(1). Modelled on vLLM v1's
`vllm/v1/core/block_pool.py` (`BlockPool`, `FreeKVCacheBlockQueue`; vLLM 0.8-0.11), with runs of
anonymous blocks as one node. Only `simulator.engine.kv` touches it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass


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
        self.on_evict: Callable[[tuple[int, int]], None] | None = None   # a lower tier keeping evicted content

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

    def release_anonymous(self, num_blocks: int) -> None:
        """Blocks nobody can hit again join the free queue's tail as one anonymous run."""
        self.free_queue.append_anonymous(num_blocks)

    def cache_block(self, block: Block, block_hash: tuple[int, int]) -> None:
        if block.block_hash is None and block_hash not in self.cached:
            block.block_hash = block_hash
            self.cached[block_hash] = block

    def get_cached_block(self, block_hash: tuple[int, int]) -> Block | None:
        return self.cached.get(block_hash)
