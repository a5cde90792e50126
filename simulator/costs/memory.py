"""The memory of one GPU of a replica: weights, a reserve, and the KV cache sized into blocks.

Per GPU, by the engine's own rule:

    vLLM:          kv_capacity = gpu_memory_utilization x memory - weights / (tp x pp) - reserve
                   (vllm/v1/worker/gpu_worker.py determine_available_memory: a fraction of the total)
    TensorRT-LLM:  kv_capacity = free_gpu_memory_fraction x (memory - weights / (tp x pp) - reserve)
                   (KvCacheConfig: a fraction of what is free once weights and buffers are loaded)
    SGLang:        kv_capacity = mem_fraction_static x (memory - startup) - weights / (tp x pp)
                   (model_runner.py profile_max_num_token: free after weights - (1 - mfs) x free before
                   them, with free before = memory - startup; activations live in the 1 - mfs share)
    num_kv_blocks = floor(kv_capacity / (block_size x kv_bytes_per_token))

Pure functions of numbers and specs: the deployment resolver (simulator/specs/deployment.py) turns an
engine spec into the arguments, the estimate and the resolver read the resulting `MemoryPlan`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.costs import costmodel
from simulator.costs.hardware import HardwareProfile
from simulator.costs.model import ModelSpec


@dataclass(frozen=True, slots=True)
class MemoryPlan:
    """Bytes per GPU of one replica, and the KV blocks they leave (see the module docstring)."""

    memory_bytes_per_gpu: float          # the device's memory
    usable_bytes_per_gpu: float          # what the engine's rule lets weights, reserve and KV take
    budget_text: str                     # the rule in words, e.g. "0.9 x 85 GB"
    weights_bytes_per_gpu: float
    reserve_bytes_per_gpu: float         # activations, logits and runtime buffers
    kv_capacity_bytes_per_gpu: float     # negative when the weights and reserve do not fit
    kv_bytes_per_token_per_gpu: float
    block_size: int                      # tokens per KV block
    block_bytes_per_gpu: float
    num_kv_blocks: int


def memory_plan(model: ModelSpec, hardware: HardwareProfile, tp: int, weight_dtype: str, kv_dtype: str, *,
                block_size: int, reserve_bytes_per_gpu: float, gpu_memory_utilization: float | None = None,
                free_gpu_memory_fraction: float | None = None, mem_fraction_static: float | None = None,
                startup_bytes_per_gpu: float = 0.0, cp: int = 1, pp: int = 1) -> MemoryPlan:
    """Per-GPU memory of a replica of tp x cp x pp GPUs, under vLLM's rule (`gpu_memory_utilization`),
    TensorRT-LLM's (`free_gpu_memory_fraction`) or SGLang's (`mem_fraction_static`, with the memory the
    CUDA context and NCCL took before weights loaded): exactly one of the three.

    Weights split over tp x pp (context-parallel ranks hold copies); a sequence's KV splits over
    tp (heads), pp (layers per stage) and cp (its tokens are sharded over the ring)."""
    rules = (gpu_memory_utilization, free_gpu_memory_fraction, mem_fraction_static)
    if sum(rule is not None for rule in rules) != 1:
        raise ValueError("exactly one of gpu_memory_utilization, free_gpu_memory_fraction, mem_fraction_static")
    memory = hardware.memory_bytes
    weights = costmodel.weight_bytes(model, weight_dtype) / (tp * pp)
    if gpu_memory_utilization is not None:
        usable, text = gpu_memory_utilization * memory, f"{gpu_memory_utilization} x {memory / 1e9:.0f} GB"
        capacity = usable - weights - reserve_bytes_per_gpu
    elif mem_fraction_static is not None:
        usable = mem_fraction_static * (memory - startup_bytes_per_gpu)
        text = f"{mem_fraction_static} x ({memory / 1e9:.0f} GB - {startup_bytes_per_gpu / 1e9:.1f} GB at start-up)"
        capacity = usable - weights - reserve_bytes_per_gpu
    else:
        usable, text = memory, f"{memory / 1e9:.0f} GB"
        capacity = free_gpu_memory_fraction * (memory - weights - reserve_bytes_per_gpu)
    per_token = costmodel.kv_bytes_per_token(model, kv_dtype, tp) / (cp * pp)
    block_bytes = block_size * per_token
    return MemoryPlan(memory_bytes_per_gpu=memory, usable_bytes_per_gpu=usable, budget_text=text,
                      weights_bytes_per_gpu=weights,
                      reserve_bytes_per_gpu=reserve_bytes_per_gpu, kv_capacity_bytes_per_gpu=capacity,
                      kv_bytes_per_token_per_gpu=per_token, block_size=block_size, block_bytes_per_gpu=block_bytes,
                      num_kv_blocks=max(0, math.floor(capacity / block_bytes)))


def fit_check(plan: MemoryPlan, blocks_needed: int) -> str | None:
    """None when one sequence of `blocks_needed` fits; otherwise the reason."""
    usable = plan.usable_bytes_per_gpu
    if plan.weights_bytes_per_gpu + plan.reserve_bytes_per_gpu >= usable:
        return (f"weights need {plan.weights_bytes_per_gpu / 1e9:.1f} GB per GPU plus "
                f"{plan.reserve_bytes_per_gpu / 1e9:.1f} GB reserve; usable memory is {usable / 1e9:.1f} GB "
                f"({plan.budget_text})")
    if plan.num_kv_blocks < blocks_needed:
        return (f"KV cache holds {plan.num_kv_blocks} blocks of {plan.block_size} tokens per replica; "
                f"one sequence needs {blocks_needed}")
    return None


def blocks_for_tokens_fn(model: ModelSpec, kv_dtype: str, tp: int, block_size: int):
    """Blocks a sequence occupies: by token count, or by capped bytes when layers are windowed."""
    if not model.has_local_layers:
        return lambda n: -(-n // block_size)
    block_bytes = block_size * costmodel.kv_bytes_per_token(model, kv_dtype, tp)
    return lambda n: max(1, math.ceil(costmodel.kv_bytes_for_sequence(model, kv_dtype, n, tp) / block_bytes - 1e-9))


def full_blocks_for_tokens_fn(model: ModelSpec, kv_dtype: str, tp: int, block_size: int):
    """Full blocks of a sequence (None for full attention: the manager uses n // block_size)."""
    if not model.has_local_layers:
        return None
    block_bytes = block_size * costmodel.kv_bytes_per_token(model, kv_dtype, tp)
    return lambda n: math.floor(costmodel.kv_bytes_for_sequence(model, kv_dtype, n, tp) / block_bytes + 1e-9)


def version_key(version: str) -> tuple[int, int]:
    """(major, minor) of a version string such as "0.19.0", "0.2.x" or "0.17"."""
    major, minor = version.split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def vllm_reserve_bytes(model: ModelSpec, tp: int, max_num_batched_tokens: int, max_num_seqs: int, sm_count: int,
                       version: str, rules: dict, reserve: dict) -> float:
    """What vLLM's profile run keeps out of the KV cache on each GPU at `version` (engine_defaults.yaml
    `vllm_memory`): non-torch memory, the larger of the forward and sampler peaks, and CUDA graphs."""
    key = version_key(version)
    per_logit, triton = next((b, t) for first, last, b, t in rules["sampler"]
                             if version_key(first) <= key <= version_key(last))
    rows, h, vocab = min(max_num_seqs, max_num_batched_tokens), model.hidden_size, model.vocab_size
    sampler = (2 * max_num_batched_tokens * h + 4 * rows * h + per_logit * rows * vocab
               + (4 * sm_count * vocab if triton else 0) + rules["sampler_constant_bytes"])
    forward = costmodel.activation_reserve_bytes(model, tp, max_num_batched_tokens, 0, {**reserve, "fixed_bytes": 0})
    non_torch = rules["non_torch_bytes_tp1"] if tp == 1 else rules["non_torch_bytes_tp_multi"]
    graphs = rules["cudagraph_bytes"] if key >= version_key(rules["cudagraph_from_version"]) else 0
    return non_torch + max(forward, sampler) + graphs
