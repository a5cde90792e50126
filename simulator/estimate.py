"""Closed-form estimate for one request shape: memory, fit, prefill and decode times, cost.

No simulation: the same cost-model functions the engine uses, evaluated on one request on one
replica of tp x cp x pp GPUs.

- prefill_time_s: the prompt as chunks of `max_num_batched_tokens` (one chunk with chunked
  prefill off; the budget is per rank, so cp x that with context parallelism), each chunk alone in its iteration; this is the TTFT of a request on an idle replica.
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
"""

from __future__ import annotations

from simulator import costmodel
from simulator.deployment import (MAX_TENSOR_PARALLEL, MemoryPlan, blocks_for_tokens_fn, fit_check, memory_plan,
                                  valid_tp)
from simulator.errors import InputError
from simulator.hardware import HardwareProfile, PricingTier
from simulator.model import ModelSpec
from simulator.scenario import EngineSpec

MAX_CONTEXT_PARALLEL = 256


def _check(model: ModelSpec, prompt_tokens: int, output_tokens: int, tp: int, cp: int, pp: int, ep: int) -> None:
    if prompt_tokens < 1:
        raise InputError("must be >= 1", field="prompt_tokens", value=prompt_tokens)
    if output_tokens < 1:
        raise InputError("must be >= 1", field="output_tokens", value=output_tokens)
    if prompt_tokens > model.max_context_tokens:
        raise InputError(f"past {model.name}'s context", field="prompt_tokens", value=prompt_tokens,
                         allowed=f"1..{model.max_context_tokens}")
    if not valid_tp(model, tp) or tp < 1:
        raise InputError(f"must be >= 1 and divide the model's {model.num_attention_heads} attention heads",
                         field="tp", value=tp)
    if not 1 <= cp <= MAX_CONTEXT_PARALLEL:
        raise InputError("out of range", field="context_parallel", value=cp, allowed=f"1..{MAX_CONTEXT_PARALLEL}")
    if not 1 <= pp <= model.num_layers:
        raise InputError("out of range", field="pipeline_parallel", value=pp, allowed=f"1..{model.num_layers}")
    if ep not in (1, tp) or (ep > 1 and not model.is_moe):
        raise InputError("must be 1, or equal tp for a mixture-of-experts model", field="expert_parallel",
                         value=ep, allowed="1" if not model.is_moe else f"1 or {tp}")


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
        kv_tokens = sum(g.num_layers * (costmodel.attended_length(g, last) + new) for g in cost.layer_groups)
        total += kv_tokens * cost.kv_bytes_per_token_per_layer * (cost.cp - 1) / cost.cp / cost.cp_link_bytes_per_s
        done += new
    return total


def minimum_gpus(model: ModelSpec, hardware: HardwareProfile, weight_dtype: str, kv_dtype: str,
                 engine: EngineSpec, num_tokens: int, pp: int = 1) -> dict | None:
    """Fewest GPUs (tp x cp, powers of two, tp dividing the heads) on which one sequence fits."""
    best = None
    tp = 1
    while tp <= MAX_TENSOR_PARALLEL:
        if valid_tp(model, tp):
            cp = 1
            while cp <= MAX_CONTEXT_PARALLEL and (best is None or tp * cp * pp < best["num_gpus"]):
                plan = memory_plan(model, hardware, tp, weight_dtype, kv_dtype, engine, cp, pp)
                needed = blocks_for_tokens_fn(model, kv_dtype, tp, engine.block_size)(num_tokens)
                if fit_check(model, plan, needed, hardware, engine) is None:
                    best = {"tensor_parallel": tp, "context_parallel": cp, "pipeline_parallel": pp,
                            "num_gpus": tp * cp * pp}
                    break
                cp *= 2
        tp *= 2
    return best


def naive_score_bytes_per_gpu(model: ModelSpec, tp: int, cp: int, query_tokens: int, key_tokens: int) -> float:
    """Score matrix of one layer for `query_tokens` against `key_tokens`, on one GPU (16-bit scores)."""
    return (model.num_attention_heads / tp) * (-(-query_tokens // cp)) * key_tokens * costmodel.NAIVE_SCORE_BYTES


def _attention_impls(model, hardware, plan: MemoryPlan, engine, costs: dict, prompt_tokens, chunk,
                     kv_seq_per_gpu) -> dict:
    tp, cp = costs["flash"].tp, costs["flash"].cp
    usable = engine.gpu_memory_utilization * hardware.memory_bytes
    free = usable - plan.weights_bytes_per_gpu - plan.reserve_bytes_per_gpu - kv_seq_per_gpu
    out = {}
    for impl, cost in costs.items():
        scores = 0.0 if impl == "flash" else naive_score_bytes_per_gpu(model, tp, cp, min(chunk, prompt_tokens),
                                                                         prompt_tokens)
        fits = scores <= free
        out[impl] = {"prefill_time_s": prefill_time_s(cost, prompt_tokens, chunk),
                     "score_matrix_bytes_per_gpu": round(scores), "fits": fits,
                     "reason": "fits" if fits else (f"score matrix needs {scores / 1e9:,.1f} GB per GPU for one layer; "
                                                    f"{max(free, 0) / 1e9:,.1f} GB left after weights and KV")}
    return out


def estimate(model: ModelSpec, hardware: HardwareProfile, prompt_tokens: int, output_tokens: int, tp: int = 1,
             weight_dtype: str = "bf16", kv_dtype: str = "bf16", engine: EngineSpec | None = None,
             pricing: PricingTier = PricingTier.ON_DEMAND, price_usd_per_gpu_hour: float | None = None,
             context_parallel: int = 1, pipeline_parallel: int = 1, expert_parallel: int = 1,
             attention_impl: str = "flash") -> dict:
    engine = engine or EngineSpec()
    cp, pp, ep = context_parallel, pipeline_parallel, expert_parallel
    _check(model, prompt_tokens, output_tokens, tp, cp, pp, ep)
    if attention_impl not in costmodel.ATTENTION_IMPLS:
        raise InputError("unknown attention implementation", field="attention_impl", value=attention_impl,
                         allowed=", ".join(costmodel.ATTENTION_IMPLS))
    num_gpus = tp * cp * pp
    total_tokens = prompt_tokens + output_tokens
    plan = memory_plan(model, hardware, tp, weight_dtype, kv_dtype, engine, cp, pp)
    blocks_for = blocks_for_tokens_fn(model, kv_dtype, tp, engine.block_size)
    blocks_needed = blocks_for(total_tokens)
    reason = fit_check(model, plan, blocks_needed, hardware, engine)
    # the token budget is per rank: a context-parallel group takes cp times as many tokens per iteration
    chunk = engine.max_num_batched_tokens * cp if engine.enable_chunked_prefill else prompt_tokens
    kv_seq_per_gpu = costmodel.kv_bytes_for_sequence(model, kv_dtype, total_tokens, tp) / (cp * pp)
    costs = {impl: costmodel.iteration_cost_params(model, hardware, tp, weight_dtype, kv_dtype, cp, pp, ep, impl)
             for impl in costmodel.ATTENTION_IMPLS}
    impls = _attention_impls(model, hardware, plan, engine, costs, prompt_tokens, chunk, kv_seq_per_gpu)
    if reason is None and not impls[attention_impl]["fits"]:
        reason = f"naive attention: {impls[attention_impl]['reason']}"
    fits = reason is None
    max_concurrent = plan.num_kv_blocks // blocks_needed if fits else 0

    cost = costs[attention_impl]
    prefill_s = impls[attention_impl]["prefill_time_s"]
    mean_context = prompt_tokens + output_tokens // 2
    attended = costmodel.decode_attended_tokens(cost, mean_context)
    decode_s = costmodel.iteration_time_s(cost, [], 1, attended, 1)
    batch = max(1, min(max_concurrent, engine.max_num_seqs))
    batched_step_s = costmodel.iteration_time_s(cost, [], batch, batch * attended, batch)
    price = price_usd_per_gpu_hour if price_usd_per_gpu_hour is not None else hardware.price_usd_per_gpu_hour(pricing)
    gpu_seconds_per_query = num_gpus * (prefill_s + output_tokens * batched_step_s / batch)
    cost_per_query = gpu_seconds_per_query * price / 3600.0
    ring_s = ring_communication_s(cost, prompt_tokens, chunk)
    needs = None if fits else minimum_gpus(model, hardware, weight_dtype, kv_dtype, engine, total_tokens, pp)
    return {
        "model": model.name,
        "hardware": hardware.name,
        "tensor_parallel": tp,
        "context_parallel": cp,
        "pipeline_parallel": pp,
        "expert_parallel": ep,
        "num_gpus": num_gpus,
        "attention_impl": attention_impl,
        "weight_dtype": weight_dtype,
        "kv_cache_dtype": kv_dtype,
        "prompt_tokens": prompt_tokens,
        "output_tokens": output_tokens,
        "weights_bytes": round(costmodel.weight_bytes(model, weight_dtype)),
        "weights_bytes_per_gpu": round(plan.weights_bytes_per_gpu),
        "kv_cache_bytes_per_token": round(costmodel.kv_bytes_per_token(model, kv_dtype, tp) * tp),
        "kv_cache_bytes": round(costmodel.kv_bytes_for_sequence(model, kv_dtype, prompt_tokens, tp) * tp),
        "kv_cache_bytes_per_gpu": round(kv_seq_per_gpu),
        "kv_cache_bytes_peak": round(blocks_needed * plan.block_bytes_per_gpu * num_gpus),
        "memory_bytes_per_gpu": round(plan.weights_bytes_per_gpu + plan.reserve_bytes_per_gpu + kv_seq_per_gpu),
        "kv_cache_capacity_bytes": round(max(0.0, plan.kv_capacity_bytes_per_gpu) * num_gpus),
        "kv_cache_capacity_tokens": plan.num_kv_blocks * engine.block_size,
        "max_concurrent_sequences": max_concurrent,
        "exceeds_context": total_tokens > model.max_context_tokens,
        "fits": fits,
        "fit_reason": reason or "fits",
        "min_num_gpus": num_gpus if fits else (needs["num_gpus"] if needs else None),
        "needs": needs,
        "prefill_time_s": prefill_s,
        "ring_communication_s": ring_s,
        "attention": impls,
        "decode_time_per_token_s": decode_s,
        "e2e_latency_s": prefill_s + (output_tokens - 1) * decode_s,
        "decode_batch_size": batch,
        "decode_step_time_at_batch_s": batched_step_s,
        "throughput_output_tokens_per_s": batch / batched_step_s,
        "price_usd_per_gpu_hour": price,
        "cost_per_query_usd": cost_per_query,
        "cost_per_million_output_tokens_usd": cost_per_query / output_tokens * 1e6,
    }
