"""What long context costs: training FLOPs per length, and the figures long-context discussions quote.

`train_cost` prices a continued pre-training stage (or a curriculum of stages) that extends a
model's context: per-token FLOPs at each length split into the dense part (constant per token) and
the attention part (growing with length), GPU-hours, dollars and wall time at the assumed MFUs of
`catalog/training.yaml`. `explain_rows` recomputes, from the catalogs, the numbers people quote:
KV-cache size per sequence for GQA, MHA and MLA models, the naive score matrix, the prefill ratio.
"""

from __future__ import annotations

import dataclasses
import math
import functools

import yaml

from simulator.costs import costmodel
from simulator.catalog import CATALOG_DIR, resolve_hardware, resolve_model
from simulator.errors import InputError
from simulator.costs.hardware import HardwareProfile
from simulator.costs.model import AttentionKind, ModelSpec, attended_pairs


@functools.lru_cache(maxsize=1)
def training_defaults() -> dict:
    return yaml.safe_load((CATALOG_DIR / "training.yaml").read_text())


def mean_attended_keys(model: ModelSpec, context_tokens: int) -> float:
    """Keys a token attends to, summed over layers, averaged over the positions of a causal sequence."""
    total = 0
    for group in model.layer_groups():
        pairs = attended_pairs(group, 0, context_tokens)      # all queries of the sequence
        total += group.num_layers * pairs
    return total / context_tokens


def forward_flops_per_token(model: ModelSpec, context_tokens: int) -> tuple[float, float]:
    """(dense, attention) forward FLOPs per token of a sequence of `context_tokens`."""
    head = model.vocab_size * model.hidden_size
    dense = 2.0 * (model.params_active - model.embedding_params() + head)
    attention = model.attention_flops_per_pair() * mean_attended_keys(model, context_tokens)
    return dense, attention


def stage_cost(model: ModelSpec, hardware: HardwareProfile, context_tokens: int, tokens: float, num_gpus: int,
               price_usd_per_gpu_hour: float) -> dict:
    t = training_defaults()
    multiplier = 1.0 + t["backward_multiplier"]
    dense_f, attention_f = forward_flops_per_token(model, context_tokens)
    dense_f, attention_f = dense_f * multiplier, attention_f * multiplier
    peak = hardware.bf16_flops_per_s
    attention_peak = hardware.attention_peak_flops_per_s("bf16", model.attention_flops_per_pair()
                                                         / model.num_attention_heads)
    seconds_per_token = dense_f / (peak * t["dense_mfu"]) + attention_f / (attention_peak * t["attention_mfu"])
    gpu_hours = tokens * seconds_per_token / 3600.0
    return {
        "context_tokens": context_tokens,
        "tokens": tokens,
        "samples": tokens / context_tokens,
        "flops_per_token": dense_f + attention_f,
        "dense_flops_per_token": dense_f,
        "attention_flops_per_token": attention_f,
        "attention_share": attention_f / (dense_f + attention_f),
        "flops_per_sample": (dense_f + attention_f) * context_tokens,
        "total_flops": (dense_f + attention_f) * tokens,
        "gpu_hours": gpu_hours,
        "cost_usd": gpu_hours * price_usd_per_gpu_hour,
        "wall_time_hours": gpu_hours / num_gpus,
    }


def train_cost(model: ModelSpec, hardware: HardwareProfile, from_context: int, stages: list[tuple[int, float]],
               num_gpus: int = 8, price_usd_per_gpu_hour: float | None = None) -> dict:
    """Cost of continued pre-training at each (context, tokens) stage, against the `from_context` baseline."""
    if from_context < 1:
        raise InputError("must be >= 1", field="from_context", value=from_context)
    if num_gpus < 1:
        raise InputError("must be >= 1", field="num_gpus", value=num_gpus)
    if not stages:
        raise InputError("give --to-context and --tokens, or --curriculum", field="stages")
    for context, tokens in stages:
        if context < from_context:
            raise InputError(f"a stage must not be shorter than --from-context {from_context}",
                             field="to_context", value=context, allowed=f">= {from_context}")
        if not math.isfinite(tokens) or tokens <= 0:
            raise InputError("must be a finite number > 0", field="tokens", value=tokens)
    price = price_usd_per_gpu_hour if price_usd_per_gpu_hour is not None else hardware.on_demand_usd_per_gpu_hour
    base = stage_cost(model, hardware, from_context, 1.0, num_gpus, price)
    rows = [stage_cost(model, hardware, context, tokens, num_gpus, price) for context, tokens in stages]
    for row in rows:
        row["per_sample_cost_ratio_vs_from_context"] = row["flops_per_sample"] / base["flops_per_sample"]
        row["per_token_cost_ratio_vs_from_context"] = row["flops_per_token"] / base["flops_per_token"]
    return {
        "model": model.name, "hardware": hardware.name, "num_gpus": num_gpus, "price_usd_per_gpu_hour": price,
        "from_context": from_context,
        "from_context_flops_per_token": base["flops_per_token"],
        "from_context_attention_share": base["attention_share"],
        "stages": rows,
        "total_tokens": sum(r["tokens"] for r in rows),
        "total_gpu_hours": sum(r["gpu_hours"] for r in rows),
        "total_cost_usd": sum(r["cost_usd"] for r in rows),
        "total_wall_time_hours": sum(r["wall_time_hours"] for r in rows),
        "assumptions": training_defaults()["source"],
    }


def parse_curriculum(text: str) -> list[tuple[int, float]]:
    """'32768=10e9,131072=5e9' -> [(32768, 1e10), (131072, 5e9)]."""
    stages = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        context, sep, tokens = part.partition("=")
        if not sep:
            raise InputError("expected CONTEXT=TOKENS", field="curriculum", value=part)
        try:
            context_value, tokens_value = float(context), float(tokens)
        except ValueError:
            raise InputError("expected CONTEXT=TOKENS pairs separated by commas", field="curriculum",
                             value=part, allowed="e.g. 32768=10e9,131072=5e9") from None
        if not (math.isfinite(context_value) and math.isfinite(tokens_value)):
            raise InputError("CONTEXT and TOKENS must be finite numbers", field="curriculum", value=part)
        stages.append((int(context_value), tokens_value))
    return stages


# ----- the numbers people quote ---------------------------------------------------------------

def _kv_sequence_bytes(model: ModelSpec, tokens: int, kv_dtype: str = "bf16") -> float:
    return costmodel.kv_bytes_for_sequence(model, kv_dtype, tokens)


def explain_rows(context_tokens: int = 131072, short_tokens: int = 4096, model_name: str = "llama-3.1-8b",
                 hardware_name: str = "h100-sxm") -> list[dict]:
    """Each row: what, value, unit, how it is computed (all from the catalogs, bf16 KV)."""
    k = f"{context_tokens // 1024}K"
    rows = []
    l2 = resolve_model("llama-2-70b")
    l2_mha = dataclasses.replace(l2, num_kv_heads=l2.num_attention_heads, attention=AttentionKind.MHA)
    for label, model, how in (
            ("Llama-2-70B as published (GQA, 8 KV heads)", l2,
             f"{l2.num_layers} layers x 2 (K,V) x {l2.num_kv_heads} heads x {l2.head_dim} dims x 2 bytes"),
            ("Llama-2-70B if it were MHA (64 KV heads)", l2_mha,
             f"{l2.num_layers} layers x 2 x {l2.num_attention_heads} heads x {l2.head_dim} dims x 2 bytes"),
            ("Llama-3.1-70B (GQA, 8 KV heads)", resolve_model("llama-3.1-70b"), "same shape as Llama-2-70B"),
            ("DeepSeek-V2-Lite (MLA latent)", resolve_model("deepseek-v2-lite"),
             "27 layers x (512 latent + 64 RoPE) x 2 bytes"),
            ("DeepSeek-V3 (MLA latent)", resolve_model("deepseek-v3"), "61 layers x (512 latent + 64 RoPE) x 2 bytes")):
        per_token = costmodel.kv_bytes_per_token(model, "bf16")
        rows.append({"quantity": f"KV cache per sequence at {k}: {label}",
                     "value": _kv_sequence_bytes(model, context_tokens) / 1e9, "unit": "GB",
                     "how": f"{per_token / 1e3:,.1f} KB/token = {how}"})
    scout = resolve_model("llama-4-scout")
    scout_global = dataclasses.replace(scout, local_window_tokens=None, global_every=0)
    rows.append({"quantity": "KV cache per sequence at 1M: Llama-4-Scout (3 of 4 layers chunked to 8K)",
                 "value": _kv_sequence_bytes(scout, 1_000_000) / 1e9, "unit": "GB",
                 "how": f"vs {_kv_sequence_bytes(scout_global, 1_000_000) / 1e9:,.0f} GB if every layer were global"})
    l31 = resolve_model("llama-3.1-70b")
    scores = l31.num_attention_heads * context_tokens * context_tokens * costmodel.NAIVE_SCORE_BYTES
    rows.append({"quantity": f"Naive attention score matrix at {k}, one layer, one sequence (Llama-3.1-70B)",
                 "value": scores / 1e12, "unit": "TB",
                 "how": f"{l31.num_attention_heads} heads x {context_tokens:,}^2 x 2 bytes; flash attention "
                        "keeps only tiles in on-chip memory (memory linear in length)"})
    model, hardware = resolve_model(model_name), resolve_hardware(hardware_name)
    cost = costmodel.iteration_cost_params(model, hardware)
    short = sum(forward_flops_per_token(model, short_tokens)) * short_tokens
    long = sum(forward_flops_per_token(model, context_tokens)) * context_tokens
    rows.append({"quantity": f"Prefill FLOPs {k} / {short_tokens // 1024}K ({model.name})", "value": long / short,
                 "unit": "x", "how": f"{context_tokens // short_tokens}x the tokens; attention per token grows "
                                     f"with length (attention share at {k}: "
                                     f"{forward_flops_per_token(model, context_tokens)[1] / (long / context_tokens):.0%})"})
    chunk = 8192
    from simulator.results.estimate import prefill_time_s
    ratio = prefill_time_s(cost, context_tokens, chunk) / prefill_time_s(cost, short_tokens, chunk)
    rows.append({"quantity": f"Prefill time {k} / {short_tokens // 1024}K ({model.name} on {hardware.name})",
                 "value": ratio, "unit": "x", "how": "the cost model, 8,192-token chunks, one sequence alone"})
    return rows
