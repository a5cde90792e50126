"""Iteration cost model: the one place where ctxplan turns work into seconds and bytes.

An engine iteration runs one forward pass over a mixed batch. Each sequence contributes
`num_new` tokens (a prefill chunk, or 1 for a decode) attending to `context` tokens already in
its KV cache:

    sequence A (prefill chunk):  [ context=2048 cached | new=512 ]   -> 512 query tokens
    sequence B (decode):         [ context=9000 cached |1]           -> 1 query token

Time of an iteration (per GPU of a tensor-parallel group, all terms added, no overlap assumed between them;
the engine's host work is added when the engine does not overlap it, else the step takes max(this, host)):

    overhead                                   fixed per-iteration floor from the profile
  + linear:    max(linear_flops / achieved_matmul(T), weight_bytes_read / achieved_bw)
               + T x elementwise_bytes_per_token / achieved_bw   (norms, RoPE, activation between the GEMMs)
  + attention: sum over prefill chunks of max(flops_i / achieved_attn(new_i), kv_bytes_i / achieved_bw)
               (attention's peak: the tensor cores' or the softmax exponentials' x 4 x head_dim, the lower)
               + decodes: max(sum flops / (peak * a_max), sum kv_bytes / achieved_decode_bw)
  + all-reduce: 2 per layer of T x hidden 16-bit activations, ring algorithm over the interconnect, each call
               base latency + 2 (tp - 1) ring steps (NCCL's model, `EfficiencyCurves.allreduce_call_latency_s`)

Approximations (each visible here, none hidden in callers):
- linear FLOPs are 2 x active non-embedding parameters per token, plus the LM head only for
  sequences that sample a token this iteration; the dense projections also lose the empty part of their
  last wave of output tiles at their per-GPU widths (`hardware.wave_efficiency`, `dense_gemm_widths`);
- the memory-bound kernels between the GEMMs (residual-add RMSNorms, RoPE, the gated activation, MoE's sum over
  experts) stream their activations once per kernel at achieved bandwidth, after the GEMMs, not overlapped
  (`model.elementwise_elements_per_token_per_layer`: vLLM's kernels; the norms are replicated on every TP rank);
- MoE reads the shared weights plus the experts the batch is expected to touch,
  E * (1 - (1 - k/E)^T) experts with uniform routing; the experts run as a grouped GEMM after the
  dense layers: each touched expert multiplies T k / touched tokens, so its GEMM efficiency is that
  of those rows, not of the batch's T (the same half-saturation curve), and its time is
  max(expert FLOPs, expert bytes touched) beside the dense part's max;
- attention is priced per sequence (never at a mean length); causal pairs are counted exactly,
  local layers cap them at the window (sliding) or within the chunk (chunked);
- a prefill chunk reads the KV its last token attends to once (flash-attention tiling), decodes
  read each sequence's attended KV; decode attention is dominated by bytes, so its FLOPs run at
  a_max without the short-query penalty;
- tensor parallelism splits weights, heads and FLOPs evenly; KV heads below the TP degree are
  replicated; an MLA latent is replicated on every rank;
- context parallelism (ring attention) splits a prefill chunk's tokens and attention over cp
  ranks; each rank receives the other (cp - 1) / cp of the KV per chunk and layer, hidden behind
  its attention compute until the ring is the slower of the two; decode attention reads 1/cp of
  the KV per rank plus a per-layer merge latency; decode tokens run on every rank;
- pipeline parallelism keeps one batch in flight: stage times add up to the unsplit time, plus a
  hop (latency + activations over the link) between stages; expert parallelism adds an all-to-all
  (dispatch and combine) per layer; links are the node interconnect within a node, the scale-out
  link beyond it;
- naive attention streams the score matrix through HBM four times (write S, read S, write P, read P).
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass
from typing import Literal, get_args

from simulator.costs.hardware import HardwareProfile, wave_efficiency
from simulator.costs.model import (AttentionKind, LayerGroup, ModelSpec, WindowKind, attended_length, attended_pairs,
                                   active_mlp_width, elementwise_elements_per_token_per_layer, kv_heads_per_gpu)

# fp4 is NVFP4: 16 E2M1 values share one FP8 E4M3 scale, (16 x 0.5 + 1) / 16 bytes per element (NVIDIA, "Introducing
# NVFP4 for Efficient and Accurate Low-Precision Inference"; the per-tensor FP32 scale is negligible).
BYTES_PER_ELEMENT = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5, "fp4": 0.5625}
ACTIVATION_BYTES = 2.0   # 16-bit activations on the wire for all-reduce
AttentionImpl = Literal["flash", "naive"]   # the one list of attention implementations (specs, CLI, API)
ATTENTION_IMPLS: tuple[str, ...] = get_args(AttentionImpl)
# Naive attention writes the score matrix S = QK^T, reads it for the softmax, writes P and reads it
# for PV: four passes of 16-bit scores through HBM per (query, key) pair and head (assumption:
# fp16 scores, no fusion; FlashAttention keeps them in on-chip memory).
NAIVE_SCORE_PASSES = 4
NAIVE_SCORE_BYTES = 2.0


def bytes_per_element(dtype: str) -> float:
    try:
        return BYTES_PER_ELEMENT[dtype]
    except KeyError:
        raise ValueError(f"dtype must be one of {sorted(BYTES_PER_ELEMENT)}, got {dtype!r}") from None


# ----- memory -------------------------------------------------------------------------------

def embedding_bytes_per_element(weight_dtype: str) -> float:
    """The token embedding and LM head stay in 16 bits when the linear layers are quantized: vLLM's fp8/int
    methods apply to linear layers only (vllm/model_executor/layers/quantization/fp8.py, Fp8LinearMethod), and
    NVIDIA ModelOpt FP8 checkpoints keep lm_head in bf16 (a public vLLM log: Llama-3.1-8B with fp8 weights takes
    8.49 GiB, = 6.98e9 B of fp8 layers + 2 x 0.525e9 16-bit embedding parameters)."""
    return max(bytes_per_element(weight_dtype), 2.0)


def weight_bytes(model: ModelSpec, weight_dtype: str) -> float:
    """All weights of the model (every expert), in bytes: linear layers in `weight_dtype`, embeddings 16-bit."""
    embedding = model.embedding_params()
    return ((model.params_total - embedding) * bytes_per_element(weight_dtype)
            + embedding * embedding_bytes_per_element(weight_dtype))


def kv_bytes_per_token_per_layer(model: ModelSpec, kv_dtype: str, tp: int = 1) -> float:
    """KV bytes one token adds to one layer on one GPU."""
    if model.attention.value == "mla":
        elements = model.kv_elements_per_token_per_layer()        # latent is replicated per rank
    else:
        elements = 2 * kv_heads_per_gpu(model, tp) * model.head_dim
    return elements * bytes_per_element(kv_dtype)


def kv_bytes_per_token(model: ModelSpec, kv_dtype: str, tp: int = 1) -> float:
    """KV bytes one token adds across all layers on one GPU, before any window cap."""
    return model.num_layers * kv_bytes_per_token_per_layer(model, kv_dtype, tp)


def stored_tokens(group: LayerGroup, num_tokens: int) -> int:
    """Tokens a layer of `group` keeps in its KV cache for a sequence of `num_tokens`."""
    if group.kind is WindowKind.GLOBAL:
        return num_tokens
    return min(num_tokens, group.window_tokens)


def kv_bytes_for_sequence(model: ModelSpec, kv_dtype: str, num_tokens: int, tp: int = 1) -> float:
    """KV bytes one sequence of `num_tokens` holds on one GPU, window caps applied."""
    per_layer = kv_bytes_per_token_per_layer(model, kv_dtype, tp)
    return sum(g.num_layers * stored_tokens(g, num_tokens) for g in model.layer_groups()) * per_layer


def activation_reserve_bytes(model: ModelSpec, tp: int, max_num_batched_tokens: int, max_num_seqs: int,
                             reserve: dict) -> float:
    """Memory per GPU kept out of the KV cache for activations, logits and runtime buffers. An MoE token's gate/up
    buffers hold its k experts' rows (vLLM fused_moe's intermediate caches are [tokens, top_k, 2 x width])."""
    per_token = (reserve["activation_hidden_multiplier"] * model.hidden_size
                 + reserve["activation_intermediate_multiplier"] * active_mlp_width(model) / tp)
    activations = max_num_batched_tokens * per_token * reserve["activation_bytes_per_element"]
    logits = max_num_seqs * model.vocab_size * reserve["logits_bytes_per_element"]
    return reserve["fixed_bytes"] + activations + logits


# ----- per-deployment constants -------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class IterationCostParams:
    """Everything `iteration_time_s` needs, precomputed once per deployment (per GPU of a TP group)."""
    layer_groups: tuple[LayerGroup, ...]
    linear_flops_per_token: float          # non-embedding, per GPU (routed experts included)
    lm_head_flops_per_sample: float        # per GPU
    dense_weight_bytes: float              # read every iteration, per GPU
    expert_bytes: float                    # one routed expert over all layers, per GPU
    num_experts: int
    experts_per_token: int
    attention_flops_per_pair: float        # per layer, per GPU
    kv_bytes_per_token_per_layer: float    # per GPU
    matmul_peak_flops_per_s: float
    attention_peak_flops_per_s: float
    achieved_bandwidth_bytes_per_s: float
    achieved_decode_bandwidth_bytes_per_s: float
    matmul_efficiency_max: float
    matmul_half_saturation_tokens: float
    attention_efficiency_max: float
    attention_half_saturation_tokens: float
    iteration_overhead_s: float
    allreduce_bytes_per_token: float       # per all-reduce, per token
    allreduces_per_iteration: int
    allreduce_latency_s: float             # one call over the TP ring (base + ring steps); all-to-alls reuse it
    allreduce_bandwidth_bytes_per_s: float  # achieved ring bus bandwidth; inf when tp == 1
    tp: int
    cp: int = 1                            # context parallel: each sequence's tokens sharded over cp ranks
    cp_link_bytes_per_s: float = math.inf  # achieved per-GPU bandwidth of the ring passing KV shards
    cp_merge_latency_s: float = 0.0        # decode: combining per-shard partial attention, per iteration
    pp: int = 1                            # pipeline stages (one batch in flight: stage times add up)
    pp_hop_s: float = 0.0                  # fixed latency of one stage-to-stage send
    pp_bytes_per_token: float = 0.0        # activation bytes sent between stages per token
    pp_link_bytes_per_s: float = math.inf
    expert_flops_per_token: float = 0.0    # the routed experts' share of linear_flops_per_token
    alltoalls_per_iteration: int = 0       # expert parallel: dispatch + combine per MoE layer
    alltoall_bytes_per_token: float = 0.0
    alltoall_bandwidth_bytes_per_s: float = math.inf
    score_bytes_per_pair: float = 0.0      # naive attention: score-matrix HBM traffic per (query, key) per layer
    kv_bytes_per_token: float = 0.0        # all layers, per GPU (swap and transfer sizes)
    host_link_bytes_per_s: float = math.inf
    host_step_s: float = 0.0               # the engine's host work per step
    host_step_s_per_sequence: float = 0.0  # ... and per sequence in the step
    host_overlapped: bool = False          # run beside the GPU's step (the step takes the longer), else added
    graph_sizes: tuple[int, ...] = ()      # CUDA-graph batch sizes of decode-only steps (ascending; none: eager)
    gemm_widths: tuple[tuple[float, float], ...] = ()   # dense projections: (per-GPU output width, FLOP share)
    matmul_tile: int = 0                   # wave quantisation tile (0: none)
    sm_count: int = 0
    elementwise_bytes_per_token: float = 0.0   # norms, RoPE, activation between the GEMMs; all layers, per GPU


def dense_gemm_widths(model: ModelSpec, tp: int) -> tuple[tuple[float, float], ...]:
    """Per-GPU output widths of a layer's dense projections with their share of its FLOPs: QKV and gate/up are
    split over the TP ranks (column parallel), O and down keep the hidden width (row parallel). MoE models list
    the attention projections only (experts have their own GEMMs); MLA models none (not priced by shape)."""
    if model.attention is AttentionKind.MLA:
        return ()
    h, d = model.hidden_size, model.head_dim
    q, kv = model.num_attention_heads * d, kv_heads_per_gpu(model, tp) * d
    shapes = [(q / tp + 2 * kv, h * (q + 2 * model.num_kv_heads * d)), (h, h * q)]
    if not model.num_experts:                       # gated MLP: gate and up fused, then down
        shapes += [(2 * model.intermediate_size / tp, 2 * h * model.intermediate_size),
                   (h, h * model.intermediate_size)]
    total = sum(flops for _, flops in shapes)
    return tuple((width, flops / total) for width, flops in shapes)


def iteration_cost_params(model: ModelSpec, hardware: HardwareProfile, tp: int = 1,
                          weight_dtype: str = "bf16", kv_dtype: str = "bf16", cp: int = 1, pp: int = 1,
                          ep: int = 1, attention_impl: str = "flash") -> IterationCostParams:
    """Per-GPU constants of a replica of tp x cp x pp GPUs (ep: experts spread whole over ep of them)."""
    for name, value in (("tensor_parallel", tp), ("context_parallel", cp), ("pipeline_parallel", pp),
                        ("expert_parallel", ep)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if attention_impl not in ATTENTION_IMPLS:
        raise ValueError(f"attention_impl must be one of {ATTENTION_IMPLS}, got {attention_impl!r}")
    wbytes = bytes_per_element(weight_dtype)
    head_matrix = model.vocab_size * model.hidden_size
    shared, per_expert = model.expert_split()
    embedding_not_streamed = 0 if model.tie_word_embeddings else head_matrix   # input table: row lookups only
    compute_dtype = weight_dtype if weight_dtype in ("fp4", "fp8", "fp32") else "bf16"   # int4/int8: bf16 compute
    matmul_peak = hardware.matmul_peak_flops_per_s(compute_dtype)
    curves = hardware.curves
    ring_factor = 2 * (tp - 1) / tp
    return IterationCostParams(
        layer_groups=model.layer_groups(),
        linear_flops_per_token=2 * (model.params_active - model.embedding_params()) / tp,
        lm_head_flops_per_sample=2 * head_matrix / tp,
        dense_weight_bytes=((shared - embedding_not_streamed - head_matrix) * wbytes
                            + head_matrix * embedding_bytes_per_element(weight_dtype)) / tp,
        expert_bytes=per_expert * wbytes / tp,
        expert_flops_per_token=2 * model.experts_per_token * per_expert / tp if model.num_experts else 0.0,
        num_experts=model.num_experts,
        experts_per_token=model.experts_per_token,
        attention_flops_per_pair=model.attention_flops_per_pair() / tp,
        kv_bytes_per_token_per_layer=kv_bytes_per_token_per_layer(model, kv_dtype, tp),
        matmul_peak_flops_per_s=matmul_peak,
        attention_peak_flops_per_s=hardware.attention_peak_flops_per_s(
            kv_dtype if kv_dtype in ("fp8", "fp32") else "bf16",
            model.attention_flops_per_pair() / model.num_attention_heads),
        achieved_bandwidth_bytes_per_s=hardware.memory_bandwidth_bytes_per_s * curves.bandwidth_efficiency,
        achieved_decode_bandwidth_bytes_per_s=(hardware.memory_bandwidth_bytes_per_s
                                               * curves.decode_bandwidth_efficiency),
        matmul_efficiency_max=hardware.matmul_efficiency_max(compute_dtype),
        matmul_half_saturation_tokens=curves.matmul_half_saturation_tokens,
        attention_efficiency_max=curves.attention_efficiency_max,
        attention_half_saturation_tokens=curves.attention_half_saturation_tokens,
        iteration_overhead_s=curves.iteration_overhead_s,
        allreduce_bytes_per_token=model.hidden_size * ACTIVATION_BYTES * ring_factor,
        allreduces_per_iteration=2 * model.num_layers if tp > 1 else 0,
        allreduce_latency_s=curves.allreduce_call_latency_s(tp) if tp > 1 else curves.allreduce_latency_s,
        allreduce_bandwidth_bytes_per_s=(hardware.link_bytes_per_s(tp) * curves.interconnect_efficiency
                                         if tp > 1 else math.inf),
        tp=tp,
        cp=cp,
        cp_link_bytes_per_s=(hardware.link_bytes_per_s(tp * cp) * curves.interconnect_efficiency
                             if cp > 1 else math.inf),
        cp_merge_latency_s=model.num_layers * curves.allreduce_latency_s if cp > 1 else 0.0,
        pp=pp,
        pp_hop_s=curves.allreduce_latency_s if pp > 1 else 0.0,
        pp_bytes_per_token=model.hidden_size * ACTIVATION_BYTES if pp > 1 else 0.0,
        pp_link_bytes_per_s=(hardware.link_bytes_per_s(tp * pp) * curves.interconnect_efficiency
                             if pp > 1 else math.inf),
        alltoalls_per_iteration=2 * model.num_layers if ep > 1 and model.num_experts else 0,
        alltoall_bytes_per_token=(model.hidden_size * ACTIVATION_BYTES * model.experts_per_token * (ep - 1) / ep
                                  if ep > 1 else 0.0),
        alltoall_bandwidth_bytes_per_s=(hardware.link_bytes_per_s(ep) * curves.interconnect_efficiency
                                        if ep > 1 else math.inf),
        score_bytes_per_pair=(NAIVE_SCORE_PASSES * NAIVE_SCORE_BYTES * model.num_attention_heads / tp
                              if attention_impl == "naive" else 0.0),
        kv_bytes_per_token=kv_bytes_per_token(model, kv_dtype, tp),
        host_link_bytes_per_s=hardware.host_link_bytes_per_s,
        gemm_widths=dense_gemm_widths(model, tp) if curves.matmul_tile else (),
        matmul_tile=curves.matmul_tile,
        sm_count=hardware.sm_count,
        elementwise_bytes_per_token=(model.num_layers * ACTIVATION_BYTES
                                     * elementwise_elements_per_token_per_layer(model, tp)),
    )


# ----- iteration time -----------------------------------------------------------------------

@functools.lru_cache(maxsize=1 << 16)
def dense_wave_efficiency(widths: tuple[tuple[float, float], ...], tile: int, sm_count: int, num_tokens: int) -> float:
    """The dense projections' wave efficiency at `num_tokens` rows: the FLOP-weighted harmonic mean (memoised:
    decode batches repeat the same few sizes)."""
    return 1.0 / sum(share / wave_efficiency(num_tokens, width, tile, sm_count) for width, share in widths)


def linear_time_s(p: IterationCostParams, num_tokens: int, num_samples: int) -> float:
    """Dense and MoE projections of `num_tokens` tokens, LM head for `num_samples` sequences."""
    if num_tokens <= 0:
        return 0.0
    dense_flops = ((p.linear_flops_per_token - p.expert_flops_per_token) * num_tokens
                   + p.lm_head_flops_per_sample * num_samples)
    efficiency = p.matmul_efficiency_max * num_tokens / (num_tokens + p.matmul_half_saturation_tokens)
    if p.gemm_widths:
        efficiency *= dense_wave_efficiency(p.gemm_widths, p.matmul_tile, p.sm_count, num_tokens)
    dense_s = (max(dense_flops / (p.matmul_peak_flops_per_s * efficiency),
                   p.dense_weight_bytes / p.achieved_bandwidth_bytes_per_s)
               + num_tokens * p.elementwise_bytes_per_token / p.achieved_bandwidth_bytes_per_s)
    if not p.num_experts:
        return dense_s
    touched = p.num_experts * (1.0 - (1.0 - p.experts_per_token / p.num_experts) ** num_tokens)
    rows = num_tokens * p.experts_per_token / touched          # tokens per touched expert: the grouped GEMM's m
    expert_efficiency = p.matmul_efficiency_max * rows / (rows + p.matmul_half_saturation_tokens)
    experts_s = max(p.expert_flops_per_token * num_tokens / (p.matmul_peak_flops_per_s * expert_efficiency),
                    p.expert_bytes * touched / p.achieved_bandwidth_bytes_per_s)
    return dense_s + experts_s


def prefill_attention_time_s(p: IterationCostParams, context_tokens: int, new_tokens: int) -> float:
    """Attention of one sequence's chunk of `new_tokens` after `context_tokens` already cached."""
    pairs = 0
    kv_tokens_read = 0
    last = context_tokens + new_tokens - 1
    for group in p.layer_groups:
        pairs += group.num_layers * attended_pairs(group, context_tokens, new_tokens)
        kv_tokens_read += group.num_layers * (attended_length(group, last) + new_tokens)
    efficiency = p.attention_efficiency_max * new_tokens / (new_tokens + p.attention_half_saturation_tokens)
    flops_s = pairs * p.attention_flops_per_pair / (p.attention_peak_flops_per_s * efficiency)
    kv_bytes = kv_tokens_read * p.kv_bytes_per_token_per_layer
    bytes_s = (kv_bytes + pairs * p.score_bytes_per_pair) / p.achieved_bandwidth_bytes_per_s
    local_s = max(flops_s, bytes_s) / p.cp
    if p.cp == 1:
        return local_s
    # ring attention: each rank computes on its shard while receiving the other cp - 1 KV shards;
    # communication hides behind compute until it is the longer of the two
    ring_s = kv_bytes * (p.cp - 1) / p.cp / p.cp_link_bytes_per_s
    return max(local_s, ring_s)


def decode_attended_tokens(p: IterationCostParams, context_tokens: int) -> int:
    """Keys summed over layers that one decode step attends to after `context_tokens` cached."""
    return sum(g.num_layers * attended_length(g, context_tokens) for g in p.layer_groups)


def decode_attention_time_s(p: IterationCostParams, attended_tokens_all_layers: int) -> float:
    """Decode attention of a whole batch, given the sum of `decode_attended_tokens` over its sequences."""
    flops_s = attended_tokens_all_layers * p.attention_flops_per_pair / (
        p.attention_peak_flops_per_s * p.attention_efficiency_max)
    bytes_s = attended_tokens_all_layers * p.kv_bytes_per_token_per_layer / p.achieved_decode_bandwidth_bytes_per_s
    return max(flops_s, bytes_s) / p.cp      # context parallel: each rank reads its shard of the KV


def allreduce_time_s(p: IterationCostParams, num_tokens: int) -> float:
    if p.allreduces_per_iteration == 0:
        return 0.0
    per_call = p.allreduce_latency_s + num_tokens * p.allreduce_bytes_per_token / p.allreduce_bandwidth_bytes_per_s
    return p.allreduces_per_iteration * per_call


def iteration_time_s(p: IterationCostParams, prefill_chunks: list[tuple[int, int]],
                     num_decodes: int, decode_attended_tokens_sum: int, num_samples: int) -> float:
    """Seconds for one iteration.

    prefill_chunks: (context_tokens, new_tokens) per prefilling sequence.
    num_decodes: sequences decoding one token; decode_attended_tokens_sum: their summed
    `decode_attended_tokens`. num_samples: sequences producing a token (decodes plus
    prefills that finish their prompt this iteration).
    """
    if prefill_chunks:
        prefill_tokens = sum(new for _, new in prefill_chunks)
        attention_s = sum(prefill_attention_time_s(p, c, n) for c, n in prefill_chunks)
    else:                                   # decode-only iterations are the hot path of long runs
        prefill_tokens, attention_s = 0, 0.0
    num_tokens = num_decodes + prefill_tokens
    if num_tokens == 0:
        return 0.0
    if p.cp > 1:    # prefill tokens are split over the ranks; a decode token runs on every rank
        num_tokens = num_decodes + -(-prefill_tokens // p.cp)
    if num_decodes:
        attention_s += decode_attention_time_s(p, decode_attended_tokens_sum) + p.cp_merge_latency_s
    linear_tokens = num_tokens
    if not prefill_chunks and p.graph_sizes and num_tokens <= p.graph_sizes[-1]:
        linear_tokens = p.graph_sizes[bisect.bisect_left(p.graph_sizes, num_tokens)]   # the padded graph's rows
    total = (p.iteration_overhead_s + linear_time_s(p, linear_tokens, num_samples) + attention_s
             + allreduce_time_s(p, num_tokens))
    host_s = host_time_s(p, num_decodes + len(prefill_chunks)) if p.host_step_s or p.host_step_s_per_sequence else 0.0
    if host_s and not p.host_overlapped:
        total += host_s
    if p.pp > 1:
        total += (p.pp - 1) * (p.pp_hop_s + num_tokens * p.pp_bytes_per_token / p.pp_link_bytes_per_s)
    if p.alltoalls_per_iteration:
        total += p.alltoalls_per_iteration * (p.allreduce_latency_s + num_tokens * p.alltoall_bytes_per_token
                                              / p.alltoall_bandwidth_bytes_per_s)
    if host_s and p.host_overlapped:
        return max(total, host_s)
    return total


def host_time_s(p: IterationCostParams, num_sequences: int) -> float:
    """The engine's host work for a step of `num_sequences` (added to it, or its floor where overlapped)."""
    return p.host_step_s + p.host_step_s_per_sequence * num_sequences


def transfer_time_s(p: IterationCostParams, num_tokens: int, bandwidth_bytes_per_s: float) -> float:
    """Moving `num_tokens` of KV (all layers, per GPU) over a link: swap, offload reload, disaggregation."""
    return num_tokens * p.kv_bytes_per_token / bandwidth_bytes_per_s
