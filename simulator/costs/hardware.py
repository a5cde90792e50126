"""Hardware profile: datasheet peaks, achieved-rate curves and prices of one accelerator.

Peaks come from the catalog (`catalog/hardware.yaml`). What kernels really reach is lower and
depends on shape; `EfficiencyCurves` holds the fitted (or, until calibration, assumed) curves:

    achieved matmul FLOP/s    = peak * m_max * T / (T + T_half)     T = tokens in the iteration
    achieved attention FLOP/s = peak * a_max * L / (L + L_half)     L = query tokens of one sequence
                                (peak: the tensor cores' or, where slower, the softmax exponentials')
    achieved bandwidth        = peak_bw * bw_eff
    GEMMs of one full wave or more lose the empty part of their last wave (`wave_efficiency`)

plus a fixed per-iteration overhead and an all-reduce latency that grows with the ring's length. Profiles are frozen; a
calibrated profile is a new object built by `dataclasses.replace`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum


class PricingTier(str, Enum):
    ON_DEMAND = "on_demand"
    RESERVED = "reserved"
    SPOT = "spot"


@dataclass(frozen=True, slots=True)
class EfficiencyCurves:
    matmul_efficiency_max: float
    matmul_half_saturation_tokens: float
    attention_efficiency_max: float
    attention_half_saturation_tokens: float
    bandwidth_efficiency: float
    decode_bandwidth_efficiency: float      # KV reads of decode attention (paged, scattered)
    kernel_launch_s: float                  # fixed floor of one kernel (microbenchmark predictions)
    iteration_overhead_s: float
    allreduce_latency_s: float              # fixed part of one all-reduce call
    interconnect_efficiency: float
    allreduce_step_latency_s: float = 0.0   # per ring step: a ring all-reduce over n GPUs takes 2 (n - 1) steps
    matmul_tile: int = 0                    # GEMM output tile edge for wave quantisation; 0: none (CPU profiles)
    fp4_matmul_efficiency_max: float | None = None   # FP4 GEMMs' own large-shape efficiency; None: matmul's

    def __post_init__(self) -> None:
        for field in ("matmul_efficiency_max", "attention_efficiency_max", "bandwidth_efficiency",
                      "decode_bandwidth_efficiency", "interconnect_efficiency"):
            value = getattr(self, field)
            if not 0 < value <= 1:
                raise ValueError(f"{field} must be in (0, 1], got {value}")
        if self.fp4_matmul_efficiency_max is not None and not 0 < self.fp4_matmul_efficiency_max <= 1:
            raise ValueError(f"fp4_matmul_efficiency_max must be in (0, 1], got {self.fp4_matmul_efficiency_max}")
        for field in ("matmul_half_saturation_tokens", "attention_half_saturation_tokens",
                      "kernel_launch_s", "iteration_overhead_s", "allreduce_latency_s", "allreduce_step_latency_s"):
            if getattr(self, field) < 0:
                raise ValueError(f"{field} must be >= 0, got {getattr(self, field)}")

    def allreduce_call_latency_s(self, num_gpus: int) -> float:
        """Latency of one ring all-reduce over `num_gpus`, NCCL's own model (src/graph/tuning.cc): the base latency
        plus 2 (n - 1) ring steps of `allreduce_step_latency_s`; 0 for a single GPU."""
        if num_gpus <= 1:
            return 0.0
        return self.allreduce_latency_s + 2 * (num_gpus - 1) * self.allreduce_step_latency_s


def wave_efficiency(m: float, n: float, tile: int, sm_count: int) -> float:
    """Share of the multiprocessors a GEMM's output tiles keep busy over its waves (wave quantisation).

    An (m x n) output in `tile` x `tile` blocks runs ceil(m/tile) ceil(n/tile) blocks, one per multiprocessor
    per wave; the last wave runs partly empty. Below one full wave libraries split K to fill the GPU
    (cuBLAS/CUTLASS split-K heuristics), priced here as no loss. `tile` 0: no quantisation (CPU profiles)."""
    if tile <= 0 or sm_count <= 0:
        return 1.0
    tiles = math.ceil(m / tile) * math.ceil(n / tile)
    if tiles < sm_count:
        return 1.0
    return tiles / (math.ceil(tiles / sm_count) * sm_count)


@dataclass(frozen=True, slots=True)
class HardwareProfile:
    name: str
    memory_bytes: float
    memory_bandwidth_bytes_per_s: float
    bf16_flops_per_s: float
    fp8_flops_per_s: float | None
    fp32_flops_per_s: float
    sm_count: int
    l2_bytes: float
    interconnect_bytes_per_s: float
    on_demand_usd_per_gpu_hour: float
    reserved_usd_per_gpu_hour: float
    spot_usd_per_gpu_hour: float
    curves: EfficiencyCurves
    internode_bytes_per_s: float = 50e9     # scale-out link per GPU (between nodes)
    gpus_per_node: int = 8                  # GPUs sharing the `interconnect` domain
    host_link_bytes_per_s: float = 32e9     # GPU <-> host memory, per direction (KV offload, swap)
    host_memory_bytes: float = 0.0          # host memory per GPU usable as a KV tier
    display_name: str = ""
    vendor: str = ""
    source: str = ""
    verified: bool = False
    device_kind: str = "gpu"                # "cpu" for a profile calibrated on a CPU: a test device, not a target
    provenance: str = "datasheet default"   # where its numbers come from, shown in every result
    fp4_flops_per_s: float | None = None    # dense FP4 (NVFP4) tensor rate where the GPU has one
    exp_per_s: float | None = None          # exponentials per second of the special function units (softmax)

    def __post_init__(self) -> None:
        for field in ("memory_bytes", "memory_bandwidth_bytes_per_s", "bf16_flops_per_s",
                      "interconnect_bytes_per_s"):
            if getattr(self, field) <= 0:
                raise ValueError(f"hardware {self.name}: {field} must be > 0, got {getattr(self, field)}")

    def link_bytes_per_s(self, num_gpus: int) -> float:
        """Per-GPU bandwidth of a group of `num_gpus`: the node interconnect if it fits one node."""
        return self.interconnect_bytes_per_s if num_gpus <= self.gpus_per_node else self.internode_bytes_per_s

    def price_usd_per_gpu_hour(self, tier: PricingTier) -> float:
        return {PricingTier.ON_DEMAND: self.on_demand_usd_per_gpu_hour,
                PricingTier.RESERVED: self.reserved_usd_per_gpu_hour,
                PricingTier.SPOT: self.spot_usd_per_gpu_hour}[PricingTier(tier)]

    def matmul_efficiency_max(self, compute_dtype: str) -> float:
        """Large-shape GEMM efficiency for a compute dtype: FP4 tensor cores have their own where measured."""
        if compute_dtype == "fp4" and self.fp4_flops_per_s and self.curves.fp4_matmul_efficiency_max:
            return self.curves.fp4_matmul_efficiency_max
        return self.curves.matmul_efficiency_max

    def matmul_peak_flops_per_s(self, compute_dtype: str) -> float:
        """Dense rate for a compute dtype: fp4 falls back to bf16 where the GPU has no FP4 tensor cores (weight-only
        W4A16, as vLLM's FP4 Marlin kernels and TensorRT-LLM's Hopper W4A16 path run NVFP4 checkpoints there), fp8
        to bf16 where the GPU has no fp8; fp16 = bf16."""
        if compute_dtype == "fp4" and self.fp4_flops_per_s:
            return self.fp4_flops_per_s
        if compute_dtype == "fp8" and self.fp8_flops_per_s:
            return self.fp8_flops_per_s
        if compute_dtype == "fp32":
            return self.fp32_flops_per_s
        return self.bf16_flops_per_s

    def attention_peak_flops_per_s(self, compute_dtype: str, flops_per_exp: float) -> float:
        """Attention's rate: the tensor cores' for its dtype, or the softmax's where the special function units
        are slower. Each (query, key) pair of a head costs one exponential beside `flops_per_exp` tensor FLOPs
        (4 x head_dim), and FlashAttention's pipeline overlaps the two, so the slower one sets the pace
        ("attn fwd is bottlenecked by exponential" on B200, FlashAttention-4; Blackwell Ultra doubles MUFU.EX2
        for it, NVIDIA's "Making Softmax More Efficient with NVIDIA Blackwell Ultra"). No rate known: no bound."""
        peak = self.matmul_peak_flops_per_s(compute_dtype)
        if self.exp_per_s is None:
            return peak
        return min(peak, self.exp_per_s * flops_per_exp)
