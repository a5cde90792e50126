"""Allocator layer: free-queue layout (anonymous runs and hashed blocks), eviction order, reference counts."""

import pytest

from simulator.engine.kv.manager import BlockPool, KVCacheManager
from simulator.engine.request import Request


def req(rid: int, prompt: int, prefix_id: int = -1, prefix_tokens: int = 0, output: int = 4) -> Request:
    return Request(request_id=rid, arrival_time_s=0.0, num_prompt_tokens=prompt, max_output_tokens=output,
                   prefix_id=prefix_id, prefix_tokens=prefix_tokens)


def test_pool_counts_anonymous_blocks_and_merges_runs():
    pool = BlockPool(4)
    pool.take(2)
    assert pool.free_queue.layout() == [2] and pool.num_used_blocks == 2
    pool.free_queue.append_anonymous(2)
    assert pool.free_queue.layout() == [4] and pool.num_free_blocks == 4
    pool.take(3)
    with pytest.raises(RuntimeError):
        pool.take(2)
    assert pool.num_free_blocks == 1


def test_allocate_slots_returns_none_when_short_and_changes_nothing():
    kv = KVCacheManager(num_blocks=3, block_size=4, enable_caching=False)
    a = req(1, 8)
    assert kv.allocate_slots(a, 8) == 2
    b = req(2, 8)
    assert kv.allocate_slots(b, 8) is None
    assert kv.pool.num_free_blocks == 1
    assert kv.num_blocks_of(b) == 0


def test_decode_growth_takes_a_block_only_at_a_boundary():
    kv = KVCacheManager(num_blocks=4, block_size=4, enable_caching=False)
    a = req(1, 7)
    assert kv.allocate_slots(a, 7) == 2
    a.num_computed_tokens = 7
    assert kv.allocate_slots(a, 1) == 0           # token 8 fits in block 1
    a.num_computed_tokens = 8
    assert kv.new_blocks_needed(a, 1) == 1
    assert kv.allocate_slots(a, 1) == 1           # token 9 opens block 2
    assert kv.pool.num_free_blocks == 1 and kv.capacity_tokens[1] == 12


def test_prefix_hits_reference_counts_and_lru_eviction_order():
    kv = KVCacheManager(num_blocks=6, block_size=4, enable_caching=True)
    a = req(1, 10, prefix_id=0, prefix_tokens=8)
    found = kv.get_computed_blocks(a)
    hits, n = list(found.blocks), found.num_tokens
    assert (hits, n) == ([], 0)
    assert kv.allocate_slots(a, 10) == 3
    assert set(kv.pool.cached) == {(0, 0), (0, 1)}            # block 2 holds 2 tokens: not full, not cached
    prefix = [kv.pool.cached[(0, 0)], kv.pool.cached[(0, 1)]]

    b = req(2, 12, prefix_id=0, prefix_tokens=8)
    found = kv.get_computed_blocks(b)
    hits, n = list(found.blocks), found.num_tokens
    assert hits == prefix and n == 8
    assert kv.allocate_slots(b, 4, found.blocks) == 1
    assert [blk.ref_cnt for blk in prefix] == [2, 2]
    assert kv.pool.free_queue.layout() == [2]

    kv.free(a)                                                 # tail first: a's own block, the prefix still held by b
    assert kv.pool.free_queue.layout() == [3]
    assert [blk.ref_cnt for blk in prefix] == [1, 1]
    kv.free(b)
    assert kv.pool.free_queue.layout() == [4, (0, 1), (0, 0)]
    assert kv.pool.num_free_blocks == 6

    c = req(3, 12)
    assert kv.allocate_slots(c, 12) == 3                       # uncached blocks go first
    assert kv.pool.free_queue.layout() == [1, (0, 1), (0, 0)]
    d = req(4, 8)
    assert kv.allocate_slots(d, 8) == 2                        # then LRU: b's tail, then prefix block 1
    assert (0, 1) not in kv.pool.cached and (0, 0) in kv.pool.cached
    assert kv.pool.num_evictions == 1                          # b's own blocks were never hashed (it finished)

    e = req(5, 20, prefix_id=0, prefix_tokens=8)
    found = kv.get_computed_blocks(e)
    hits, n = list(found.blocks), found.num_tokens
    assert hits == prefix[:1] and n == 4                       # chain stops at the evicted block


def test_cache_hit_on_a_free_block_counts_against_free_space():
    kv = KVCacheManager(num_blocks=3, block_size=4, enable_caching=True)
    a = req(1, 8, prefix_id=0, prefix_tokens=8)
    kv.allocate_slots(a, 8)
    kv.free(a)
    assert kv.pool.num_free_blocks == 3
    b = req(2, 17, prefix_id=0, prefix_tokens=8)               # needs 5 blocks: 2 hits + 3 new, only 1 truly free
    found = kv.get_computed_blocks(b)
    hits, n = list(found.blocks), found.num_tokens
    assert n == 8
    assert kv.allocate_slots(b, 9, found.blocks) is None
    assert [blk.ref_cnt for blk in hits] == [0, 0] and kv.pool.num_free_blocks == 3


def test_full_prompt_hit_leaves_one_token_to_compute():
    kv = KVCacheManager(num_blocks=4, block_size=4, enable_caching=True)
    a = req(1, 8, prefix_id=0, prefix_tokens=8)
    kv.allocate_slots(a, 8)
    b = req(2, 8, prefix_id=0, prefix_tokens=8)
    found = kv.get_computed_blocks(b)
    hits, n = list(found.blocks), found.num_tokens
    assert n == 4 and hits == [kv.pool.cached[(0, 0)]]


def test_preempted_request_hashes_its_own_blocks_and_hits_them_on_recompute():
    kv = KVCacheManager(num_blocks=8, block_size=4, enable_caching=True)
    a = req(1, 10)
    kv.allocate_slots(a, 10)
    assert kv.pool.cached == {}                                # own blocks are hashed lazily
    kv.free(a, cache_tokens=10)                                # preemption after 10 tokens were slotted
    assert set(kv.pool.cached) == {(-2, 0), (-2, 1)}
    assert kv.pool.free_queue.layout() == [6, (-2, 1), (-2, 0)]   # partial block first, then the tail backwards
    found = kv.get_computed_blocks(a)
    hits, n = list(found.blocks), found.num_tokens
    assert len(hits) == 2 and n == 8
    assert kv.capacity_tokens == {}
    kv.allocate_slots(a, 2, found.blocks)
    assert kv.capacity_tokens[1] == 12
