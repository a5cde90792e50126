"""Fit a hardware profile's achieved-rate curves to kernel measurements.

Each op family fits the parameters of its own term of the roofline in `simulator/costs/kernel_model.py`,
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

`check_fit` judges the result on the held-out rows: a family whose median |error| exceeds its
limit in `fit_limits.yaml` (an assumption, reasoned there), a family without held-out rows, or a
parameter pinned at the edge of its search grid (the curve could not explain the timings: a
3 ms "launch floor" on a CPU) each give one warning line.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import yaml

from simulator.costs.hardware import HardwareProfile
from simulator.costs.kernel_model import predict_s
from simulator.specs.measurements import MeasurementRow
from simulator.results.kernel_validation import validate_rows

EFFICIENCIES = np.round(np.linspace(0.02, 1.0, 50), 4)
HALF_SATURATION = np.concatenate([[0.0], np.round(np.logspace(0, 4.5, 37), 2)])
LAUNCH_S = np.concatenate([[0.0], np.logspace(-7, -2.5, 28)])
FIT_ROUNDS = 2
FAMILIES = ("memcpy", "matmul", "attention_prefill", "attention_decode")    # the op families fitted here
LIMITS_FILE = Path(__file__).with_name("fit_limits.yaml")


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
    families = {op: [r for r in rows if r.op == op] for op in FAMILIES}
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


# curve parameter -> (family whose rows fit it, search grid, the edge that means "pinned": -1 top, 0 bottom)
_PINNED_EDGES = {
    "kernel_launch_s": (None, LAUNCH_S, -1),
    "matmul_half_saturation_tokens": ("matmul", HALF_SATURATION, -1),
    "attention_half_saturation_tokens": ("attention_prefill", HALF_SATURATION, -1),
    "matmul_efficiency_max": ("matmul", EFFICIENCIES, 0),
    "attention_efficiency_max": ("attention_prefill", EFFICIENCIES, 0),
    "bandwidth_efficiency": ("memcpy", EFFICIENCIES, 0),
    "decode_bandwidth_efficiency": ("attention_decode", EFFICIENCIES, 0),
}


@dataclasses.dataclass(frozen=True, slots=True)
class FamilyCheck:
    """One op family's held-out error against its limit; `warning` is None when it passes."""
    family: str
    num_fit: int
    num_holdout: int
    median_abs_pct_error: float | None
    p90_abs_pct_error: float | None
    limit_pct: float
    warning: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class FitCheck:
    families: tuple[FamilyCheck, ...]
    pinned: tuple[str, ...]           # one warning per curve parameter at the edge of its search grid

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(f.warning for f in self.families if f.warning) + self.pinned

    def to_dict(self) -> dict:
        return {"families": [dataclasses.asdict(f) for f in self.families], "pinned": list(self.pinned),
                "warnings": list(self.warnings)}


def load_error_limits(path: Path = LIMITS_FILE) -> dict[str, float]:
    """family -> held-out median |error| limit in percent (`default` for families not named)."""
    data = yaml.safe_load(path.read_text())
    limits = data.get("held_out_median_abs_pct_error") if isinstance(data, dict) else None
    if not isinstance(limits, dict) or "default" not in limits:
        raise ValueError(f"{path}: needs a held_out_median_abs_pct_error mapping with a default")
    for family, value in limits.items():
        if family != "default" and family not in FAMILIES:
            raise ValueError(f"{path}: unknown op family {family!r}; allowed: default, {', '.join(FAMILIES)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise ValueError(f"{path}: limit of {family} must be a positive number of percent, got {value!r}")
    return {family: float(value) for family, value in limits.items()}


def _family_check(family: str, fit_rows: list[MeasurementRow], stats: dict | None, limit: float) -> FamilyCheck:
    num_fit = sum(r.op == family for r in fit_rows)
    median = stats["median_abs_pct_error"] if stats else None
    p90 = stats["p90_abs_pct_error"] if stats else None
    num_holdout = stats["n"] if stats else 0
    warning = None
    if median is None and num_fit == 0:
        warning = f"{family}: not measured, so the profile keeps the base profile's assumed curve"
    elif median is None:
        warning = f"{family}: no held-out rows, so its error is unknown (time more shapes)"
    elif median > limit:
        warning = (f"{family}: held-out median |error| {median:.0f}% (p90 {p90:.0f}%, {num_holdout} rows) exceeds "
                   f"the {limit:.0f}% limit: the fitted curve does not describe these timings (a busy machine?); "
                   f"do not plan with this profile's {family} times")
    return FamilyCheck(family, num_fit, num_holdout, median, p90, limit, warning)


def _shown(name: str, value: float) -> str:
    return f"{value * 1e3:.3g} ms" if name.endswith("_s") else f"{value:.4g}"


def _pinned(profile: HardwareProfile, fit_rows: list[MeasurementRow]) -> tuple[str, ...]:
    """One warning per fitted parameter at the pinned edge of its grid (the best fit lies outside the grid)."""
    fitted_ops = {r.op for r in fit_rows}
    warnings = []
    for name, (family, grid, edge) in _PINNED_EDGES.items():
        if not fitted_ops or (family is not None and family not in fitted_ops):
            continue
        value = getattr(profile.curves, name)
        if (value >= grid[-1]) if edge == -1 else (value <= grid[0]):
            warnings.append(f"{name} = {_shown(name, value)} is at the {'top' if edge == -1 else 'bottom'} of its "
                            f"search range ({_shown(name, grid[0])}..{_shown(name, grid[-1])}): the curves could "
                            "not explain the timings")
    return tuple(warnings)


def check_fit(profile: HardwareProfile, fit_rows: list[MeasurementRow], holdout_rows: list[MeasurementRow],
              limits: dict[str, float] | None = None) -> FitCheck:
    """Held-out error of every fitted family against its limit, and parameters pinned at a grid edge."""
    limits = load_error_limits() if limits is None else limits
    by_op = validate_rows(profile, holdout_rows)["by_op"]
    families = tuple(_family_check(family, fit_rows, by_op.get(family), limits.get(family, limits["default"]))
                     for family in FAMILIES)
    return FitCheck(families, _pinned(profile, fit_rows))
