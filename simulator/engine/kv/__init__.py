"""The paged KV cache: block pool, KV-cache manager, host tier. The only writer of KV state.

Outside this package, code talks to `KVCacheManager` only; nothing reads the pool's free list,
a block table or the host tier's entries (tests/test_kv_ownership.py checks it).
"""

from simulator.engine.kv.block_pool import Block, BlockPool, FreeBlockQueue
from simulator.engine.kv.host_tier import HostTier
from simulator.engine.kv.manager import NO_HITS, ComputedBlocks, KVCacheManager

__all__ = ["Block", "BlockPool", "ComputedBlocks", "FreeBlockQueue", "HostTier", "KVCacheManager", "NO_HITS"]
