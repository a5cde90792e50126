"""Cost-model layer: closed-form checks on one shape, monotonicity, limits."""

import dataclasses
import math

import pytest

from simulator.costs import costmodel
from simulator.catalog import resolve_hardware, resolve_model
from simulator.results.estimate import estimate
from simulator.costs.model import LayerGroup, WindowKind, attended_length, attended_pairs


@pytest.fixture(scope="module")
def h100():
    return resolve_hardware("h100-sxm")


def test_kv_bytes_per_token_matches_the_formula():
    llama70 = resolve_model("llama-3.1-70b")
    assert costmodel.kv_bytes_per_token(llama70, "bf16") == 2 * 80 * 8 * 128 * 2 == 327680
    assert costmodel.kv_bytes_for_sequence(llama70, "bf16", 131072) == 42949672960
    assert costmodel.kv_bytes_per_token(llama70, "fp8") == 327680 / 2
    assert costmodel.kv_bytes_per_token(llama70, "bf16", tp=4) == 327680 / 4
    deepseek = resolve_model("deepseek-v3")
    assert costmodel.kv_bytes_per_token(deepseek, "bf16") == (512 + 64) * 61 * 2 == 70272
    assert costmodel.kv_bytes_per_token(deepseek, "bf16", tp=8) == 70272     # latent replicated per rank


def test_attended_pairs_closed_forms_match_brute_force():
    for group in (LayerGroup(1, WindowKind.GLOBAL, None), LayerGroup(1, WindowKind.SLIDING, 5),
                  LayerGroup(1, WindowKind.CHUNKED, 4)):
        for context in (0, 3, 7, 12):
            for new in (1, 2, 9):
                brute = sum(attended_length(group, p) for p in range(context, context + new))
                assert attended_pairs(group, context, new) == brute, (group, context, new)
    assert attended_length(LayerGroup(1, WindowKind.CHUNKED, 4), 5) == 2
    assert attended_length(LayerGroup(1, WindowKind.SLIDING, 4), 5) == 4


def test_prefill_of_64k_costs_more_than_8x_an_8k_prompt(h100):
    model = resolve_model("llama-3.1-8b")
    t8 = estimate(model, h100, 8192, 1).prefill_time_s
    t64 = estimate(model, h100, 65536, 1).prefill_time_s
    assert t64 > 8 * t8
    cost = costmodel.iteration_cost_params(model, h100)
    single8 = costmodel.prefill_attention_time_s(cost, 0, 8192)
    single64 = costmodel.prefill_attention_time_s(cost, 0, 65536)
    assert single64 / single8 > 50          # attention alone is quadratic: ~64x


def test_sliding_window_caps_kv_and_decode_cost(h100):
    mistral = resolve_model("mistral-7b")
    kv = [costmodel.kv_bytes_for_sequence(mistral, "bf16", n) for n in (2048, 4096, 8192, 30000)]
    assert kv[0] < kv[1] == kv[2] == kv[3]
    cost = costmodel.iteration_cost_params(mistral, h100)
    decode = [costmodel.iteration_time_s(cost, [], 1, costmodel.decode_attended_tokens(cost, n), 1)
              for n in (1000, 5000, 20000, 30000)]
    assert decode[0] < decode[1] == decode[2] == decode[3]
    llama = resolve_model("llama-3.1-8b")
    cost_llama = costmodel.iteration_cost_params(llama, h100)
    grows = [costmodel.iteration_time_s(cost_llama, [], 1, costmodel.decode_attended_tokens(cost_llama, n), 1)
             for n in (5000, 20000)]
    assert grows[0] < grows[1]


def test_gemma_local_global_stores_between_window_and_full():
    gemma = resolve_model("gemma-2-9b")
    full = costmodel.kv_bytes_per_token(gemma, "bf16") * 8192
    stored = costmodel.kv_bytes_for_sequence(gemma, "bf16", 8192)
    assert stored == pytest.approx(full * (21 * 8192 + 21 * 4096) / (42 * 8192))


def test_decode_time_is_bounded_below_by_weights_over_peak_bandwidth(h100):
    model = resolve_model("llama-3.1-8b")
    cost = costmodel.iteration_cost_params(model, h100)
    t = costmodel.iteration_time_s(cost, [], 1, costmodel.decode_attended_tokens(cost, 100), 1)
    floor = costmodel.weight_bytes(model, "bf16") * 0.8 / h100.memory_bandwidth_bytes_per_s
    assert floor < t < 3 * floor


def test_prefill_never_faster_than_peak_flops(h100):
    model = resolve_model("llama-3.1-70b")
    cost = costmodel.iteration_cost_params(model, h100, tp=8)
    t = costmodel.iteration_time_s(cost, [(0, 8192)], 0, 0, 1)
    ideal = 2 * model.params_active * 8192 / (8 * h100.bf16_flops_per_s)
    assert t > ideal


def test_fp8_and_int4_weights_cut_decode_time(h100):
    model = resolve_model("llama-3.1-70b")
    times = {}
    for dtype in ("bf16", "fp8", "int4"):
        cost = costmodel.iteration_cost_params(model, h100, tp=4, weight_dtype=dtype)
        times[dtype] = costmodel.iteration_time_s(cost, [], 1, costmodel.decode_attended_tokens(cost, 500), 1)
    assert times["bf16"] > times["fp8"] > times["int4"]


def test_moe_reads_more_experts_as_the_batch_grows(h100):
    mixtral = resolve_model("mixtral-8x7b")
    cost = costmodel.iteration_cost_params(mixtral, h100, tp=2)
    one = costmodel.linear_time_s(cost, 1, 1)
    many = costmodel.linear_time_s(cost, 64, 64)
    dense_equivalent = costmodel.weight_bytes(mixtral, "bf16") / 2 / cost.achieved_bandwidth_bytes_per_s
    assert one < many <= dense_equivalent * 1.01
    assert one < 0.5 * dense_equivalent          # top-2 of 8 experts: a single token reads ~1/3 of the weights


def test_tensor_parallel_adds_allreduce_time(h100):
    model = resolve_model("llama-3.1-8b")
    tp1 = costmodel.iteration_cost_params(model, h100, tp=1)
    tp2 = costmodel.iteration_cost_params(model, h100, tp=2)
    assert costmodel.allreduce_time_s(tp1, 512) == 0
    assert costmodel.allreduce_time_s(tp2, 512) > costmodel.allreduce_time_s(tp2, 1) > 0


def test_allreduce_latency_grows_with_the_ring_as_in_nccls_model(h100):
    """NCCL's ring model: base + 2 (n - 1) steps per call, so an empty all-reduce costs more on a longer ring."""
    curves = h100.curves
    assert curves.allreduce_step_latency_s > 0
    assert curves.allreduce_call_latency_s(1) == 0
    for n in (2, 4, 8):
        expected = curves.allreduce_latency_s + 2 * (n - 1) * curves.allreduce_step_latency_s
        assert curves.allreduce_call_latency_s(n) == pytest.approx(expected)
        params = costmodel.iteration_cost_params(resolve_model("llama-3.1-70b"), h100, tp=n)
        assert costmodel.allreduce_time_s(params, 0) == pytest.approx(params.allreduces_per_iteration * expected)
    from simulator.costs.kernel_model import allreduce_s
    assert allreduce_s(h100, 0, 8) - allreduce_s(h100, 0, 2) == pytest.approx(12 * curves.allreduce_step_latency_s)


def test_wave_quantisation_charges_a_part_empty_last_wave():
    from simulator.costs.hardware import wave_efficiency
    assert wave_efficiency(128 * 132, 128, 128, 132) == 1.0           # exactly one wave
    assert wave_efficiency(128 * 133, 128, 128, 132) == pytest.approx(133 / 264)   # one tile spills over
    assert wave_efficiency(128, 128 * 10, 128, 132) == 1.0            # under one wave: split-K fills the GPU
    assert wave_efficiency(4096, 1280, 0, 132) == 1.0                 # tile 0: CPU profiles, no waves


def test_narrow_tensor_parallel_slices_lose_more_to_waves(h100):
    """Per GPU, TP 8 runs 1/8 of the TP 1 FLOPs but in narrower GEMMs: its linear time is above 1/8."""
    model = resolve_model("llama-3.1-70b")
    tp1 = costmodel.iteration_cost_params(model, h100, tp=1, weight_dtype="fp8")
    tp8 = costmodel.iteration_cost_params(model, h100, tp=8, weight_dtype="fp8")
    widths = dict(tp8.gemm_widths)
    assert min(widths) == pytest.approx((64 * 128) / 8 + 2 * 128)     # QKV: 8 query heads + 1 KV head per GPU
    assert sum(share for _, share in tp8.gemm_widths) == pytest.approx(1.0)
    no_waves = dataclasses.replace(tp8, gemm_widths=())
    tokens = 4096
    assert costmodel.linear_time_s(tp8, tokens, 0) > costmodel.linear_time_s(no_waves, tokens, 0)
    assert costmodel.linear_time_s(tp8, tokens, 0) > costmodel.linear_time_s(tp1, tokens, 0) / 8


def test_elementwise_kernels_stream_each_layers_activations_once(h100):
    """Norms, RoPE and the gated activation per token and layer: the norms' 8 hidden vectors stay whole on every
    TP rank, the rest splits; their bytes add to the linear time at achieved bandwidth."""
    from simulator.costs.model import elementwise_elements_per_token_per_layer as elements
    llama8 = resolve_model("llama-3.1-8b")              # h 4096, 32 query / 8 KV heads of 128, intermediate 14336
    assert elements(llama8, 1) == 8 * 4096 + 2 * (4096 + 1024) + 3 * 14336
    assert elements(llama8, 4) == 8 * 4096 + 2 * (1024 + 256) + 3 * 14336 / 4
    mixtral = resolve_model("mixtral-8x7b")             # 2 of 8 experts of width 14336: activation on both, moe_sum
    assert elements(mixtral, 1) == pytest.approx(8 * 4096 + 2 * (4096 + 1024) + 3 * 2 * 14336 + 3 * 4096, rel=1e-3)
    from simulator.costs.model import active_mlp_width
    qwen = resolve_model("qwen3-30b-a3b")                # top-8 of experts 768 wide: the reserve holds all 8
    assert active_mlp_width(qwen) == pytest.approx(8 * 768, rel=0.01)
    reserve = {"fixed_bytes": 0, "activation_hidden_multiplier": 0, "activation_intermediate_multiplier": 2,
               "activation_bytes_per_element": 2, "logits_bytes_per_element": 4}
    assert costmodel.activation_reserve_bytes(qwen, 1, 1000, 0, reserve) == pytest.approx(1000 * 2 * 8 * 768 * 2,
                                                                                         rel=0.01)
    params = costmodel.iteration_cost_params(llama8, h100)
    assert params.elementwise_bytes_per_token == 32 * 2 * elements(llama8, 1)
    without = dataclasses.replace(params, elementwise_bytes_per_token=0.0)
    tokens = 2048
    extra_s = costmodel.linear_time_s(params, tokens, 0) - costmodel.linear_time_s(without, tokens, 0)
    assert extra_s == pytest.approx(tokens * params.elementwise_bytes_per_token / params.achieved_bandwidth_bytes_per_s)


def test_fp4_weights_take_nvfp4_bytes_and_fp4_tensor_cores_where_the_gpu_has_them(h100):
    """NVFP4: 16 four-bit values share one 8-bit scale. FP4 tensor cores at their own measured efficiency on the
    Blackwell datacenter rows; on a GPU without them fp4 weights compute at the bf16 rate (weight-only)."""
    llama70 = resolve_model("llama-3.1-70b")
    assert costmodel.bytes_per_element("fp4") == (16 * 0.5 + 1) / 16
    b200 = resolve_hardware("b200")
    on_b200 = costmodel.iteration_cost_params(llama70, b200, weight_dtype="fp4")
    assert on_b200.matmul_peak_flops_per_s == 9000e12 and on_b200.matmul_efficiency_max == 0.43
    fp8_on_b200 = costmodel.iteration_cost_params(llama70, b200, weight_dtype="fp8")
    assert fp8_on_b200.matmul_efficiency_max == b200.curves.matmul_efficiency_max      # fp8 keeps its curve
    on_h100 = costmodel.iteration_cost_params(llama70, h100, weight_dtype="fp4")     # W4A16 without FP4 cores
    assert on_h100.matmul_peak_flops_per_s == h100.bf16_flops_per_s
    assert on_h100.matmul_efficiency_max == h100.curves.matmul_efficiency_max
    workstation = resolve_hardware("rtx-pro-6000")                                    # FP4 cores, no measurement
    on_rtx = costmodel.iteration_cost_params(llama70, workstation, weight_dtype="fp4")
    assert on_rtx.matmul_peak_flops_per_s == workstation.fp4_flops_per_s
    assert on_rtx.matmul_efficiency_max == workstation.curves.matmul_efficiency_max
    from simulator.costs.kernel_model import matmul_s                                 # the kernel predictor agrees
    from simulator.costs.hardware import wave_efficiency
    m, n, k = 8192, 8192, 8192
    waves = wave_efficiency(m, n, b200.curves.matmul_tile, b200.sm_count)
    assert matmul_s(b200, m, n, k, "fp4") == pytest.approx(b200.curves.kernel_launch_s + 2 * m * n * k / (
        9000e12 * 0.43 * m / (m + b200.curves.matmul_half_saturation_tokens) * waves))
    with pytest.raises(ValueError, match="fp4_matmul_efficiency_max"):
        dataclasses.replace(b200.curves, fp4_matmul_efficiency_max=1.5)
    head = llama70.vocab_size * llama70.hidden_size      # the LM head stays 16-bit; the input table is not streamed
    assert on_b200.dense_weight_bytes == pytest.approx((llama70.params_total - 2 * head) * 0.5625 + head * 2.0)


def test_windowed_model_needs_fewer_blocks_than_tokens():
    from simulator.costs.memory import blocks_for_tokens_fn
    mistral = resolve_model("mistral-7b")
    blocks = blocks_for_tokens_fn(mistral, "bf16", 1, 16)
    assert blocks(4096) == 256
    assert blocks(20000) == 256
    assert blocks(100) == math.ceil(100 / 16)


def test_moe_experts_run_as_a_grouped_gemm_of_their_own_rows(h100):
    """Each touched expert multiplies T k / touched tokens: at a modest batch its GEMM is far from saturated."""
    mixtral = resolve_model("mixtral-8x7b")
    cost = costmodel.iteration_cost_params(mixtral, h100, tp=1, weight_dtype="fp8")
    tokens = 512
    touched = cost.num_experts * (1 - (1 - cost.experts_per_token / cost.num_experts) ** tokens)
    rows = tokens * cost.experts_per_token / touched
    assert cost.expert_flops_per_token == 2 * 2 * mixtral.expert_split()[1]
    expert_eff = cost.matmul_efficiency_max * rows / (rows + cost.matmul_half_saturation_tokens)
    batch_eff = cost.matmul_efficiency_max * tokens / (tokens + cost.matmul_half_saturation_tokens)
    assert expert_eff < batch_eff
    experts_floor = cost.expert_flops_per_token * tokens / (cost.matmul_peak_flops_per_s * expert_eff)
    as_one_gemm = cost.linear_flops_per_token * tokens / (cost.matmul_peak_flops_per_s * batch_eff)
    assert costmodel.linear_time_s(cost, tokens, 0) >= experts_floor > 0
    assert costmodel.linear_time_s(cost, tokens, 0) > as_one_gemm      # what pricing the batch as one GEMM gave
    dense = costmodel.iteration_cost_params(resolve_model("llama-3.1-8b"), h100)
    assert dense.expert_flops_per_token == 0.0


def test_attention_runs_at_the_slower_of_the_tensor_cores_and_the_softmax_exponentials():
    """One exponential per (query, key) pair and head beside 4 x head_dim tensor FLOPs: at head_dim 128 FP8
    attention on B200 (4,500 TFLOP/s against 5e12 exp/s x 512) is exponential-bound, BF16 is not, and B300's
    doubled MUFU.EX2 lifts the bound above its tensor cores; at head_dim 96 BF16 on B200 is bound too; a GPU
    without an exponential rate in the catalog has no bound."""
    b200, b300, l40s = (resolve_hardware(name) for name in ("b200", "b300", "l40s"))
    assert b200.attention_peak_flops_per_s("fp8", 512) == pytest.approx(5e12 * 512)
    assert b200.attention_peak_flops_per_s("bf16", 512) == b200.matmul_peak_flops_per_s("bf16")
    assert b200.attention_peak_flops_per_s("bf16", 384) == pytest.approx(5e12 * 384)     # head_dim 96
    assert b300.attention_peak_flops_per_s("fp8", 512) == b300.matmul_peak_flops_per_s("fp8")
    assert l40s.exp_per_s is None and l40s.attention_peak_flops_per_s("fp8", 512) == l40s.matmul_peak_flops_per_s("fp8")
    model = resolve_model("llama-3.1-70b")
    params = {name: costmodel.iteration_cost_params(model, resolve_hardware(name), 1, "fp4", "fp8")
              for name in ("b200", "b300")}
    assert params["b200"].attention_peak_flops_per_s == pytest.approx(5e12 * 4 * model.head_dim)
    prefill = {name: costmodel.prefill_attention_time_s(p, 0, 32_768) for name, p in params.items()}
    assert prefill["b200"] > prefill["b300"]
