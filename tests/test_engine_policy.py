"""The scheduling policy is an object both steppers use: a different policy changes the schedule the
same way step by step and with skip-ahead, and the default is vLLM v1's."""

from collections import deque
from dataclasses import replace

import numpy as np
import pytest

from conftest import simple_setup
from simulator.results.runner import run
from simulator.specs.scenario import ScenarioSpec
from simulator.engine.cluster import RouterPolicy, simulate
from simulator.engine.policy import DEFAULT_POLICY, VllmV1Policy
from simulator.engine.request import Request, Status


class PreemptOldest(VllmV1Policy):
    """A policy that differs in one decision: the oldest running request is preempted."""
    name = "preempt_oldest"

    @staticmethod
    def pick_victim(running):
        return running.pop(0)


def requests(seed: int = 3, count: int = 40) -> list[Request]:
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(0.05, count))
    return [Request(i, float(arrivals[i]), int(rng.integers(10, 40)), int(rng.integers(20, 60))) for i in range(count)]


def serve(policy, exact: bool):
    setup = replace(simple_setup(num_blocks=40, max_num_batched_tokens=16, max_num_seqs=8), policy=policy)
    out = simulate(requests(), setup, 1, RouterPolicy.ROUND_ROBIN, exact=exact)
    times = [(r.request_id, r.first_token_s, r.finish_s, r.num_preemptions) for r in out.requests]
    return out, times


def test_a_policy_is_used_by_both_steppers_alike():
    for policy in (DEFAULT_POLICY, PreemptOldest()):
        exact, exact_times = serve(policy, exact=True)
        fast, fast_times = serve(policy, exact=False)
        assert exact.step_by_step_reason is not None and fast.step_by_step_reason is None
        assert all(r.status is Status.FINISHED for r in fast.requests)
        assert np.allclose(np.array(fast_times), np.array(exact_times), rtol=1e-9)
        assert fast.num_preemptions == exact.num_preemptions > 0
        assert fast.engine_stats[0].num_engine_steps < exact.engine_stats[0].num_engine_steps


def test_the_victim_choice_changes_who_is_preempted():
    _, default = serve(DEFAULT_POLICY, exact=True)
    _, oldest = serve(PreemptOldest(), exact=True)
    assert [t[3] for t in default] != [t[3] for t in oldest]


def test_default_policy_is_vllm_v1():
    running = [Request(i, 0.0, 8, 4, num_computed_tokens=7 if i % 2 else 3) for i in range(4)]
    for r in running:
        r.num_output_tokens = 0
    order = DEFAULT_POLICY.running_order(running)
    assert [r.request_id for r in order] == [1, 3, 0, 2]        # decodes (one token behind) first, FCFS within
    assert DEFAULT_POLICY.pick_victim(running).request_id == 3 and len(running) == 3     # the latest admitted
    assert DEFAULT_POLICY.name == "vllm_v1" and not DEFAULT_POLICY.admits_after_preemption


def _long_prompts_all_at_once(engine: dict, num_requests: int = 1000) -> ScenarioSpec:
    """The 20K/2K case of TensorRT-LLM's performance overview: Llama-3.x-70B fp8 on one H200, every request
    queued at once (a constant rate of 10^6/s puts 1,000 arrivals within a millisecond)."""
    return ScenarioSpec.model_validate({
        "name": "long-prompts", "seed": 0,
        "workload": {"num_requests": num_requests, "arrival": {"process": "constant", "rate_per_s": 1e6},
                     "prompt_tokens": {"dist": "constant", "value": 20000},
                     "output_tokens": {"dist": "constant", "value": 2000}},
        "deployments": [{"name": "d", "model": "llama-3.1-70b", "hardware": "h200", "weight_dtype": "fp8",
                         "kv_cache_dtype": "fp8", "engine": engine}]})


def test_long_prompts_do_not_thrash_and_trtllm_never_evicts():
    vllm = run(_long_prompts_all_at_once({})).deployments[0]
    trtllm = run(_long_prompts_all_at_once({"policy": "trtllm", "enable_chunked_context": True})).deployments[0]
    for result in (vllm, trtllm):
        assert result.summary.num_completed == 1000
    assert vllm.summary.num_preemptions <= 500          # bounded: at most one per two requests (was 37 per request)
    assert trtllm.summary.num_preemptions == 0          # GUARANTEED_NO_EVICT reserves each request's lifetime
    assert trtllm.records["num_preemptions"].sum() == 0


def test_trtllm_reserves_lifetimes_at_admission():
    """Under GUARANTEED_NO_EVICT the running requests' lifetimes never exceed the pool; MAX_UTILIZATION admits
    on the next step's blocks alone, so it runs more at once and may evict."""
    from simulator.engine.policy import TrtllmPolicy, policy_for
    assert policy_for("vllm") is DEFAULT_POLICY
    no_evict, greedy = policy_for("trtllm"), policy_for("trtllm", "MAX_UTILIZATION")
    assert isinstance(no_evict, TrtllmPolicy) and no_evict.reserves_lifetime and not greedy.reserves_lifetime
    with pytest.raises(ValueError):
        TrtllmPolicy("STATIC_BATCH")
    engine = {"policy": "trtllm", "enable_chunked_context": True}
    spec = _long_prompts_all_at_once(engine, num_requests=100)
    lifetime_blocks = -(-22000 // 32)
    for exact in (True, False):
        result = run(spec, exact=exact).deployments[0]
        most_running = result.resolved.plan.num_kv_blocks // lifetime_blocks
        first_token = np.sort(result.records["first_token_s"].to_numpy())
        assert result.summary.num_preemptions == 0
        # the (most_running + 1)-th first token waits for a request to finish, so it comes much later
        assert first_token[most_running] > first_token[most_running - 1] + 10
    greedy_run = run(_long_prompts_all_at_once({**engine, "capacity_scheduler_policy": "MAX_UTILIZATION"},
                                               num_requests=100)).deployments[0]
    assert np.sort(greedy_run.records["first_token_s"].to_numpy())[most_running] < first_token[most_running]


def test_engine_knobs_keep_each_engines_names():
    from simulator.specs.engine_spec import EngineSpec
    trt = EngineSpec(policy="trtllm", max_batch_size=64, tokens_per_block=64)
    assert (trt.max_num_seqs, trt.block_size, trt.enable_chunked_prefill) == (64, 64, False)
    assert trt.free_gpu_memory_fraction == 0.9 and trt.capacity_scheduler_policy == "GUARANTEED_NO_EVICT"
    assert EngineSpec.model_validate(trt.model_dump()) == trt
    assert EngineSpec().policy == "vllm" and EngineSpec().free_gpu_memory_fraction is None
    for bad, says in (({"free_gpu_memory_fraction": 0.5}, "TensorRT-LLM knob"),
                      ({"policy": "trtllm", "gpu_memory_utilization": 0.8}, "vLLM's"),
                      ({"policy": "trtllm", "max_batch_size": 2, "max_num_seqs": 3}, "not both")):
        with pytest.raises(ValueError, match=says):
            EngineSpec.model_validate(bad)


def test_sglang_knobs_keep_sglangs_names_and_its_gpu_rules():
    from simulator.catalog import resolve_hardware
    from simulator.specs.deployment import sglang_engine
    from simulator.specs.engine_spec import EngineSpec
    sgl = EngineSpec(policy="sglang", chunked_prefill_size=4096, max_running_requests=64, disable_radix_cache=True)
    assert (sgl.max_num_batched_tokens, sgl.max_num_seqs, sgl.enable_prefix_caching) == (4096, 64, False)
    assert sgl.gpu_memory_utilization is None and sgl.max_prefill_tokens == 16384
    assert EngineSpec.model_validate(sgl.model_dump()) == sgl
    auto = EngineSpec(policy="sglang")
    assert auto.max_num_seqs is None and EngineSpec.model_validate(auto.model_dump()) == auto   # still SGLang's rule
    # mem_fraction_static by GPU and TP (server_args.py): one L40S's dump prints 0.851 (sglang PR #13023)
    l40s = sglang_engine(auto, resolve_hardware("l40s"), 1, 1)
    assert (l40s.mem_fraction_static, l40s.max_num_batched_tokens) == (0.851, 4096)
    h100 = [sglang_engine(auto, resolve_hardware("h100-sxm"), tp, 1).mem_fraction_static for tp in (1, 8)]
    assert h100[0] > h100[1] and 0.8 < h100[1] < h100[0] < 0.85          # the 10 GiB floor, then 128 MiB per GPU
    assert sglang_engine(auto, resolve_hardware("h200"), 1, 1, 400_000, 131072).max_num_seqs == 2048
    for bad, says in (({"policy": "sglang", "gpu_memory_utilization": 0.8}, "not an SGLang knob"),
                      ({"policy": "sglang", "max_running_requests": 2, "max_num_seqs": 3}, "not both"),
                      ({"mem_fraction_static": 0.8}, "SGLang knob"),
                      ({"max_num_seqs": None}, "must be a number")):
        with pytest.raises(ValueError, match=says):
            EngineSpec.model_validate(bad)


def test_sglang_retracts_the_youngest_to_the_tail_and_resets_its_ratio():
    from simulator.engine.policy import policy_for
    from simulator.specs.engine_spec import engine_defaults
    policy = policy_for("sglang", max_prefill_tokens=16384, sglang_params=engine_defaults()["sglang"]["new_token_ratio"])
    assert policy.fresh() is not policy and policy.new_token_ratio == 0.7
    running = [Request(i, 0.0, 100 + 10 * i, 50) for i in range(4)]
    for r, out in zip(running, (30, 5, 5, 40)):
        r.num_output_tokens = out
    assert policy.pick_victim(running).request_id == 2     # fewest generated, then the longest prompt
    for _ in range(700):
        policy.after_decode(False, running)
    assert policy.new_token_ratio == pytest.approx(0.7 * 0.14)        # decays to its floor in 600 steps
    policy.after_decode(True, running)
    assert policy.new_token_ratio == pytest.approx((30 + 5 + 40 + 20 * 3) / (150 + 1))
    waiting = deque([Request(9, 0.0, 10, 10)])
    policy.requeue(waiting, running[0])
    assert waiting[-1] is running[0]
    # the budget: the running requests' remaining output, clipped at 4096, times the ratio
    assert policy.reserved_tokens(running) == pytest.approx((20 + 45 + 10) * policy.new_token_ratio)
    assert policy.admission_tokens(waiting[0], 10, 10) == 20 and policy.admission_tokens(waiting[0], 4, 10) == 4


def test_sglang_prefills_unmixed_and_runs_step_by_step():
    """A prefill batch pauses every decode (enable_mixed_chunk off); the 20K/2K case completes. SGLang
    retracts on this oversubscribed pool (its admission counts running requests' remaining output at
    new_token_ratio, not at full length), as its users report (sgl-project/sglang#26248)."""
    spec = _long_prompts_all_at_once({"policy": "sglang"}, num_requests=60)
    result = run(spec).deployments[0]
    assert result.summary.num_completed == 60
    out = result.records
    assert out["first_token_s"].notna().all()
    reserved = run(_long_prompts_all_at_once({"policy": "trtllm", "enable_chunked_context": True},
                                             num_requests=60)).deployments[0]
    assert reserved.summary.num_preemptions == 0 < result.summary.num_preemptions
    setup = result.resolved.setup
    from simulator.engine.fast.skip import why_not_skip_ahead
    assert "sglang" in why_not_skip_ahead(setup, exact=False, disaggregated=False, dependent_calls=False)
