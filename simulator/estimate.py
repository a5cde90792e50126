"""Closed-form estimate for one request shape: memory, fit, prefill and decode times, cost.

No simulation: the same cost-model functions the engine uses, evaluated on one request.

- prefill_time_s: the prompt as chunks of `max_num_batched_tokens` (one chunk with chunked
  prefill off), each chunk alone in its iteration; this is the TTFT of a request on an idle replica.
- decode_time_per_token_s: one decode step of this sequence alone, at the mean context
  (prompt + output / 2).
- batched decode: `decode_batch_size` = min(max_concurrent_sequences, max_num_seqs) such
  sequences decoding together; cost per query = GPU price x (prefill time + output tokens x
  batched step time / batch size). Prefill is not amortised (it is compute-bound).
"""

from __future__ import annotations

from simulator import costmodel
from simulator.deployment import blocks_for_tokens_fn, fit_check, memory_plan, min_tensor_parallel, valid_tp
from simulator.errors import InputError
from simulator.hardware import HardwareProfile, PricingTier
from simulator.model import ModelSpec
from simulator.scenario import EngineSpec


def estimate(model: ModelSpec, hardware: HardwareProfile, prompt_tokens: int, output_tokens: int, tp: int = 1,
             weight_dtype: str = "bf16", kv_dtype: str = "bf16", engine: EngineSpec | None = None,
             pricing: PricingTier = PricingTier.ON_DEMAND, price_usd_per_gpu_hour: float | None = None) -> dict:
    engine = engine or EngineSpec()
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
    total_tokens = prompt_tokens + output_tokens
    plan = memory_plan(model, hardware, tp, weight_dtype, kv_dtype, engine)
    blocks_for = blocks_for_tokens_fn(model, kv_dtype, tp, engine.block_size)
    blocks_needed = blocks_for(total_tokens)
    reason = fit_check(model, plan, blocks_needed, hardware, engine)
    fits = reason is None
    max_concurrent = plan.num_kv_blocks // blocks_needed if fits else 0

    cost = costmodel.iteration_cost_params(model, hardware, tp, weight_dtype, kv_dtype)
    chunk = engine.max_num_batched_tokens if engine.enable_chunked_prefill else prompt_tokens
    prefill_s, done = 0.0, 0
    while done < prompt_tokens:
        new = min(chunk, prompt_tokens - done)
        samples = 1 if done + new == prompt_tokens else 0
        prefill_s += costmodel.iteration_time_s(cost, [(done, new)], 0, 0, samples)
        done += new
    mean_context = prompt_tokens + output_tokens // 2
    attended = costmodel.decode_attended_tokens(cost, mean_context)
    decode_s = costmodel.iteration_time_s(cost, [], 1, attended, 1)
    batch = max(1, min(max_concurrent, engine.max_num_seqs))
    batched_step_s = costmodel.iteration_time_s(cost, [], batch, batch * attended, batch)
    price = price_usd_per_gpu_hour if price_usd_per_gpu_hour is not None else hardware.price_usd_per_gpu_hour(pricing)
    gpu_seconds_per_query = tp * (prefill_s + output_tokens * batched_step_s / batch)
    cost_per_query = gpu_seconds_per_query * price / 3600.0
    return {
        "model": model.name,
        "hardware": hardware.name,
        "tensor_parallel": tp,
        "weight_dtype": weight_dtype,
        "kv_cache_dtype": kv_dtype,
        "prompt_tokens": prompt_tokens,
        "output_tokens": output_tokens,
        "weights_bytes": round(costmodel.weight_bytes(model, weight_dtype)),
        "weights_bytes_per_gpu": round(plan.weights_bytes_per_gpu),
        "kv_cache_bytes_per_token": round(plan.kv_bytes_per_token_per_gpu * tp),
        "kv_cache_bytes": round(costmodel.kv_bytes_for_sequence(model, kv_dtype, prompt_tokens, tp) * tp),
        "kv_cache_bytes_peak": round(blocks_needed * plan.block_bytes_per_gpu * tp),
        "kv_cache_capacity_bytes": round(max(0.0, plan.kv_capacity_bytes_per_gpu) * tp),
        "kv_cache_capacity_tokens": plan.num_kv_blocks * engine.block_size,
        "max_concurrent_sequences": max_concurrent,
        "exceeds_context": total_tokens > model.max_context_tokens,
        "fits": fits,
        "fit_reason": reason or "fits",
        "min_num_gpus": (tp if fits else
                         min_tensor_parallel(model, hardware, weight_dtype, kv_dtype, engine, total_tokens)),
        "prefill_time_s": prefill_s,
        "decode_time_per_token_s": decode_s,
        "e2e_latency_s": prefill_s + (output_tokens - 1) * decode_s,
        "decode_batch_size": batch,
        "decode_step_time_at_batch_s": batched_step_s,
        "throughput_output_tokens_per_s": batch / batched_step_s,
        "price_usd_per_gpu_hour": price,
        "cost_per_query_usd": cost_per_query,
        "cost_per_million_output_tokens_usd": cost_per_query / output_tokens * 1e6,
    }
