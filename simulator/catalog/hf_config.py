"""Import a Hugging Face `config.json` as a `ModelSpec`.

Reads the keys common to Llama, Mistral, Mixtral, Qwen2, Gemma-2, Phi-3, Llama-4 (`text_config`)
and DeepSeek-V2/V3 configs. Parameter counts are computed from shapes (norms and biases are
ignored: under 0.1% for the catalog models):

    attention  GQA: hidden * (H + 2*KV) * d + H * d * hidden
               MLA: q path (hidden*q_lora + q_lora*H*(nope+rope), or hidden*H*(nope+rope))
                    + hidden*(kv_lora+rope) + kv_lora*H*(nope+v) + H*v*hidden
    MLP        3 * hidden * intermediate (gated), per expert for MoE, plus shared experts
    embedding  vocab * hidden, twice when the LM head is not tied
"""

from __future__ import annotations

from typing import Any

from simulator.errors import InputError
from simulator.model import AttentionKind, ModelSpec, WindowKind


def _get(config: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if config.get(key) is not None:
            return config[key]
    return default


def _required(config: dict[str, Any], file: str, *keys: str) -> int:
    value = _get(config, *keys)
    if value is None:
        raise InputError("missing in config.json", field=" or ".join(keys), file=file)
    if not isinstance(value, int) or value <= 0:
        shown = value if isinstance(value, (int, float)) else None    # never quote text read from a file
        raise InputError("must be a positive integer", field=keys[0], value=shown, file=file)
    return value


def model_from_hf_config(config: dict[str, Any], name: str, file: str) -> ModelSpec:
    if not isinstance(config, dict):
        raise InputError("config.json must hold a JSON object", file=file)
    config = config.get("text_config") or config
    layers = _required(config, file, "num_hidden_layers", "n_layer", "num_layers")
    hidden = _required(config, file, "hidden_size", "n_embd", "d_model")
    heads = _required(config, file, "num_attention_heads", "n_head")
    kv_heads = _get(config, "num_key_value_heads", default=heads)
    head_dim = _get(config, "head_dim", default=hidden // heads)
    vocab = _required(config, file, "vocab_size")
    intermediate = _get(config, "intermediate_size", "intermediate_size_mlp", "ffn_dim", default=4 * hidden)
    max_context = _get(config, "max_position_embeddings", "max_seq_len", "n_positions", default=4096)
    tied = bool(config.get("tie_word_embeddings", False))

    kv_lora = config.get("kv_lora_rank")
    attention = AttentionKind.MLA if kv_lora else (AttentionKind.MHA if kv_heads == heads else AttentionKind.GQA)
    rope_dim = config.get("qk_rope_head_dim")
    nope_dim = config.get("qk_nope_head_dim")
    v_dim = config.get("v_head_dim")
    if attention is AttentionKind.MLA:
        head_dim = (nope_dim or 0) + (rope_dim or 0)
        q_lora = config.get("q_lora_rank")
        q_params = hidden * q_lora + q_lora * heads * head_dim if q_lora else hidden * heads * head_dim
        attn_params = q_params + hidden * (kv_lora + rope_dim) + kv_lora * heads * (nope_dim + v_dim) \
            + heads * v_dim * hidden
        kv_heads = heads
    else:
        attn_params = hidden * (heads + 2 * kv_heads) * head_dim + heads * head_dim * hidden

    num_experts = _get(config, "n_routed_experts", "num_local_experts", "num_experts", default=0) or 0
    top_k = _get(config, "num_experts_per_tok", "num_experts_per_token", default=0) or 0
    moe_inter = _get(config, "moe_intermediate_size", default=intermediate)
    shared = _get(config, "n_shared_experts", "num_shared_experts", default=0) or 0
    if num_experts and "llama4" in str(config.get("model_type", "")):
        shared = max(shared, 1)   # Llama-4 routes to top-k experts plus one shared expert
    dense_layers = _get(config, "first_k_dense_replace", default=0) if num_experts else layers
    moe_layers = layers - dense_layers
    dense_mlp = 3 * hidden * intermediate
    expert_mlp = 3 * hidden * moe_inter
    embed = vocab * hidden * (1 if tied else 2)
    total = layers * attn_params + dense_layers * dense_mlp + embed \
        + moe_layers * (num_experts + shared) * expert_mlp + moe_layers * hidden * num_experts
    active = layers * attn_params + dense_layers * dense_mlp + embed \
        + moe_layers * (top_k + shared) * expert_mlp + moe_layers * hidden * num_experts

    window = config.get("sliding_window") if config.get("use_sliding_window", True) is not False else None
    chunk = config.get("attention_chunk_size")
    local_kind, global_every = WindowKind.SLIDING, 0
    if chunk:
        window, local_kind = chunk, WindowKind.CHUNKED
        no_rope = config.get("no_rope_layers")
        global_every = (len(no_rope) // max(1, no_rope.count(0))) if isinstance(no_rope, list) and 0 in no_rope \
            else config.get("interleave_moe_layer_step", 4) or 4
    elif window:
        layer_types = config.get("layer_types")
        if isinstance(layer_types, list) and "full_attention" in layer_types:
            global_every = round(len(layer_types) / layer_types.count("full_attention"))
        elif str(config.get("model_type", "")).startswith("gemma2"):
            global_every = 2
    try:
        return ModelSpec(
            name=name, display_name=name, num_layers=layers, hidden_size=hidden, num_attention_heads=heads,
            num_kv_heads=kv_heads, head_dim=head_dim, intermediate_size=intermediate, vocab_size=vocab,
            params_total=float(total), params_active=float(active), max_context_tokens=max_context,
            attention=attention, local_window_tokens=window or None, local_kind=local_kind,
            global_every=global_every, kv_lora_rank=kv_lora, qk_rope_head_dim=rope_dim,
            qk_nope_head_dim=nope_dim, v_head_dim=v_dim, num_experts=num_experts,
            experts_per_token=top_k if num_experts else 0, tie_word_embeddings=tied,
            source=f"Hugging Face config {file}", verified=False,
        )
    except ValueError as exc:
        raise InputError(str(exc), file=file) from None
