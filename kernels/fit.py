"""Fit a hardware profile's achieved-rate curves to kernel measurements.

Each op family fits the parameters of its own term of the roofline in `simulator/kernel_model.py`,
by grid search minimising the mean absolute log error |log(predicted / measured)|:

    all families      kernel_launch_s (shared floor, fitted after the others; two rounds)
    memcpy            bandwidth_efficiency
    matmul            matmul_efficiency_max, matmul_half_saturation_tokens   (launch, bandwidth fixed)
    attention_prefill attention_efficiency_max, attention_half_saturation_tokens
    attention_decode  decode_bandwidth_efficiency                            (attention_efficiency_max fixed)

Peaks: with a base profile (a datasheet entry) its peaks stay and efficiencies are capped at 1.
Without one (a CPU), the peaks are the best rates measured (matmul FLOP/s, copy bandwidth), so
efficiencies are relative to what this machine showed it can do. Grid search keeps the fit
simple to explain and free of local-minimum surprises; a family with no rows keeps its prior.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from simulator.hardware import HardwareProfile
from simulator.kernel_model import predict_s
from simulator.measurements import MeasurementRow

EFFICIENCIES = np.round(np.linspace(0.02, 1.0, 50), 4)
HALF_SATURATION = np.concatenate([[0.0], np.round(np.logspace(0, 4.5, 37), 2)])
LAUNCH_S = np.concatenate([[0.0], np.logspace(-7, -2.5, 28)])
FIT_ROUNDS = 2


def _loss(profile: HardwareProfile, rows: list[MeasurementRow]) -> float:
    return float(np.mean([abs(math.log(predict_s(r, profile) / r.measured_s)) for r in rows]))


def _with(profile: HardwareProfile, **curves) -> HardwareProfile:
    return dataclasses.replace(profile, curves=dataclasses.replace(profile.curves, **curves))


def _search(profile: HardwareProfile, rows: list[MeasurementRow], grid: dict[str, np.ndarray]) -> HardwareProfile:
    names = list(grid)
    best, best_loss = profile, math.inf
    for values in np.array(np.meshgrid(*grid.values(), indexing="ij")).reshape(len(names), -1).T:
        candidate = _with(profile, **{n: float(v) for n, v in zip(names, values)})
        loss = _loss(candidate, rows)
        if loss < best_loss:
            best, best_loss = candidate, loss
    return best


def measured_peaks(rows: list[MeasurementRow]) -> tuple[float | None, float | None]:
    """Best matmul FLOP/s and copy bandwidth seen in the rows."""
    flops = [2.0 * r.m * r.n * r.k / r.measured_s for r in rows if r.op == "matmul"]
    bandwidth = [2.0 * r.bytes / r.measured_s for r in rows if r.op == "memcpy"]
    return (max(flops) if flops else None), (max(bandwidth) if bandwidth else None)


def fit_profile(base: HardwareProfile, rows: list[MeasurementRow], use_measured_peaks: bool) -> HardwareProfile:
    """`base` with curves (and, for a machine without a datasheet, peaks) fitted to `rows`."""
    profile = base
    if use_measured_peaks:
        flops, bandwidth = measured_peaks(rows)
        changes = {}
        if flops:
            changes.update(bf16_flops_per_s=flops, fp32_flops_per_s=flops)
        if bandwidth:
            changes.update(memory_bandwidth_bytes_per_s=bandwidth)
        profile = dataclasses.replace(profile, **changes)
    families = {op: [r for r in rows if r.op == op] for op in
                ("memcpy", "matmul", "attention_prefill", "attention_decode")}
    steps = [("memcpy", {"bandwidth_efficiency": EFFICIENCIES}),
             ("matmul", {"matmul_efficiency_max": EFFICIENCIES, "matmul_half_saturation_tokens": HALF_SATURATION}),
             ("attention_prefill", {"attention_efficiency_max": EFFICIENCIES,
                                    "attention_half_saturation_tokens": HALF_SATURATION}),
             ("attention_decode", {"decode_bandwidth_efficiency": EFFICIENCIES})]
    priced = [r for family in families.values() for r in family]
    for _ in range(FIT_ROUNDS):          # coordinate descent: the launch floor is shared by every family
        for op, grid in steps:
            if families[op]:
                profile = _search(profile, families[op], grid)
        if priced:
            profile = _search(profile, priced, {"kernel_launch_s": LAUNCH_S})
    return profile


def split_rows(rows: list[MeasurementRow], holdout_every: int = 4) -> tuple[list[MeasurementRow], list[MeasurementRow]]:
    """Deterministic split: within each op family, every `holdout_every`-th row (offset 1) is held out."""
    fit, holdout = [], []
    seen: dict[str, int] = {}
    for row in rows:
        index = seen.get(row.op, 0)
        seen[row.op] = index + 1
        (holdout if index % holdout_every == 1 else fit).append(row)
    return fit, holdout
