"""Import a Hugging Face `config.json` as a `ModelSpec`.

The `model_type` says how a config is read. Supported (`SUPPORTED_MODEL_TYPES`): Llama, Mistral,
Mixtral, Qwen2, Qwen2-MoE, Qwen3, Qwen3-MoE, Gemma, Gemma-2, Phi-3, Llama-4 (`text_config`),
DeepSeek-V2/V3 and GPT-NeoX. Another `model_type` (or none) is refused unless the config holds every
field of a Llama-style decoder (`LLAMA_FIELDS`); it is then read as one, and the model's `notes` say
what was assumed. Parameter counts are computed from shapes (norms and biases are ignored: under
0.1% for the catalog models):

    attention  GQA: hidden * (H + 2*KV) * d + H * d * hidden
               MLA: q path (hidden*q_lora + q_lora*H*(nope+rope), or hidden*H*(nope+rope))
                    + hidden*(kv_lora+rope) + kv_lora*H*(nope+v) + H*v*hidden
    MLP        3 * hidden * intermediate (gated), 2 * hidden * intermediate (GPT-NeoX),
               per expert for MoE, plus shared experts
    embedding  vocab * hidden, twice when the LM head is not tied

The model is named after the config: the last part of `_name_or_path`, else `model_type` and the
parameter count (`gpt-neox-20b`), else the file's stem when it is not `config.json`, else its folder.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from simulator.errors import InputError
from simulator.costs.model import AttentionKind, ModelSpec, WindowKind
from simulator.specs.paths import safe_token

SUPPORTED_MODEL_TYPES = ("llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "gemma",
                         "gemma2", "phi3", "llama4", "llama4_text", "deepseek_v2", "deepseek_v3", "gpt_neox")
NON_GATED_MLP = ("gpt_neox",)          # up and down projections only
# what a config of another model_type must hold to be read as a Llama-style decoder
LLAMA_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                "intermediate_size", "vocab_size", "max_position_embeddings")
DEFAULT_MAX_CONTEXT_TOKENS = 4096
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _get(config: dict[str, Any], *keys: str, default: Any = None) -> Any:
    for key in keys:
        if config.get(key) is not None:
            return config[key]
    return default


def _required(config: dict[str, Any], file: str, *keys: str) -> int:
    value = _positive(config, file, *keys)
    if value is None:
        raise InputError("missing in config.json", field=" or ".join(keys), file=file)
    return value


def _positive(config: dict[str, Any], file: str, *keys: str, default: Any = None, minimum: int = 1) -> Any:
    """The first of `keys` present, an integer >= `minimum`; `default` when none is present."""
    key = next((k for k in keys if config.get(k) is not None), None)
    if key is None:
        return default
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        shown = value if isinstance(value, (int, float)) else None    # never quote text read from a file
        rule = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise InputError(f"must be {rule}", field=key, value=shown, file=file)
    return value


def _family_notes(config: dict[str, Any], model_type: Any, file: str) -> list[str]:
    """Refuse a config of an unsupported `model_type` that lacks a Llama field; else what reading it assumes."""
    if model_type in SUPPORTED_MODEL_TYPES:
        notes = []
        if model_type == "gpt_neox" and config.get("use_parallel_residual", True):
            notes.append("GPT-NeoX parallel attention and MLP (use_parallel_residual) priced as sequential "
                         "(the same FLOPs and bytes)")
        return notes
    missing = [key for key in LLAMA_FIELDS if config.get(key) is None]
    shown = safe_token(model_type) if isinstance(model_type, str) else None    # never quote odd file text
    if missing:
        what = "missing" if model_type is None else f"{shown!r} is not supported" if shown else "not supported"
        raise InputError(f"{what}, and the config lacks {', '.join(missing)} to be read as a Llama-style decoder",
                         field="model_type", allowed=", ".join(SUPPORTED_MODEL_TYPES), file=file)
    label = "no model_type" if model_type is None else f"model_type {shown!r} is not supported" if shown \
        else "an unsupported model_type"
    return [f"{label} (supported: {', '.join(SUPPORTED_MODEL_TYPES)}): read as a Llama-style decoder; a gated MLP "
            f"(3 x hidden x intermediate) and the attention of num_key_value_heads assumed"]


def size_label(params: float) -> str:
    """Parameters as a name suffix, rounded down as model names are: 8.03e9 -> '8b', 3.82e9 -> '3.8b'."""
    for scale, unit in ((1e9, "b"), (1e6, "m"), (1e3, "k")):
        if params >= scale or unit == "k":
            value = params / scale
            text = str(math.floor(value)) if value >= 10 else f"{math.floor(value * 10) / 10:g}"
            return text + unit
    return ""


def model_name(config: dict[str, Any], model_type: Any, params_total: float, file: str) -> tuple[str, str]:
    """(name, display name): `_name_or_path`'s last part, else model_type-size, else the file stem or folder."""
    given = config.get("_name_or_path")
    if isinstance(given, str):
        last = given.replace("\\", "/").rstrip("/").split("/")[-1]
        if _PLAIN_NAME.fullmatch(last):
            return last.lower(), last
    if isinstance(model_type, str) and safe_token(model_type) == model_type:
        name = f"{model_type.replace('_', '-').lower()}-{size_label(params_total)}"
        return name, name
    path = Path(file)
    name = path.stem if path.name != "config.json" else (path.parent.name or path.stem)
    return name, name


def _parameters(config: dict[str, Any], file: str, model_type: Any, hidden: int, heads: int, kv_heads: int,
                head_dim: int, layers: int, vocab: int, intermediate: int, tied: bool) -> tuple[float, float, dict]:
    """(params_total, params_active, the attention and expert fields of the spec)."""
    kv_lora = _positive(config, file, "kv_lora_rank")
    attention = AttentionKind.MLA if kv_lora else (AttentionKind.MHA if kv_heads == heads else AttentionKind.GQA)
    rope_dim = nope_dim = v_dim = None
    if attention is AttentionKind.MLA:
        rope_dim, nope_dim, v_dim = (_required(config, file, key) for key in
                                     ("qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim"))
        head_dim = nope_dim + rope_dim
        q_lora = _positive(config, file, "q_lora_rank")
        q_params = hidden * q_lora + q_lora * heads * head_dim if q_lora else hidden * heads * head_dim
        attn_params = q_params + hidden * (kv_lora + rope_dim) + kv_lora * heads * (nope_dim + v_dim) \
            + heads * v_dim * hidden
        kv_heads = heads
    else:
        attn_params = hidden * (heads + 2 * kv_heads) * head_dim + heads * head_dim * hidden

    num_experts = _positive(config, file, "n_routed_experts", "num_local_experts", "num_experts", default=0,
                            minimum=0)
    top_k = _positive(config, file, "num_experts_per_tok", "num_experts_per_token", default=0, minimum=0)
    moe_inter = _positive(config, file, "moe_intermediate_size", default=intermediate)
    shared = _positive(config, file, "n_shared_experts", "num_shared_experts", default=0, minimum=0)
    if num_experts and str(model_type).startswith("llama4"):
        shared = max(shared, 1)   # Llama-4 routes to top-k experts plus one shared expert
    dense_layers = _positive(config, file, "first_k_dense_replace", default=0, minimum=0) if num_experts else layers
    moe_layers = layers - dense_layers
    matrices = 2 if model_type in NON_GATED_MLP else 3
    dense_mlp = matrices * hidden * intermediate
    expert_mlp = matrices * hidden * moe_inter
    # Qwen2-MoE: one always-on shared expert of its own width (its scalar gate is not counted)
    shared_width = _positive(config, file, "shared_expert_intermediate_size", default=0, minimum=0)
    shared_mlp = shared * expert_mlp + matrices * hidden * shared_width
    embed = vocab * hidden * (1 if tied else 2)
    common = layers * attn_params + dense_layers * dense_mlp + embed + moe_layers * (shared_mlp + hidden * num_experts)
    total = common + moe_layers * num_experts * expert_mlp
    active = common + moe_layers * top_k * expert_mlp
    fields = dict(attention=attention, num_kv_heads=kv_heads, head_dim=head_dim, kv_lora_rank=kv_lora,
                  qk_rope_head_dim=rope_dim, qk_nope_head_dim=nope_dim, v_head_dim=v_dim, num_experts=num_experts,
                  experts_per_token=top_k if num_experts else 0)
    return float(total), float(active), fields


def _windows(config: dict[str, Any], file: str, model_type: Any) -> dict[str, Any]:
    """The local-attention fields of the spec: sliding windows, Llama-4 chunks, and how often a layer is global."""
    window = _positive(config, file, "sliding_window") if config.get("use_sliding_window", True) is not False \
        else None
    chunk = _positive(config, file, "attention_chunk_size")
    local_kind, global_every = WindowKind.SLIDING, 0
    if chunk:
        window, local_kind = chunk, WindowKind.CHUNKED
        no_rope = config.get("no_rope_layers")
        global_every = (len(no_rope) // max(1, no_rope.count(0))) if isinstance(no_rope, list) and 0 in no_rope \
            else _positive(config, file, "interleave_moe_layer_step", default=4)
    elif window:
        layer_types = config.get("layer_types")
        if isinstance(layer_types, list) and "full_attention" in layer_types:
            global_every = round(len(layer_types) / layer_types.count("full_attention"))
        elif str(model_type or "").startswith("gemma2"):
            global_every = 2
    return dict(local_window_tokens=window, local_kind=local_kind, global_every=global_every)


def model_from_hf_config(config: dict[str, Any], file: str) -> ModelSpec:
    """The `ModelSpec` of a parsed config.json (`file` names it in errors and gives the fallback name)."""
    if not isinstance(config, dict):
        raise InputError("config.json must hold a JSON object", file=file)
    outer = config
    config = config.get("text_config") or config
    if not isinstance(config, dict):
        raise InputError("must be a JSON object", field="text_config", file=file)
    model_type = config.get("model_type", outer.get("model_type"))
    notes = _family_notes(config, model_type, file)
    layers = _required(config, file, "num_hidden_layers", "n_layer", "num_layers")
    hidden = _required(config, file, "hidden_size", "n_embd", "d_model")
    heads = _required(config, file, "num_attention_heads", "n_head")
    kv_heads = _positive(config, file, "num_key_value_heads", default=heads)
    head_dim = _positive(config, file, "head_dim", default=hidden // heads)
    vocab = _required(config, file, "vocab_size")
    intermediate = _positive(config, file, "intermediate_size", "intermediate_size_mlp", "ffn_dim")
    if intermediate is None:
        intermediate = 4 * hidden
        notes.append(f"intermediate_size missing: 4 x hidden_size = {intermediate} assumed")
    max_context = _positive(config, file, "max_position_embeddings", "max_seq_len", "n_positions")
    if max_context is None:
        max_context = DEFAULT_MAX_CONTEXT_TOKENS
        notes.append(f"max_position_embeddings missing: a context of {max_context} tokens assumed")
    tied = bool(config.get("tie_word_embeddings", False))
    total, active, attention = _parameters(config, file, model_type, hidden, heads, kv_heads, head_dim, layers, vocab,
                                           intermediate, tied)
    name, display_name = model_name(outer, model_type, total, file)
    try:
        return ModelSpec(
            name=name, display_name=display_name, num_layers=layers, hidden_size=hidden, num_attention_heads=heads,
            intermediate_size=intermediate, vocab_size=vocab, params_total=total, params_active=active,
            max_context_tokens=max_context, tie_word_embeddings=tied, source=f"Hugging Face config {file}",
            verified=False, notes=tuple(notes), **attention, **_windows(config, file, model_type),
        )
    except (ValueError, TypeError) as exc:
        raise InputError(str(exc), file=file) from None
