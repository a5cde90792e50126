"""Skip-ahead against the step-by-step reference: same per-request times, same summaries."""

import math

import numpy as np
import pytest

from simulator.results.runner import run
from simulator.specs.scenario import ScenarioSpec
from simulator.engine.fast.clock import ClockedScheduler
from simulator.engine.kv.manager import KVCacheManager
from simulator.engine.request import Request, Status
from simulator.engine.scheduler import Scheduler, SchedulerConfig
from simulator.engine.cluster import CallGraph, RouterPolicy, simulate
from simulator.engine.fast.skip import start_times_below, why_not_skip_ahead
from conftest import replace, simple_setup

EXACT_KEYS_SKIPPED = {"num_engine_steps"}


def mix(prompt, output, rate, n, deployment, prefixes=True):
    return ScenarioSpec.model_validate({
        "name": "mix", "seed": 5,
        "workload": {"num_requests": n, "arrival": {"process": "poisson", "rate_per_s": rate},
                     "prompt_tokens": prompt, "output_tokens": output,
                     "shared_prefixes": [{"id": "s", "tokens": 300, "probability": 0.5}] if prefixes else []},
        "deployments": [deployment]})


MIXES = {
    "chat": mix({"dist": "lognormal", "median": 1000, "sigma": 0.7, "max": 16000},
                {"dist": "lognormal", "median": 250, "sigma": 0.5, "max": 2000}, 9, 600,
                {"name": "a", "model": "llama-3.1-8b", "hardware": "h100-sxm"}),
    "chat-4-replicas": mix({"dist": "lognormal", "median": 1000, "sigma": 0.7, "max": 16000},
                           {"dist": "lognormal", "median": 250, "sigma": 0.5, "max": 2000}, 30, 600,
                           {"name": "a", "model": "llama-3.1-8b", "hardware": "h100-sxm", "replicas": 4,
                            "router": "least_outstanding_tokens"}),
    "chat-3-round-robin": mix({"dist": "lognormal", "median": 800, "sigma": 0.7, "max": 16000},
                              {"dist": "lognormal", "median": 200, "sigma": 0.5, "max": 2000}, 20, 500,
                              {"name": "a", "model": "llama-3.1-8b", "hardware": "h100-sxm", "replicas": 3}),
    "long-context": mix({"dist": "uniform", "low": 32000, "high": 128000}, {"dist": "uniform", "low": 100, "high": 400},
                        0.3, 60, {"name": "a", "model": "llama-3.1-8b", "hardware": "h100-sxm"}),
    "preemption-heavy": mix({"dist": "lognormal", "median": 2000, "sigma": 0.5, "max": 16000},
                            {"dist": "lognormal", "median": 800, "sigma": 0.5, "max": 4000}, 6, 400,
                            {"name": "a", "model": "llama-3.1-8b", "hardware": "l4",
                             "engine": {"gpu_memory_utilization": 0.95}}),
    "moe-tp-fp8": mix({"dist": "lognormal", "median": 3000, "sigma": 0.6, "max": 30000},
                      {"dist": "lognormal", "median": 300, "sigma": 0.5, "max": 2000}, 3, 300,
                      {"name": "a", "model": "mixtral-8x7b", "hardware": "h100-sxm", "tensor_parallel": 2,
                       "kv_cache_dtype": "fp8", "engine": {"max_num_batched_tokens": 2048}}, prefixes=False),
    "trtllm-no-evict": mix({"dist": "lognormal", "median": 2000, "sigma": 0.5, "max": 16000},
                           {"dist": "lognormal", "median": 800, "sigma": 0.5, "max": 4000}, 6, 400,
                           {"name": "a", "model": "llama-3.1-8b", "hardware": "l4",
                            "engine": {"policy": "trtllm", "free_gpu_memory_fraction": 0.95,
                                       "enable_chunked_context": True}}),
    "trtllm-max-utilization": mix({"dist": "lognormal", "median": 2000, "sigma": 0.5, "max": 16000},
                                  {"dist": "lognormal", "median": 800, "sigma": 0.5, "max": 4000}, 6, 400,
                                  {"name": "a", "model": "llama-3.1-8b", "hardware": "l4",
                                   "engine": {"policy": "trtllm", "capacity_scheduler_policy": "MAX_UTILIZATION",
                                              "max_num_tokens": 4096, "enable_chunked_context": True}}),
    # TensorRT-LLM's PyTorch backend: its host work per step (34 us per sequence) is longer than the GPU's
    # decode step at this batch: host-bound stretches (arrivals and completions end them)
    "trtllm-host-bound": mix({"dist": "lognormal", "median": 100, "sigma": 0.5, "max": 2000},
                             {"dist": "lognormal", "median": 600, "sigma": 0.4, "max": 3000}, 200, 500,
                             {"name": "a", "model": "qwen3-30b-a3b", "hardware": "b200", "weight_dtype": "fp4",
                              "kv_cache_dtype": "fp8", "engine": {"policy": "trtllm", "enable_chunked_context": True}},
                             prefixes=False),
    # ... and a stretch that the crossing ends: 512 requests at once, the GPU's share grows past the host's
    "trtllm-host-bound-crossing": ScenarioSpec.model_validate({
        "name": "x", "seed": 0,
        "workload": {"num_requests": 512, "arrival": {"process": "all_at_once"},
                     "prompt_tokens": {"dist": "constant", "value": 2000},
                     "output_tokens": {"dist": "constant", "value": 1500}},
        "deployments": [{"name": "a", "model": "qwen3-30b-a3b", "hardware": "b200", "weight_dtype": "fp4",
                         "kv_cache_dtype": "fp8", "engine": {"policy": "trtllm", "enable_chunked_context": True}}]}),
}


@pytest.mark.parametrize("name", sorted(MIXES))
def test_skip_ahead_matches_step_by_step(name):
    exact = run(MIXES[name], exact=True).deployments[0]
    fast = run(MIXES[name]).deployments[0]
    for column in ("first_scheduled_s", "ttft_s", "e2e_s", "tpot_s", "itl_mean_s", "itl_max_s"):
        a, b = exact.records[column].to_numpy(), fast.records[column].to_numpy()
        assert np.array_equal(np.isnan(a), np.isnan(b))
        ok = ~np.isnan(a)
        assert np.allclose(b[ok], a[ok], rtol=1e-6, atol=1e-9), column
    assert exact.records["status"].tolist() == fast.records["status"].tolist()
    _close(exact.summary.model_dump(), fast.summary.model_dump())
    assert fast.summary.num_engine_steps < exact.summary.num_engine_steps
    if name == "preemption-heavy":
        assert exact.summary.num_preemptions > 0


def _close(a, b, path="metrics"):
    if isinstance(a, dict):
        for key in a:
            if key not in EXACT_KEYS_SKIPPED:
                _close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, float):
        assert b == pytest.approx(a, rel=0.005, abs=1e-12), path
    else:
        assert a == b, path


def test_skip_is_off_with_dependent_calls_and_windowed_models():
    windowed = mix({"dist": "constant", "value": 6000}, {"dist": "constant", "value": 200}, 1, 30,
                   {"name": "a", "model": "mistral-7b", "hardware": "h100-sxm"})
    m = run(windowed).deployments[0].summary
    assert m.num_engine_steps == m.num_iterations
    setup = simple_setup(max_num_seqs=8)
    child = Request(2, 0.0, 8, 4)
    calls = [Request(1, 0.0, 8, 4), child]
    graph = CallGraph()
    graph.add(calls[0], [child])
    dependent = simulate(calls, setup, 1, RouterPolicy.ROUND_ROBIN, calls=graph)
    assert "dependent calls" in dependent.step_by_step_reason
    assert all(r.status is Status.FINISHED for r in calls) and child.first_scheduled_s >= calls[0].finish_s
    assert simulate([Request(1, 0.0, 8, 4)], setup, 1, RouterPolicy.ROUND_ROBIN).step_by_step_reason is None


def test_one_place_says_why_skip_ahead_is_off():
    setup = simple_setup(max_num_seqs=8)
    assert why_not_skip_ahead(setup, exact=False, disaggregated=False, dependent_calls=False) is None
    reasons = [why_not_skip_ahead(setup, exact=True, disaggregated=False, dependent_calls=False),
               why_not_skip_ahead(setup, exact=False, disaggregated=True, dependent_calls=False),
               why_not_skip_ahead(setup, exact=False, disaggregated=False, dependent_calls=True),
               why_not_skip_ahead(replace(setup, full_blocks_for_tokens=lambda n: n // 4), exact=False,
                                  disaggregated=False, dependent_calls=False),
               why_not_skip_ahead(simple_setup(max_num_seqs=16), exact=False, disaggregated=False,
                                  dependent_calls=False)]
    assert [r.split()[0] for r in reasons] == ["the", "disaggregated", "dependent", "windowed", "max_num_batched_tokens"]


def test_start_times_closed_form():
    # starts: 0, 1, 2.5, 4.5, 7 with t0 = 1, delta = 0.5
    assert start_times_below(0.0, 1.0, 0.5, 4.5, 100) == 3
    assert start_times_below(0.0, 1.0, 0.5, 4.6, 100) == 4
    assert start_times_below(0.0, 1.0, 0.5, math.inf, 7) == 7
    assert start_times_below(5.0, 1.0, 0.0, 5.0, 10) == 0
    assert start_times_below(0.0, 1.0, 0.0, 3.5, 10) == 4


def test_clock_counts_block_boundaries_and_writes_back_counters():
    config = SchedulerConfig(max_num_seqs=8, max_num_batched_tokens=64, enable_chunked_prefill=True,
                             enable_prefix_caching=False, block_size=16)
    scheduler = ClockedScheduler(Scheduler(config, KVCacheManager(100, 16, False)))
    contexts = [15, 16, 30]
    for rid, context in enumerate(contexts):     # running decodes holding ceil(context / 16) blocks
        request = Request(rid, 0.0, context, 50, num_output_tokens=1, num_computed_tokens=context,
                          status=Status.RUNNING, first_token_s=0.0, last_token_s=0.0)
        scheduler.kv.allocate_slots(request, 0)
        scheduler.scheduler.running.append(request)
        scheduler._sequence(request)
        scheduler._clock(request)
    # iteration k computes token c + k + 1, which opens a block when c + k is a multiple of 16
    assert scheduler.blocks_between(0, 1) == 1        # context 16 opens block 2 at iteration 0
    assert scheduler.blocks_between(1, 2) == 1        # context 15: token 17 at iteration 1
    assert scheduler.blocks_between(2, 3) == 1        # context 30: token 33 at iteration 2
    assert scheduler.blocks_between(0, 3) == 3
    assert scheduler.blocks_between(0, 16 * 4) == 3 * 4     # one block per request every 16 iterations
    assert scheduler.clocked_context_sum() == sum(contexts)
    step = scheduler.schedule_step()
    assert step.num_clocked == 3 and not step.requests and not step.per_request
    scheduler.finish_step(step, 0.5, 0.5)
    scheduler.schedule_step()                         # iteration 1 takes its blocks, then a 3-iteration stretch
    scheduler.advance(3, 0.5, 0.25, 0.0)
    assert scheduler.clocked_context_sum() == sum(contexts) + 3 * 4
    scheduler.unclock_all()
    request = scheduler.scheduler.running[0]
    assert request.num_computed_tokens == 19 and request.num_output_tokens == 5
    assert request.last_token_s == pytest.approx(1.25) and request.itl_max_s == pytest.approx(0.5)
    assert scheduler.kv.num_blocks_of(request) == 2 and scheduler.kv.num_used_blocks == 2 + 2 + 3
    kv = scheduler.kv                                  # its table was synced to 19 tokens: 2 blocks hold 32
    assert kv.has_slot_for_next_token(Request(0, 0.0, 32, 1, num_computed_tokens=31))
    assert not kv.has_slot_for_next_token(Request(0, 0.0, 32, 1, num_computed_tokens=32))


def test_iteration_log_max_duration_matches_a_plain_max_across_compactions():
    import random

    from simulator.engine.fast.clock import IterationLog
    rng = random.Random(7)
    log, durations = IterationLog(), []
    for _ in range(5000):
        duration = rng.uniform(0.001, 0.1)
        log.add(len(durations) * 1.0, duration)
        durations.append(duration)
        if rng.random() < 0.002:                           # drop what no request needs any more
            log.compact(rng.randrange(log.origin, len(durations)))
        first = rng.randrange(log.origin, len(durations))
        stop = rng.randrange(first + 1, len(durations) + 1)
        assert log.max_duration(first, stop) == max(durations[first:stop])
        assert log.end(stop - 1) == (stop - 1) * 1.0
    assert log.origin > 0 and log.origin % IterationLog.CHUNK == 0
