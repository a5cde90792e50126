"""Closed-form estimate for one request shape: memory, fit, prefill and decode times, cost.

No simulation: the same cost-model functions the engine uses, evaluated on one request on one
replica of tp x cp x pp GPUs.

- prefill_time_s: the prompt as chunks of `max_num_batched_tokens` (one chunk with chunked
  prefill off; the budget is per rank, so cp x that with context parallelism), each chunk alone in
  its iteration; this is the TTFT of a request on an idle replica.
  With context parallelism each chunk's tokens are split over the cp ranks and KV shards travel
  the ring (`ring_communication_s`; it is exposed where it exceeds the attention compute).
- decode_time_per_token_s: one decode step of this sequence alone, at the mean context
  (prompt + output / 2).
- batched decode: `decode_batch_size` = min(max_concurrent_sequences, max_num_seqs) such
  sequences decoding together; cost per query = GPU price x GPUs x (prefill time + output tokens
  x batched step time / batch size). Prefill is not amortised (it is compute-bound).
- attention: flash (memory linear in context) and naive (the score matrix of a chunk is
  materialised, `heads / tp x chunk / cp x prompt x 2 bytes` per GPU for one layer, and streamed
  through HBM), so a user sees why memory-efficient attention made long context computable.

Memory fields and what each counts (R = num_gpus = tp x cp x pp, the GPUs of one replica; "the
replica" sums every GPU, which is the model's KV except that KV heads replicated where tp exceeds
their count, and MLA's latent held by every TP rank, are counted once per copy):

    field                                   tokens                         over
    weights_bytes                           -                              the whole model, every expert
    weights_bytes_per_gpu                   -                              one GPU (weights / (tp x pp))
    kv_cache_bytes_per_token                one token (no window cap)      the replica
    kv_cache_bytes                          the prompt                     the replica
    kv_cache_bytes_per_gpu                  the prompt                     one GPU (kv_cache_bytes / R)
    sequence_kv_cache_bytes                 prompt + output                the replica
    sequence_kv_cache_bytes_per_gpu         prompt + output                one GPU (sequence_kv_cache_bytes / R)
    kv_cache_bytes_peak                     prompt + output, whole blocks  the replica
    memory_bytes_per_gpu                    weights + reserve + sequence KV  one GPU
    kv_cache_capacity_bytes                 the KV pool                    the replica
    attention.*.score_matrix_bytes_per_gpu  one chunk x the prompt, one layer  one GPU

Fit: `fits` = `fits_in_memory` and not `exceeds_context` (prompt + output past the model's
context). Memory is checked weights first, then the KV of the whole sequence, then the attention's
score matrix (naive only); `limited_by` names the first limit met, the context before any memory
limit, and `fit_reason` says it in words (both limits when both bind). `attention.<impl>.fits` and
`reason` are that implementation's memory fit on this layout. `min_num_gpus`, `needs` and
`max_concurrent_sequences` are about memory only: the fewest GPUs whose memory holds the sequence
whether or not it also exceeds the context, the layout of those GPUs (null when this one's memory
holds it), and how many such sequences the KV pool holds at once (0 when memory does not hold one).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from simulator.costs import costmodel
from simulator.costs.memory import MemoryPlan, blocks_for_tokens_fn, fit_check
from simulator.specs.deployment import (MAX_TENSOR_PARALLEL, concrete_engine, device_notes, memory_plan,
                                       valid_tp)
from simulator.errors import InputError
from simulator.costs.hardware import HardwareProfile, PricingTier
from simulator.costs.model import ModelSpec, attended_length
from simulator.results.estimate_types import AttentionImplEstimate, AttentionImpls, Estimate, GpuLayout
from simulator.specs.engine_time import request_overhead, with_engine_time
from simulator.specs.parallel import Degree, check_degrees
from simulator.specs.engine_spec import EngineSpec

MAX_CONTEXT_PARALLEL = 256


class FitLimit(str, Enum):
    """What keeps one sequence off a layout, in the order checked."""
    CONTEXT = "context"
    WEIGHTS = "weights"
    KV_CACHE = "kv_cache"
    SCORE_MATRIX = "score_matrix"


@dataclass(frozen=True, slots=True)
class MemoryFit:
    """Whether one sequence's memory fits a layout: the first limit met (None: it fits) and the reason."""
    limit: FitLimit | None
    reason: str


def _check(model: ModelSpec, prompt_tokens: int, output_tokens: int, tp: int, cp: int, pp: int, ep: int) -> None:
    if prompt_tokens < 1:
        raise InputError("must be >= 1", field="prompt_tokens", value=prompt_tokens)
    if output_tokens < 1:
        raise InputError("must be >= 1", field="output_tokens", value=output_tokens)
    if prompt_tokens > model.max_context_tokens:
        raise InputError(f"past {model.name}'s context", field="prompt_tokens", value=prompt_tokens,
                         allowed=f"1..{model.max_context_tokens}")
    if not 1 <= cp <= MAX_CONTEXT_PARALLEL:     # the estimate's own search bound (minimum_gpus)
        raise InputError("out of range", field="context_parallel", value=cp, allowed=f"1..{MAX_CONTEXT_PARALLEL}")
    check_degrees(model, tp, pp, ep, lambda degree: "tp" if degree is Degree.TENSOR else degree.value)


def prefill_time_s(cost: costmodel.IterationCostParams, prompt_tokens: int, chunk: int) -> float:
    total, done = 0.0, 0
    while done < prompt_tokens:
        new = min(chunk, prompt_tokens - done)
        total += costmodel.iteration_time_s(cost, [(done, new)], 0, 0, 1 if done + new == prompt_tokens else 0)
        done += new
    return total


def ring_communication_s(cost: costmodel.IterationCostParams, prompt_tokens: int, chunk: int) -> float:
    """Seconds of KV shards passed around the context-parallel ring during the prefill (0 when cp = 1)."""
    if cost.cp == 1:
        return 0.0
    total, done = 0.0, 0
    while done < prompt_tokens:
        new = min(chunk, prompt_tokens - done)
        last = done + new - 1
        kv_tokens = sum(g.num_layers * (attended_length(g, last) + new) for g in cost.layer_groups)
        total += kv_tokens * cost.kv_bytes_per_token_per_layer * (cost.cp - 1) / cost.cp / cost.cp_link_bytes_per_s
        done += new
    return total


def chunk_tokens(engine: EngineSpec, cp: int, prompt_tokens: int) -> int:
    """Prompt tokens per prefill iteration: the token budget is per rank, so a context-parallel group takes cp
    times as many; the whole prompt with chunked prefill off."""
    return engine.max_num_batched_tokens * cp if engine.enable_chunked_prefill else prompt_tokens


def naive_score_bytes_per_gpu(model: ModelSpec, tp: int, cp: int, query_tokens: int, key_tokens: int) -> float:
    """Score matrix of one layer for `query_tokens` against `key_tokens`, on one GPU (16-bit scores)."""
    return (model.num_attention_heads / tp) * (-(-query_tokens // cp)) * key_tokens * costmodel.NAIVE_SCORE_BYTES


def score_bytes_per_gpu(model: ModelSpec, engine: EngineSpec, attention_impl: str, tp: int, cp: int,
                        prompt_tokens: int) -> float:
    """The score matrix one prefill chunk materialises on one GPU (0 for flash attention)."""
    if attention_impl == "flash":
        return 0.0
    chunk = min(chunk_tokens(engine, cp, prompt_tokens), prompt_tokens)
    return naive_score_bytes_per_gpu(model, tp, cp, chunk, prompt_tokens)


def memory_fit(plan: MemoryPlan, blocks_needed: int, sequence_kv_bytes_per_gpu: float, score_bytes: float) -> MemoryFit:
    """The memory test of one sequence on one layout: weights, then KV blocks, then the score matrix."""
    reason = fit_check(plan, blocks_needed)
    if reason is not None:      # no KV capacity left at all means the weights (and reserve) are the limit
        return MemoryFit(FitLimit.WEIGHTS if plan.kv_capacity_bytes_per_gpu <= 0 else FitLimit.KV_CACHE, reason)
    free = plan.usable_bytes_per_gpu - plan.weights_bytes_per_gpu - plan.reserve_bytes_per_gpu - sequence_kv_bytes_per_gpu
    if score_bytes > 0 and score_bytes > free:
        return MemoryFit(FitLimit.SCORE_MATRIX, f"score matrix needs {score_bytes / 2**30:,.1f} GiB per GPU for one "
                                                f"layer; {max(free, 0) / 2**30:,.1f} GiB left after weights and KV")
    return MemoryFit(None, "fits")


def layout_fit(model: ModelSpec, hardware: HardwareProfile, weight_dtype: str, kv_dtype: str, engine: EngineSpec,
               tp: int, cp: int, pp: int, prompt_tokens: int, output_tokens: int,
               attention_impl: str = "flash") -> MemoryFit:
    """`memory_fit` of one sequence of prompt + output tokens on tp x cp x pp GPUs."""
    num_tokens = prompt_tokens + output_tokens
    plan = memory_plan(model, hardware, tp, weight_dtype, kv_dtype, engine, cp, pp)
    blocks = blocks_for_tokens_fn(model, kv_dtype, tp, engine.block_size)(num_tokens)
    kv_per_gpu = costmodel.kv_bytes_for_sequence(model, kv_dtype, num_tokens, tp) / (cp * pp)
    scores = score_bytes_per_gpu(model, concrete_engine(engine, model, hardware, tp, pp, plan), attention_impl, tp,
                                 cp, prompt_tokens)
    return memory_fit(plan, blocks, kv_per_gpu, scores)


def minimum_gpus(model: ModelSpec, hardware: HardwareProfile, weight_dtype: str, kv_dtype: str,
                 engine: EngineSpec, prompt_tokens: int, output_tokens: int, pp: int = 1,
                 attention_impl: str = "flash") -> dict | None:
    """Fewest GPUs (tp x cp, powers of two, tp dividing the heads) whose memory holds one sequence."""
    best = None
    tp = 1
    while tp <= MAX_TENSOR_PARALLEL:
        if valid_tp(model, tp):
            cp = 1
            while cp <= MAX_CONTEXT_PARALLEL and (best is None or tp * cp * pp < best["num_gpus"]):
                if layout_fit(model, hardware, weight_dtype, kv_dtype, engine, tp, cp, pp, prompt_tokens,
                              output_tokens, attention_impl).limit is None:
                    best = {"tensor_parallel": tp, "context_parallel": cp, "pipeline_parallel": pp,
                            "num_gpus": tp * cp * pp}
                    break
                cp *= 2
        tp *= 2
    return best


def _attention_impls(model: ModelSpec, hardware: HardwareProfile, engine: EngineSpec, plan: MemoryPlan,
                     costs: dict, prompt_tokens: int, blocks_needed: int,
                     sequence_kv_per_gpu: float) -> dict[str, AttentionImplEstimate]:
    out = {}   # attention implementation -> its prefill and memory fit
    for impl, cost in costs.items():
        scores = score_bytes_per_gpu(model, engine, impl, cost.tp, cost.cp, prompt_tokens)
        fit = memory_fit(plan, blocks_needed, sequence_kv_per_gpu, scores)
        chunk = chunk_tokens(engine, cost.cp, prompt_tokens)
        out[impl] = AttentionImplEstimate(prefill_time_s=prefill_time_s(cost, prompt_tokens, chunk),
                                          score_matrix_bytes_per_gpu=round(scores), fits=fit.limit is None,
                                          limited_by=fit.limit.value if fit.limit else None, reason=fit.reason)
    return out


def estimate(model: ModelSpec, hardware: HardwareProfile, prompt_tokens: int, output_tokens: int, tp: int = 1,
             weight_dtype: str = "bf16", kv_dtype: str = "bf16", engine: EngineSpec | None = None,
             pricing: PricingTier = PricingTier.ON_DEMAND, price_usd_per_gpu_hour: float | None = None,
             context_parallel: int = 1, pipeline_parallel: int = 1, expert_parallel: int = 1,
             attention_impl: str = "flash") -> Estimate:
    """The estimate of one request shape on one replica, as the JSON of `ctxplan estimate` (see the module
    docstring for what each field counts)."""
    engine = engine or EngineSpec()
    cp, pp, ep = context_parallel, pipeline_parallel, expert_parallel
    _check(model, prompt_tokens, output_tokens, tp, cp, pp, ep)
    if attention_impl not in costmodel.ATTENTION_IMPLS:
        raise InputError("unknown attention implementation", field="attention_impl", value=attention_impl,
                         allowed=", ".join(costmodel.ATTENTION_IMPLS))
    num_gpus = tp * cp * pp
    total_tokens = prompt_tokens + output_tokens
    plan = memory_plan(model, hardware, tp, weight_dtype, kv_dtype, engine, cp, pp)
    engine = concrete_engine(engine, model, hardware, tp, pp, plan)
    blocks_needed = blocks_for_tokens_fn(model, kv_dtype, tp, engine.block_size)(total_tokens)
    chunk = chunk_tokens(engine, cp, prompt_tokens)
    # a sequence's KV on one tensor-parallel rank, over every layer; the replica holds tp of these
    prompt_kv_per_rank = costmodel.kv_bytes_for_sequence(model, kv_dtype, prompt_tokens, tp)
    sequence_kv_per_rank = costmodel.kv_bytes_for_sequence(model, kv_dtype, total_tokens, tp)
    sequence_kv_per_gpu = sequence_kv_per_rank / (cp * pp)
    costs = {impl: with_engine_time(costmodel.iteration_cost_params(model, hardware, tp, weight_dtype, kv_dtype,
                                                                    cp, pp, ep, impl), engine)
             for impl in costmodel.ATTENTION_IMPLS}
    impls = _attention_impls(model, hardware, engine, plan, costs, prompt_tokens, blocks_needed, sequence_kv_per_gpu)
    memory = impls[attention_impl]
    fits_in_memory = memory.fits
    exceeds_context = total_tokens > model.max_context_tokens
    reasons = []
    if exceeds_context:
        reasons.append(f"prompt + output = {total_tokens:,} tokens exceed {model.name}'s context of "
                       f"{model.max_context_tokens:,} tokens")
    if not fits_in_memory:
        scores = memory.limited_by == FitLimit.SCORE_MATRIX.value
        reasons.append(f"{attention_impl} attention: {memory.reason}" if scores else memory.reason)
    fits = fits_in_memory and not exceeds_context
    max_concurrent = plan.num_kv_blocks // blocks_needed if fits_in_memory else 0

    cost = costs[attention_impl]
    prefill_s = memory.prefill_time_s
    per_request_s, per_token_s = request_overhead(engine)
    overhead_s = per_request_s + per_token_s * prompt_tokens
    mean_context = prompt_tokens + output_tokens // 2
    attended = costmodel.decode_attended_tokens(cost, mean_context)
    decode_s = costmodel.iteration_time_s(cost, [], 1, attended, 1)
    batch = max(1, min(max_concurrent, engine.max_num_seqs))
    batched_step_s = costmodel.iteration_time_s(cost, [], batch, batch * attended, batch)
    price = price_usd_per_gpu_hour if price_usd_per_gpu_hour is not None else hardware.price_usd_per_gpu_hour(pricing)
    gpu_seconds_per_query = num_gpus * (prefill_s + output_tokens * batched_step_s / batch)
    cost_per_query = gpu_seconds_per_query * price / 3600.0
    ring_s = ring_communication_s(cost, prompt_tokens, chunk)
    needs = None if fits_in_memory else minimum_gpus(model, hardware, weight_dtype, kv_dtype, engine, prompt_tokens,
                                                     output_tokens, pp, attention_impl)
    return Estimate(
        model=model.name,
        hardware=hardware.name,
        hardware_provenance=hardware.provenance,
        tensor_parallel=tp,
        context_parallel=cp,
        pipeline_parallel=pp,
        expert_parallel=ep,
        num_gpus=num_gpus,
        attention_impl=attention_impl,
        weight_dtype=weight_dtype,
        kv_cache_dtype=kv_dtype,
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        max_context_tokens=model.max_context_tokens,
        weights_bytes=round(costmodel.weight_bytes(model, weight_dtype)),
        weights_bytes_per_gpu=round(plan.weights_bytes_per_gpu),
        kv_cache_bytes_per_token=round(costmodel.kv_bytes_per_token(model, kv_dtype, tp) * tp),
        kv_cache_bytes=round(prompt_kv_per_rank * tp),
        kv_cache_bytes_per_gpu=round(prompt_kv_per_rank / (cp * pp)),
        sequence_kv_cache_bytes=round(sequence_kv_per_rank * tp),
        sequence_kv_cache_bytes_per_gpu=round(sequence_kv_per_gpu),
        kv_cache_bytes_peak=round(blocks_needed * plan.block_bytes_per_gpu * num_gpus),
        memory_bytes_per_gpu=round(plan.weights_bytes_per_gpu + plan.reserve_bytes_per_gpu + sequence_kv_per_gpu),
        kv_cache_capacity_bytes=round(max(0.0, plan.kv_capacity_bytes_per_gpu) * num_gpus),
        kv_cache_capacity_tokens=plan.num_kv_blocks * engine.block_size,
        max_concurrent_sequences=max_concurrent,
        exceeds_context=exceeds_context,
        fits_in_memory=fits_in_memory,
        fits=fits,
        limited_by=FitLimit.CONTEXT.value if exceeds_context else memory.limited_by,
        fit_reason="; ".join(reasons) or "fits",
        min_num_gpus=num_gpus if fits_in_memory else (needs["num_gpus"] if needs else None),
        needs=GpuLayout(**needs) if needs else None,
        prefill_time_s=prefill_s,
        serving_overhead_s=overhead_s,
        ttft_s=prefill_s + overhead_s,
        ring_communication_s=ring_s,
        attention=AttentionImpls(**impls),
        decode_time_per_token_s=decode_s,
        e2e_latency_s=overhead_s + prefill_s + (output_tokens - 1) * decode_s,
        decode_batch_size=batch,
        decode_step_time_at_batch_s=batched_step_s,
        throughput_output_tokens_per_s=batch / batched_step_s,
        price_usd_per_gpu_hour=price,
        cost_per_query_usd=cost_per_query,
        cost_per_million_output_tokens_usd=cost_per_query / output_tokens * 1e6,
        model_notes=list(model.notes),
        hardware_notes=list(device_notes(hardware)),     # a CPU profile is a test device (simulator/specs/deployment.py)
    )
