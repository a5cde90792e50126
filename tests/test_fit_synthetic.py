"""Calibration fitting on synthetic measurements: a known profile's predictions plus seeded noise.

Real kernel timings on a shared CPU say as much about the neighbours as about the fit, so the fit is
tested here against a truth it must recover: measurement files written from `predict_s` under a
profile with chosen curves, multiplied by log-normal noise from a fixed seed, read back through
`load_measurements` like any calibration file. (Real timings: benchmarks/calibration_accuracy.py.)
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from kernels.fit import HALF_SATURATION, LAUNCH_S, fit_profile, split_rows
from simulator.catalog import resolve_hardware
from simulator.costs.kernel_model import predict_s
from simulator.specs.measurements import MeasurementRow, load_measurements
from simulator.results.kernel_validation import validate_rows

# values on the fit's search grids (half saturations 100 and 562 tokens, launch 1e-5 s), so that without noise
# the fit can land on them exactly
TRUE_CURVES = dict(matmul_efficiency_max=0.62, matmul_half_saturation_tokens=float(HALF_SATURATION[17]),  # 100
                   attention_efficiency_max=0.5, attention_half_saturation_tokens=float(HALF_SATURATION[23]),  # 562
                   bandwidth_efficiency=0.86, decode_bandwidth_efficiency=0.6, kernel_launch_s=float(LAUNCH_S[13]))
COLUMNS = ("op", "m", "n", "k", "batch_size", "num_q_heads", "num_kv_heads", "head_dim", "q_len", "kv_len",
           "causal", "bytes", "dtype", "measured_s")


def truth(base: str = "h100-sxm", **curves):
    profile = resolve_hardware(base)
    return dataclasses.replace(profile, curves=dataclasses.replace(profile.curves, **{**TRUE_CURVES, **curves}))


def grid() -> list[MeasurementRow]:
    """The shapes a GPU calibration times: each family over sizes on both sides of its knee."""
    rows = [MeasurementRow(op="matmul", m=m, n=n, k=k, dtype="bf16", measured_s=1)
            for m in (1, 2, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096) for n, k in ((4096, 4096), (8192, 8192))]
    rows += [MeasurementRow(op="attention_prefill", batch_size=1, num_q_heads=32, num_kv_heads=8, head_dim=128,
                            q_len=q, kv_len=q + c, causal=True, dtype="bf16", measured_s=1)
             for q in (128, 512, 2048, 8192) for c in (0, 4096, 16384)]
    rows += [MeasurementRow(op="attention_decode", batch_size=b, num_q_heads=32, num_kv_heads=8, head_dim=128,
                            kv_len=kv, dtype="bf16", measured_s=1) for b in (1, 8, 32, 64) for kv in (512, 2048, 32768)]
    rows += [MeasurementRow(op="memcpy", bytes=b, dtype="bf16", measured_s=1)
             for b in (1e6, 3e6, 1e7, 1e8, 3e8, 1e9, 4e9)]
    return rows


def write_synthetic(path: Path, profile, noise_sigma: float, seed: int) -> Path:
    """A measurement CSV of `grid()` timed 'by' `profile`, each time scaled by exp(N(0, noise_sigma))."""
    rng = np.random.default_rng(seed)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in grid():
            measured = predict_s(row, profile) * math.exp(rng.normal(0.0, noise_sigma))
            values = row.model_dump(include=set(COLUMNS), exclude_none=True)
            writer.writerow({**values, "measured_s": f"{measured:.9g}"})
    return path


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_recovers_the_true_curves_from_noisy_measurements(tmp_path, seed):
    rows = load_measurements(write_synthetic(tmp_path / "m.csv", truth(), noise_sigma=0.03, seed=seed))
    fitted = fit_profile(resolve_hardware("h100-sxm"), rows, use_measured_peaks=False).curves
    assert fitted.matmul_efficiency_max == pytest.approx(0.62, abs=0.04)
    assert fitted.matmul_half_saturation_tokens == pytest.approx(TRUE_CURVES["matmul_half_saturation_tokens"],
                                                                 rel=0.35)
    assert fitted.attention_efficiency_max == pytest.approx(0.5, abs=0.05)
    assert fitted.attention_half_saturation_tokens == pytest.approx(TRUE_CURVES["attention_half_saturation_tokens"],
                                                                    rel=0.5)
    assert fitted.bandwidth_efficiency == pytest.approx(0.86, abs=0.04)
    assert fitted.decode_bandwidth_efficiency == pytest.approx(0.6, abs=0.05)
    assert fitted.kernel_launch_s == pytest.approx(TRUE_CURVES["kernel_launch_s"], rel=0.6)


def test_without_noise_the_fit_lands_on_the_truth(tmp_path):
    rows = load_measurements(write_synthetic(tmp_path / "m.csv", truth(), noise_sigma=0.0, seed=0))
    profile = fit_profile(resolve_hardware("h100-sxm"), rows, use_measured_peaks=False)
    fitted = {name: getattr(profile.curves, name) for name in TRUE_CURVES}
    assert fitted == pytest.approx(TRUE_CURVES, rel=1e-6)
    report = validate_rows(profile, rows)
    assert report["overall"]["n"] == len(rows) and report["overall"]["p90_abs_pct_error"] < 1e-3


def test_held_out_rows_are_predicted_within_the_noise(tmp_path):
    rows = load_measurements(write_synthetic(tmp_path / "m.csv", truth(), noise_sigma=0.05, seed=3))
    fit, holdout = split_rows(rows)
    assert {r.op for r in holdout} == {r.op for r in rows}    # every family is checked on shapes it never saw
    profile = fit_profile(resolve_hardware("h100-sxm"), fit, use_measured_peaks=False)
    report = validate_rows(profile, holdout)
    assert report["overall"]["n"] == len(holdout)
    assert report["overall"]["median_abs_pct_error"] < 10      # noise is 5% (one sigma)


def test_a_machine_without_datasheet_gets_its_peaks_from_the_measurements(tmp_path):
    """A CPU: peaks are the best rates measured, so efficiencies come out relative to those peaks."""
    base = resolve_hardware("h100-sxm")
    true_peak = dataclasses.replace(truth(), bf16_flops_per_s=2e12, fp32_flops_per_s=2e12,
                                    memory_bandwidth_bytes_per_s=5e10)
    rows = load_measurements(write_synthetic(tmp_path / "m.csv", true_peak, noise_sigma=0.0, seed=0))
    profile = fit_profile(base, rows, use_measured_peaks=True)
    best_flops = max(2.0 * r.m * r.n * r.k / r.measured_s for r in rows if r.op == "matmul")
    best_copy = max(2.0 * r.bytes / r.measured_s for r in rows if r.op == "memcpy")
    assert profile.bf16_flops_per_s == pytest.approx(best_flops)
    assert profile.memory_bandwidth_bytes_per_s == pytest.approx(best_copy)
    assert validate_rows(profile, rows)["overall"]["median_abs_pct_error"] < 5


def test_a_family_without_rows_keeps_its_prior(tmp_path):
    rows = [r for r in load_measurements(write_synthetic(tmp_path / "m.csv", truth(), 0.0, seed=0))
            if r.op != "attention_decode"]
    base = resolve_hardware("h100-sxm")
    fitted = fit_profile(base, rows, use_measured_peaks=False).curves
    assert fitted.decode_bandwidth_efficiency == base.curves.decode_bandwidth_efficiency
    assert fitted.matmul_efficiency_max == pytest.approx(0.62, abs=0.03)


def test_calibrate_writes_a_profile_that_recovers_the_synthetic_truth(tmp_path, monkeypatch):
    """`ctxplan calibrate` end to end with the timing replaced by synthetic rows (no wall clock involved)."""
    pytest.importorskip("torch")
    from kernels import calibrate, microbench
    from simulator.catalog import resolve_hardware as resolve

    measured = write_synthetic(tmp_path / "synthetic.csv", truth(), noise_sigma=0.02, seed=4)
    with measured.open() as handle:
        raw = [{k: v for k, v in row.items() if v != ""} for row in csv.DictReader(handle)]
    monkeypatch.setattr(microbench, "run_grid", lambda *args, **kwargs: raw)
    monkeypatch.setattr(microbench, "device_name", lambda device: "NVIDIA H100 80GB HBM3 (synthetic)")
    monkeypatch.setattr(calibrate, "measure_iteration_overhead_s", lambda profile, device: 1e-3)
    report = calibrate.calibrate("cpu", True, tmp_path / "synthetic-h100.yaml", base_profile="h100-sxm")
    assert report["base_profile"] == "h100-sxm" and report["num_measurements"] == len(raw)
    assert report["holdout"]["overall"]["median_abs_pct_error"] < 10
    profile = resolve(report["profile"])
    assert profile.curves.matmul_efficiency_max == pytest.approx(0.62, abs=0.04)
    assert profile.curves.bandwidth_efficiency == pytest.approx(0.86, abs=0.04)
    assert profile.curves.iteration_overhead_s == pytest.approx(1e-3)
    assert len(load_measurements(report["files"]["holdout"])) == report["holdout"]["overall"]["n"]
