"""DES layer: tiny scenarios with exact timelines (step time = 0.1 s + 0.01 s per token)."""

import pytest

from simulator.engine.cluster import RouterPolicy, simulate
from simulator.engine.request import Request, Status

from conftest import simple_setup


def make(rid, t, prompt, output, prefix_id=-1, prefix_tokens=0):
    return Request(request_id=rid, arrival_time_s=t, num_prompt_tokens=prompt, max_output_tokens=output,
                   prefix_id=prefix_id, prefix_tokens=prefix_tokens)


def test_two_request_timeline_matches_hand_computed_times():
    # A: prompt 10, 3 tokens out, arrives at 0. B: prompt 4, 2 out, arrives at 0.25. Budget 8 tokens/step.
    # t=0.00 A prefill 8        -> 0.18
    # t=0.18 A prefill 2        -> 0.30  A token 1
    # t=0.30 A decode + B 4     -> 0.45  A token 2, B token 1
    # t=0.45 A decode, B decode -> 0.57  A token 3 (done), B token 2 (done)
    a, b = make(0, 0.0, 10, 3), make(1, 0.25, 4, 2)
    out = simulate([a, b], simple_setup(), 1, RouterPolicy.ROUND_ROBIN)
    assert a.first_scheduled_s == 0.0
    assert a.first_token_s == pytest.approx(0.30)
    assert a.finish_s == pytest.approx(0.57)
    assert a.itl_max_s == pytest.approx(0.15)
    assert a.itl_sum_s == pytest.approx(0.27)
    assert b.first_scheduled_s == pytest.approx(0.30)
    assert b.first_token_s == pytest.approx(0.45)
    assert b.finish_s == pytest.approx(0.57)
    assert out.end_time_s == pytest.approx(0.57)
    assert sum(s.num_iterations for s in out.engine_stats) == 4


def test_idle_engine_wakes_on_arrival():
    a, b = make(0, 0.0, 2, 1), make(1, 5.0, 2, 1)
    simulate([a, b], simple_setup(), 1, RouterPolicy.ROUND_ROBIN)
    assert a.finish_s == pytest.approx(0.12)
    assert b.first_scheduled_s == 5.0 and b.finish_s == pytest.approx(5.12)


def test_preemption_by_recompute_loses_nothing():
    # 5 blocks of 4 tokens; each request grows to 16 tokens (4 blocks): both cannot stay resident.
    a, b = make(0, 0.0, 8, 8), make(1, 0.0, 8, 8)
    too_long = make(2, 0.0, 30, 2)          # 8 blocks > pool: rejected at arrival
    out = simulate([a, b, too_long], simple_setup(num_blocks=5, max_num_batched_tokens=32), 1,
                   RouterPolicy.ROUND_ROBIN)
    # b is preempted exactly once (recomputed, then finishes), a never: the later admission is the victim
    assert (out.num_preemptions, a.num_preemptions, b.num_preemptions) == (1, 0, 1)
    assert a.status is Status.FINISHED and b.status is Status.FINISHED
    assert a.num_output_tokens == 8 and b.num_output_tokens == 8
    assert too_long.status is Status.REJECTED and too_long.reject_reason.startswith("kv_cache_too_small")
    assert b.finish_s > a.finish_s


def test_prompt_over_budget_without_chunked_prefill_is_rejected_not_stuck():
    a, b = make(0, 0.0, 20, 2), make(1, 0.0, 4, 2)
    simulate([a, b], simple_setup(chunked=False, max_num_batched_tokens=16), 1, RouterPolicy.ROUND_ROBIN)
    assert a.status is Status.REJECTED and "exceeds_token_budget" in a.reject_reason
    assert b.status is Status.FINISHED


def test_prefix_cache_hit_skips_shared_tokens():
    a = make(0, 0.0, 12, 1, prefix_id=0, prefix_tokens=8)
    b = make(1, 1.0, 12, 1, prefix_id=0, prefix_tokens=8)
    out = simulate([a, b], simple_setup(caching=True, max_num_batched_tokens=64), 1, RouterPolicy.ROUND_ROBIN)
    assert a.num_cached_tokens == 0 and b.num_cached_tokens == 8
    assert a.finish_s == pytest.approx(0.1 + 12 * 0.01)
    assert b.finish_s - 1.0 == pytest.approx(0.1 + 4 * 0.01)
    assert out.num_prefix_hit_tokens == 8 and out.num_prefix_query_tokens == 24


def test_hard_stop_counts_unfinished():
    reqs = [make(i, 0.0, 8, 50) for i in range(3)]
    out = simulate(reqs, simple_setup(), 1, RouterPolicy.ROUND_ROBIN, max_sim_time_s=1.0)
    assert out.end_time_s == 1.0
    assert all(r.status in (Status.WAITING, Status.RUNNING) for r in reqs)
    from simulator.results import metrics
    frame = metrics.records_frame(out)
    assert frame["status"].value_counts().to_dict() == {"unfinished": 3}          # counted, none lost
    assert all(0 < r.num_output_tokens < 50 for r in reqs)                        # stopped mid-decode


def test_round_robin_and_least_outstanding_tokens_routing():
    reqs = [make(i, 0.0, 4, 1) for i in range(4)]
    simulate(reqs, simple_setup(), 2, RouterPolicy.ROUND_ROBIN)
    assert [r.replica for r in reqs] == [0, 1, 0, 1]
    reqs = [make(0, 0.0, 40, 1), make(1, 0.0, 4, 1), make(2, 0.0, 4, 1)]
    simulate(reqs, simple_setup(), 2, RouterPolicy.LEAST_OUTSTANDING_TOKENS)
    assert [r.replica for r in reqs] == [0, 1, 1]
