"""Model architecture as the cost model sees it.

A `ModelSpec` is a frozen description of a decoder-only transformer: layer count, attention shape
(MHA, GQA or MLA), which layers attend locally (a sliding window or fixed chunks) and which
globally, and how many parameters exist and are used per token (MoE).

Per-layer attention pattern, e.g. Gemma-2 (`global_every: 2`) and Llama-4-Scout (`global_every: 4`):

    layer:   0      1      2      3      4  ...
    gemma:   local  GLOBAL local  GLOBAL local
    scout:   local  local  local  GLOBAL local

The layers are summarised as `layer_groups()`: (number of layers, window kind, window tokens).
Everything that depends on dtype, parallelism or hardware lives in `costmodel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class AttentionKind(str, Enum):
    MHA = "mha"
    GQA = "gqa"
    MLA = "mla"


class WindowKind(str, Enum):
    GLOBAL = "global"
    SLIDING = "sliding"   # attends to the last W tokens
    CHUNKED = "chunked"   # attends within fixed chunks of W tokens (Llama-4 local layers)


@dataclass(frozen=True, slots=True)
class LayerGroup:
    num_layers: int
    kind: WindowKind
    window_tokens: int | None   # None for global layers


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    intermediate_size: int
    vocab_size: int
    params_total: float
    params_active: float
    max_context_tokens: int
    attention: AttentionKind = AttentionKind.GQA
    local_window_tokens: int | None = None
    local_kind: WindowKind = WindowKind.SLIDING
    global_every: int = 0
    kv_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    qk_nope_head_dim: int | None = None
    v_head_dim: int | None = None
    num_experts: int = 0
    experts_per_token: int = 0
    tie_word_embeddings: bool = False
    display_name: str = ""
    source: str = ""
    verified: bool = False
    notes: tuple[str, ...] = ()   # assumptions made reading it (e.g. an imported config's defaults)

    def __post_init__(self) -> None:
        positive = ("num_layers", "hidden_size", "num_attention_heads", "num_kv_heads", "head_dim",
                    "intermediate_size", "vocab_size", "max_context_tokens")
        for field in positive:
            if getattr(self, field) <= 0:
                raise ValueError(f"model {self.name}: {field} must be > 0, got {getattr(self, field)}")
        if not 0 < self.params_active <= self.params_total:
            raise ValueError(f"model {self.name}: need 0 < params_active <= params_total, got "
                             f"{self.params_active} and {self.params_total}")
        if self.attention is AttentionKind.MLA and not (self.kv_lora_rank and self.qk_rope_head_dim):
            raise ValueError(f"model {self.name}: MLA needs kv_lora_rank and qk_rope_head_dim")
        if self.num_experts and not 0 < self.experts_per_token <= self.num_experts:
            raise ValueError(f"model {self.name}: experts_per_token must be in 1..num_experts "
                             f"({self.num_experts}), got {self.experts_per_token}")
        if self.local_window_tokens is not None and self.local_window_tokens <= 0:
            raise ValueError(f"model {self.name}: local_window_tokens must be > 0")

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def has_local_layers(self) -> bool:
        return self.local_window_tokens is not None

    def layer_groups(self) -> tuple[LayerGroup, ...]:
        """Layers grouped by attention window: global layers and local (windowed) layers."""
        if self.local_window_tokens is None:
            return (LayerGroup(self.num_layers, WindowKind.GLOBAL, None),)
        num_global = self.num_layers // self.global_every if self.global_every > 0 else 0
        groups = []
        if num_global:
            groups.append(LayerGroup(num_global, WindowKind.GLOBAL, None))
        groups.append(LayerGroup(self.num_layers - num_global, self.local_kind, self.local_window_tokens))
        return tuple(groups)

    def kv_elements_per_token_per_layer(self) -> int:
        """Elements the KV cache stores per token and layer (K and V, all KV heads; MLA: one latent)."""
        if self.attention is AttentionKind.MLA:
            return self.kv_lora_rank + self.qk_rope_head_dim
        return 2 * self.num_kv_heads * self.head_dim

    def attention_flops_per_pair(self) -> int:
        """FLOPs for one (query token, attended key) pair in one layer: QK^T plus PV, all heads."""
        if self.attention is AttentionKind.MLA:
            qk_dim = (self.qk_nope_head_dim or 0) + self.qk_rope_head_dim
            v_dim = self.v_head_dim or self.qk_nope_head_dim or 0
            return 2 * self.num_attention_heads * (qk_dim + v_dim)
        return 4 * self.num_attention_heads * self.head_dim

    def embedding_params(self) -> int:
        """Parameters of the token embedding plus the LM head (one matrix when tied)."""
        return self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)

    def expert_split(self) -> tuple[float, float]:
        """(params outside routed experts, params of one routed expert summed over layers).

        Derived from the total and active counts: total = shared + E * e, active = shared + k * e.
        Dense models return (params_total, 0).
        """
        if not self.is_moe or self.num_experts == self.experts_per_token:
            return self.params_total, 0.0
        per_expert = (self.params_total - self.params_active) / (self.num_experts - self.experts_per_token)
        return self.params_total - self.num_experts * per_expert, per_expert


# ----- non-GEMM kernels of a layer --------------------------------------------------------

# Elements of 16-bit activations that the memory-bound kernels between the GEMMs of one decoder layer read plus
# write per token, as vLLM runs them (csrc/ops.h and the kernels it declares, v0.6-v0.11): fused_add_rms_norm
# twice per layer (before attention and before the MLP; in place on the input and the residual, so 2 hidden
# vectors read and 2 written), rotary_embedding (in place on the rank's query and key heads), silu_and_mul
# (csrc/activation_kernels.cu: reads gate and up, writes their product) and, in an MoE layer, moe_sum (reads the
# k expert outputs, writes one hidden vector). TensorRT-LLM and SGLang run the same sequence with some of these
# fused into neighbours; the same counts are used for them (an APPROXIMATION that prices them slightly high).
NORM_VECTORS_PER_LAYER = 8        # 2 fused residual-add RMSNorms x (read 2 + write 2) hidden vectors
ROPE_PASSES = 2                   # read and write the query and key heads
GATED_ACTIVATION_PASSES = 3       # read gate and up, write one intermediate vector


def kv_heads_per_gpu(model: ModelSpec, tp: int) -> float:
    """KV heads held by one rank: split evenly, replicated when TP exceeds the KV head count."""
    return max(1.0, model.num_kv_heads / tp)


def active_mlp_width(model: ModelSpec) -> float:
    """Width of the gated-MLP intermediate a token passes through in one layer: the dense intermediate, or in an MoE
    layer its k routed experts' widths together (an expert's width from the parameter counts: a gated expert holds
    3 x hidden x width per layer; shared experts are left out)."""
    if not model.is_moe:
        return float(model.intermediate_size)
    _, per_expert = model.expert_split()                # a routed expert's gated MLP, summed over the layers
    return model.experts_per_token * per_expert / (3 * model.hidden_size * model.num_layers)


def elementwise_elements_per_token_per_layer(model: ModelSpec, tp: int) -> float:
    """Activation elements the non-GEMM kernels of one layer read and write per token on one GPU of a TP group.

    The norms act on the whole hidden vector on every rank (replicated under TP); RoPE and the activation act on
    the rank's slice. MoE layers apply the activation to each of the k experts' intermediate vectors (the expert
    width from the parameter counts; shared experts, dense layers of MoE models and per-head QK norms are left out).
    MLA applies RoPE to each head's qk_rope_head_dim and to one shared rope key."""
    h = model.hidden_size
    if model.attention is AttentionKind.MLA:        # RoPE on each head's rope part and one shared rope key
        query, key = model.num_attention_heads * model.qk_rope_head_dim / tp, model.qk_rope_head_dim
    else:
        query = model.num_attention_heads * model.head_dim / tp
        key = kv_heads_per_gpu(model, tp) * model.head_dim
    elements = NORM_VECTORS_PER_LAYER * h + ROPE_PASSES * (query + key)
    elements += GATED_ACTIVATION_PASSES * active_mlp_width(model) / tp
    if model.is_moe:
        elements += (model.experts_per_token + 1) * h  # moe_sum: read the k expert outputs, write one vector
    return elements


# ----- attention work of a layer group ----------------------------------------------------

def _sum_capped(first: int, last: int, cap: int) -> int:
    """sum_{x=first}^{last} min(x, cap) for 1 <= first <= last."""
    below_end = min(last, cap)
    total = (below_end * (below_end + 1) - (first - 1) * first) // 2 if first <= below_end else 0
    return total + cap * max(0, last - max(first - 1, cap))


def _chunk_prefix_sum(num_positions: int, chunk: int) -> int:
    """sum_{x=0}^{n-1} ((x mod chunk) + 1): pairs of the first n positions under chunked attention."""
    full, rest = divmod(num_positions, chunk)
    return full * chunk * (chunk + 1) // 2 + rest * (rest + 1) // 2


def attended_pairs(group: LayerGroup, context_tokens: int, new_tokens: int) -> int:
    """(query, key) pairs in one layer when `new_tokens` causal queries follow `context_tokens`."""
    first, last = context_tokens + 1, context_tokens + new_tokens   # keys seen by first/last query
    if group.kind is WindowKind.GLOBAL:
        return (first + last) * new_tokens // 2
    if group.kind is WindowKind.SLIDING:
        return _sum_capped(first, last, group.window_tokens)
    return _chunk_prefix_sum(last, group.window_tokens) - _chunk_prefix_sum(context_tokens, group.window_tokens)


def attended_length(group: LayerGroup, position: int) -> int:
    """Keys a query at 0-based `position` attends to in one layer of `group`."""
    if group.kind is WindowKind.GLOBAL:
        return position + 1
    if group.kind is WindowKind.SLIDING:
        return min(position + 1, group.window_tokens)
    return position % group.window_tokens + 1
