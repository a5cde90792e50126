"""Predicted time of a single kernel under a hardware profile, with the cost model's roofline.

The same achieved-rate curves that price engine iterations price each microbenchmark row, so a
measurement file checks the curves directly (`ctxplan validate`) and calibration can fit them:

    matmul             launch + max(2mnk / (peak * m_max * m/(m + m_half) * wave(m, n)), bytes / (bw * bw_eff))
    attention_prefill  launch + max(4 * B * Hq * d * pairs / (peak * a_max * T/(T + a_half)),
                                    bytes / (bw * bw_eff))          T = B * q_len query tokens
    attention_decode   launch + max(4 * Hq * d * sum(kv) / (peak * a_max), KV bytes / (bw * decode_bw_eff))
    memcpy             launch + 2 * bytes / (bw * bw_eff)           (read and write)
    allreduce          latency + 2 (g - 1) step + 2 (g - 1) / g * bytes / (link_bw * link_eff)   (NCCL's ring model)

Causal prefill pairs: a chunk of q new tokens after kv - q cached ones attends to
q * (kv - q) + q (q + 1) / 2 keys; non-causal attends to q * kv.
"""

from __future__ import annotations

from typing import Protocol

from simulator.costs.costmodel import BYTES_PER_ELEMENT as DTYPE_BYTES   # the one dtype byte table
from simulator.costs.hardware import HardwareProfile, wave_efficiency


def matmul_s(profile: HardwareProfile, m: int, n: int, k: int, dtype: str) -> float:
    c = profile.curves
    size = DTYPE_BYTES[dtype]
    efficiency = (profile.matmul_efficiency_max(dtype) * m / (m + c.matmul_half_saturation_tokens)
                  * wave_efficiency(m, n, c.matmul_tile, profile.sm_count))
    compute = 2.0 * m * n * k / (profile.matmul_peak_flops_per_s(dtype) * efficiency)
    memory = (m * k + k * n + m * n) * size / (profile.memory_bandwidth_bytes_per_s * c.bandwidth_efficiency)
    return c.kernel_launch_s + max(compute, memory)


def causal_pairs(q_len: int, kv_len: int, causal: bool) -> float:
    if not causal:
        return float(q_len) * kv_len
    return float(q_len) * (kv_len - q_len) + q_len * (q_len + 1) / 2.0


def attention_prefill_s(profile: HardwareProfile, batch: int, q_heads: int, kv_heads: int, head_dim: int,
                        q_len: int, kv_len: int, causal: bool, dtype: str) -> float:
    c = profile.curves
    tokens = batch * q_len
    efficiency = c.attention_efficiency_max * tokens / (tokens + c.attention_half_saturation_tokens)
    flops = 4.0 * batch * q_heads * head_dim * causal_pairs(q_len, kv_len, causal)
    moved = batch * head_dim * (2 * q_len * q_heads + 2 * kv_len * kv_heads) * DTYPE_BYTES[dtype]
    return c.kernel_launch_s + max(flops / (profile.attention_peak_flops_per_s(dtype, 4.0 * head_dim) * efficiency),
                                   moved / (profile.memory_bandwidth_bytes_per_s * c.bandwidth_efficiency))


def attention_decode_s(profile: HardwareProfile, kv_lens: list[int], q_heads: int, kv_heads: int,
                       head_dim: int, dtype: str) -> float:
    c = profile.curves
    total_kv = float(sum(kv_lens))
    flops = 4.0 * q_heads * head_dim * total_kv
    moved = 2.0 * kv_heads * head_dim * total_kv * DTYPE_BYTES[dtype]
    return c.kernel_launch_s + max(flops / (profile.attention_peak_flops_per_s(dtype, 4.0 * head_dim) * c.attention_efficiency_max),
                                   moved / (profile.memory_bandwidth_bytes_per_s * c.decode_bandwidth_efficiency))


def memcpy_s(profile: HardwareProfile, num_bytes: float) -> float:
    c = profile.curves
    return c.kernel_launch_s + 2.0 * num_bytes / (profile.memory_bandwidth_bytes_per_s * c.bandwidth_efficiency)


def allreduce_s(profile: HardwareProfile, num_bytes: float, num_gpus: int) -> float:
    c = profile.curves
    if num_gpus <= 1:
        return c.kernel_launch_s
    ring = 2.0 * (num_gpus - 1) / num_gpus * num_bytes
    return c.allreduce_call_latency_s(num_gpus) + ring / (profile.interconnect_bytes_per_s * c.interconnect_efficiency)


class KernelRow(Protocol):
    """The shape of one timed kernel (`simulator.specs.measurements.MeasurementRow` is one)."""
    op: str
    m: int | None
    n: int | None
    k: int | None
    batch_size: int | None
    num_q_heads: int | None
    num_kv_heads: int | None
    head_dim: int | None
    q_len: int | None
    kv_len: int | None
    causal: bool | None
    bytes: float | None
    num_gpus: int | None
    dtype: str

    def decode_lengths(self) -> list[int]: ...


def predict_s(row: KernelRow, profile: HardwareProfile) -> float | None:
    """Predicted seconds for a measurement row, or None for an op the model does not price."""
    if row.op == "matmul":
        return matmul_s(profile, row.m, row.n, row.k, row.dtype)
    if row.op == "attention_prefill":
        return attention_prefill_s(profile, row.batch_size, row.num_q_heads, row.num_kv_heads, row.head_dim,
                                   row.q_len, row.kv_len, bool(row.causal), row.dtype)
    if row.op == "attention_decode":
        return attention_decode_s(profile, row.decode_lengths(), row.num_q_heads, row.num_kv_heads,
                                  row.head_dim, row.dtype)
    if row.op == "memcpy":
        return memcpy_s(profile, row.bytes)
    if row.op == "allreduce":
        return allreduce_s(profile, row.bytes, row.num_gpus)
    return None
