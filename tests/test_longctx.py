"""The long-context stack: context parallelism, attention implementations, KV tiers and compression,
pipeline/expert parallelism, disaggregated prefill, training cost and the quoted figures."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simulator.costs import costmodel
from simulator.catalog import resolve_hardware, resolve_model
from simulator.results.estimate import estimate
from simulator.results.longctx import explain_rows, train_cost
from simulator.results.runner import run
from simulator.specs.scenario import ScenarioSpec

CTXPLAN = str(Path(sys.executable).parent / "ctxplan")


@pytest.fixture(scope="module")
def h100():
    return resolve_hardware("h100-sxm")


def test_estimate_plans_a_million_token_prompt_with_context_parallelism():
    out = subprocess.run([CTXPLAN, "estimate", "--model", "llama-4-scout", "--hardware", "h100-sxm",
                          "--prompt-tokens", "1000000", "--output-tokens", "256", "--tp", "4",
                          "--context-parallel", "8", "--format", "json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert plan["fits"] is True and plan["num_gpus"] == 32
    assert plan["prefill_time_s"] > 0 and plan["cost_per_query_usd"] > 0
    assert plan["memory_bytes_per_gpu"] < 80e9
    few = subprocess.run([CTXPLAN, "estimate", "--model", "llama-4-scout", "--hardware", "h100-sxm",
                          "--prompt-tokens", "1000000", "--output-tokens", "256", "--tp", "2",
                          "--format", "json"], capture_output=True, text=True, timeout=60)
    assert few.returncode == 0, few.stderr
    short = json.loads(few.stdout)
    assert short["fits"] is False and short["min_num_gpus"] == 4 and short["needs"]["num_gpus"] == 4


def test_ring_attention_divides_kv_and_attention_per_gpu_and_exposes_a_slow_ring(h100):
    scout = resolve_model("llama-4-scout")
    base = estimate(scout, h100, 1_000_000, 256, tp=4)
    fast_link = dataclasses.replace(h100, internode_bytes_per_s=1e15)
    slow_link = dataclasses.replace(h100, internode_bytes_per_s=1e9)
    for d in (2, 4, 8):
        plan = estimate(scout, h100, 1_000_000, 256, tp=4, context_parallel=d)
        assert plan.kv_cache_bytes_per_gpu == pytest.approx(base.kv_cache_bytes_per_gpu / d, rel=1e-9)
        fast = costmodel.iteration_cost_params(scout, fast_link, 4, cp=d)
        one = costmodel.iteration_cost_params(scout, fast_link, 4)
        assert costmodel.prefill_attention_time_s(fast, 500_000, 8192 * d) == pytest.approx(
            costmodel.prefill_attention_time_s(one, 500_000, 8192 * d) / d, rel=1e-9)   # compute split d ways
    fast_plan = estimate(scout, fast_link, 1_000_000, 256, tp=4, context_parallel=8)
    slow_plan = estimate(scout, slow_link, 1_000_000, 256, tp=4, context_parallel=8)
    assert slow_plan.ring_communication_s > slow_plan.prefill_time_s * 0.9     # the ring dominates
    assert slow_plan.prefill_time_s > 3 * fast_plan.prefill_time_s
    assert fast_plan.prefill_time_s < base.prefill_time_s / 6                  # ~8x from 8 ranks


def test_naive_attention_materialises_the_score_matrix(h100):
    llama70 = resolve_model("llama-3.1-70b")
    plan = estimate(llama70, h100, 131072, 16, tp=8)
    naive, flash = plan.attention.naive, plan.attention.flash
    assert naive.score_matrix_bytes_per_gpu == 64 / 8 * 8192 * 131072 * 2     # one 8K chunk, one layer
    assert flash.score_matrix_bytes_per_gpu == 0 and flash.fits
    assert naive.prefill_time_s > flash.prefill_time_s
    whole = estimate(llama70, h100, 131072, 16, tp=8, engine=None, attention_impl="naive")
    assert whole.attention_impl == "naive" and whole.prefill_time_s == naive.prefill_time_s
    unchunked = estimate(llama70, h100, 131072, 16, tp=8, attention_impl="naive",
                         engine=__import__("simulator.specs.engine_spec", fromlist=["EngineSpec"]).EngineSpec(
                             enable_chunked_prefill=False, max_num_batched_tokens=131072))
    assert unchunked.fits is False and "score matrix" in unchunked.fit_reason


def test_kv_dtypes_scale_memory_and_int4_carries_a_quality_penalty(h100):
    llama8 = resolve_model("llama-3.1-8b")
    sizes = {d: estimate(llama8, h100, 32768, 16, kv_dtype=d).kv_cache_bytes for d in ("bf16", "fp8", "int4")}
    assert sizes["fp8"] == sizes["bf16"] / 2 and sizes["int4"] == sizes["bf16"] / 4
    from simulator.comparisons.quality import kv_quality_penalty
    assert kv_quality_penalty("fp8") == 0.0 and kv_quality_penalty("int4") > 0
    assert kv_quality_penalty("int4", 0.1) == 0.1


def _preempting(mode: str, hardware: str) -> dict:
    spec = ScenarioSpec.model_validate({
        "name": "swap", "seed": 5,
        "workload": {"num_requests": 300, "arrival": {"process": "poisson", "rate_per_s": 0.15},
                     "prompt_tokens": {"dist": "lognormal", "median": 2000, "sigma": 0.5, "max": 16000},
                     "output_tokens": {"dist": "lognormal", "median": 800, "sigma": 0.5, "max": 4000}},
        "deployments": [{"name": mode, "model": "llama-3.1-8b", "hardware": hardware, "preemption_mode": mode,
                         "engine": {"gpu_memory_utilization": 0.95, "enable_prefix_caching": False}}]})
    return run(spec).deployments[0].summary


def test_swap_preemption_wins_on_a_fast_tier_and_loses_on_a_slow_one(tmp_path):
    (tmp_path / "fast.yaml").write_text("base: l4\nname: l4-fast-host\nhost_link_gb_s: 32\n")
    (tmp_path / "slow.yaml").write_text("base: l4\nname: l4-slow-host\nhost_link_gb_s: 0.2\n")
    for tier, better in (("fast.yaml", True), ("slow.yaml", False)):
        recompute = _preempting("recompute", str(tmp_path / tier))
        swap = _preempting("swap", str(tmp_path / tier))
        assert recompute.num_preemptions > 20 and swap.num_preemptions > 20
        assert (swap.e2e_s.mean < recompute.e2e_s.mean) is better, tier


def _disaggregation(prefill_pool: dict | None, rate: float = 5.0, n: int = 600):
    deployment = {"name": "d", "model": "llama-3.1-8b", "hardware": "h100-sxm"}
    if prefill_pool is None:
        deployment.update(replicas=2, router="least_outstanding_tokens")
    else:
        deployment["prefill_pool"] = prefill_pool
    spec = ScenarioSpec.model_validate({
        "name": "disagg", "seed": 3,
        "workload": {"num_requests": n, "arrival": {"process": "poisson", "rate_per_s": rate},
                     "prompt_tokens": {"dist": "lognormal", "median": 6000, "sigma": 0.5, "max": 30000},
                     "output_tokens": {"dist": "lognormal", "median": 300, "sigma": 0.4, "max": 2000}},
        "deployments": [deployment]})
    return run(spec).deployments[0]


def test_disaggregation_removes_prefill_interference_from_tpot_and_pays_the_transfer():
    colocated = _disaggregation(None)
    split = _disaggregation({"replicas": 1})
    assert split.resolved.num_gpus == colocated.resolved.num_gpus == 2
    assert split.summary.tpot_s.p99 < 0.65 * colocated.summary.tpot_s.p99     # 0.58-0.61 measured
    # one request alone: TTFT = prefill on the prefill pool + KV transfer, to the microsecond
    for link in (50.0, 1.0):
        alone = _disaggregation({"replicas": 1, "transfer_gb_s": link}, rate=0.01, n=1)
        record = alone.records.iloc[0]
        prompt = int(record["prompt_tokens"])
        prefill_only = _disaggregation(None, rate=0.01, n=1).records.iloc[0]
        transfer = prompt * costmodel.kv_bytes_per_token(resolve_model("llama-3.1-8b"), "bf16") / (link * 1e9)
        assert record["ttft_s"] == pytest.approx(prefill_only["ttft_s"] + transfer, rel=1e-6)


def test_train_cost_ratio_of_128k_to_4k_matches_a_hand_computation(h100):
    model = resolve_model("llama-3.1-8b")
    result = train_cost(model, h100, 4096, [(131072, 20e9)], num_gpus=64)
    ratio = result["stages"][0]["per_sample_cost_ratio_vs_from_context"]
    dense = 2 * (model.params_active - 2 * model.vocab_size * model.hidden_size + model.vocab_size * model.hidden_size)
    pair = 4 * model.num_attention_heads * model.head_dim * model.num_layers

    def per_sample(length):
        return (dense + pair * (length + 1) / 2) * length
    assert ratio == pytest.approx(per_sample(131072) / per_sample(4096), rel=1e-9)
    assert ratio > 32
    stage = result["stages"][0]
    assert stage["attention_share"] > 0.5 and stage["wall_time_hours"] == pytest.approx(stage["gpu_hours"] / 64)


def test_explain_reproduces_the_quoted_kv_figures():
    rows = {r["quantity"]: r for r in explain_rows()}
    values = [r["value"] for r in rows.values()]
    assert values[0] == pytest.approx(80 * 2 * 8 * 128 * 2 * 131072 / 1e9)        # Llama-2-70B GQA: 42.9 GB
    assert values[1] == pytest.approx(8 * values[0])                                # as MHA: 8x
    assert values[2] == pytest.approx(values[0])                                    # Llama-3.1-70B
    assert values[4] == pytest.approx(61 * 576 * 2 * 131072 / 1e9)                  # DeepSeek-V3 MLA
    naive = next(r for q, r in rows.items() if q.startswith("Naive"))
    assert naive["value"] == pytest.approx(64 * 131072 ** 2 * 2 / 1e12)


def test_pipeline_and_expert_parallelism_plan_models_across_nodes(h100):
    v3 = resolve_model("deepseek-v3")
    one_node = estimate(v3, h100, 8192, 256, tp=8, weight_dtype="fp8")
    assert one_node.fits is False
    two_nodes = estimate(v3, h100, 8192, 256, tp=8, weight_dtype="fp8", pipeline_parallel=2)
    assert two_nodes.fits and two_nodes.num_gpus == 16
    assert two_nodes.weights_bytes_per_gpu == pytest.approx(one_node.weights_bytes_per_gpu / 2)
    ep = estimate(v3, h100, 8192, 256, tp=8, weight_dtype="fp8", pipeline_parallel=2, expert_parallel=8)
    assert ep.decode_time_per_token_s > two_nodes.decode_time_per_token_s          # all-to-all added
    hop = costmodel.iteration_cost_params(resolve_model("llama-3.1-405b"), h100, 8, pp=2)
    flat = costmodel.iteration_cost_params(resolve_model("llama-3.1-405b"), h100, 8)
    gap = costmodel.iteration_time_s(hop, [], 64, 64 * 4000, 64) - costmodel.iteration_time_s(flat, [], 64, 64 * 4000, 64)
    assert gap == pytest.approx(hop.pp_hop_s + 64 * hop.pp_bytes_per_token / hop.pp_link_bytes_per_s)


def test_context_parallel_deployment_simulates_with_skip_ahead_equal_to_exact():
    spec = ScenarioSpec.model_validate({
        "name": "cp", "seed": 2,
        "workload": {"num_requests": 40, "arrival": {"process": "poisson", "rate_per_s": 0.5},
                     "prompt_tokens": {"dist": "uniform", "low": 60000, "high": 120000},
                     "output_tokens": {"dist": "uniform", "low": 50, "high": 200}},
        "deployments": [{"name": "cp", "model": "llama-3.1-8b", "hardware": "h100-sxm", "tensor_parallel": 2,
                         "context_parallel": 4}]})
    fast, exact = run(spec).deployments[0], run(spec, exact=True).deployments[0]
    assert fast.resolved.num_gpus == 8
    assert fast.summary.num_engine_steps < exact.summary.num_engine_steps
    assert np.allclose(fast.records["e2e_s"], exact.records["e2e_s"], rtol=1e-6)
    single = run(spec.model_copy(update={"deployments": [spec.deployments[0].model_copy(
        update={"context_parallel": 1, "tensor_parallel": 8})]})).deployments[0]
    assert fast.summary.ttft_s.p50 < single.summary.ttft_s.p50       # 8 GPUs: cp 4 x tp 2 beats tp 8


def _documents(offload: bool, hardware: str):
    spec = ScenarioSpec.model_validate({
        "name": "offload", "seed": 1,
        "workload": {"num_requests": 400, "arrival": {"process": "poisson", "rate_per_s": 1.0},
                     "prompt_tokens": {"dist": "constant", "value": 200},
                     "output_tokens": {"dist": "constant", "value": 100},
                     "shared_prefixes": [{"id": f"doc{i}", "tokens": 20000, "probability": 0.025} for i in range(40)]},
        "deployments": [{"name": "x", "model": "llama-3.1-8b", "hardware": hardware, "kv_offload": offload}]})
    return run(spec).deployments[0]


def test_offloaded_prefixes_reload_from_host_memory_when_the_link_is_fast(tmp_path):
    # 40 documents of 20K tokens: twice what the GPU cache holds, well within host memory
    (tmp_path / "slow.yaml").write_text("base: h100-sxm\nname: h100-slow-host\nhost_link_gb_s: 0.5\n")
    off, on = _documents(False, "h100-sxm"), _documents(True, "h100-sxm")
    assert on.summary.prefix_cache_hit_rate > off.summary.prefix_cache_hit_rate + 0.2
    assert on.summary.ttft_s.mean < 0.5 * off.summary.ttft_s.mean
    slow = _documents(True, str(tmp_path / "slow.yaml"))
    assert slow.summary.ttft_s.mean > off.summary.ttft_s.mean
    assert any("slower than prefill" in note for note in slow.resolved.notes)
    assert not any("slower than prefill" in note for note in on.resolved.notes)


def test_naive_attention_deployment_refuses_prompts_whose_scores_cannot_fit():
    def deployment(impl):
        spec = ScenarioSpec.model_validate({
            "name": "naive", "seed": 1,
            "workload": {"num_requests": 20, "arrival": {"process": "poisson", "rate_per_s": 0.2},
                         "prompt_tokens": {"dist": "uniform", "low": 1000, "high": 120000},
                         "output_tokens": {"dist": "constant", "value": 20}},
            "deployments": [{"name": impl, "model": "llama-3.1-8b", "hardware": "h100-sxm", "attention_impl": impl,
                             "engine": {"max_num_batched_tokens": 32768}}]})
        return run(spec).deployments[0]
    flash, naive = deployment("flash"), deployment("naive")
    assert flash.summary.num_rejected == 0
    rejected = naive.records[naive.records.status == "rejected"]
    assert len(rejected) > 0 and rejected.reject_reason.str.startswith("naive_attention_scores").all()
    assert rejected.prompt_tokens.min() > naive.records[naive.records.status != "rejected"].prompt_tokens.max()
    assert (naive.records.status == "completed").sum() >= 2
    chunk = [(8192, 8192)]                                                        # and slower where it runs
    assert costmodel.iteration_time_s(naive.resolved.setup.cost, chunk, 0, 0, 1) > \
        costmodel.iteration_time_s(flash.resolved.setup.cost, chunk, 0, 0, 1)
