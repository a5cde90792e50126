"""Calibration warnings: the held-out error of each op family against its limit, on synthetic measurements.

A good synthetic set (a known profile's predictions with 3% noise, tests/test_fit_synthetic.py) passes
without a warning; one whose attention_decode rows carry large noise warns about that family alone, and
`ctxplan calibrate --strict` exits 1 on it after writing the profile. No wall clock is involved: the
timing is replaced by the synthetic rows.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
import pytest
from test_fit_synthetic import truth, write_synthetic

from kernels.fit import FAMILIES, LIMITS_FILE, check_fit, fit_profile, load_error_limits, split_rows
from simulator.catalog import resolve_hardware
from simulator.specs.measurements import MeasurementRow, load_measurements

NOISY_FAMILY = "attention_decode"


def good_rows(tmp_path: Path) -> list[MeasurementRow]:
    return load_measurements(write_synthetic(tmp_path / "good.csv", truth(), noise_sigma=0.03, seed=0))


def with_noisy_family(rows: list[MeasurementRow], family: str = NOISY_FAMILY, sigma: float = 1.0,
                      seed: int = 7) -> list[MeasurementRow]:
    """`rows` with one family's times scaled by exp(N(0, sigma)): that family's timings describe no curve."""
    rng = np.random.default_rng(seed)
    return [r.model_copy(update={"measured_s": r.measured_s * math.exp(rng.normal(0.0, sigma))}) if r.op == family
            else r for r in rows]


def fitted_check(rows: list[MeasurementRow], limits: dict[str, float] | None = None):
    fit, holdout = split_rows(rows)
    profile = fit_profile(resolve_hardware("h100-sxm"), fit, use_measured_peaks=False)
    return check_fit(profile, fit, holdout, limits)


def test_the_limits_file_names_every_fitted_family():
    limits = load_error_limits()
    assert set(limits) == {"default", *FAMILIES}
    assert all(0 < v < 100 for v in limits.values())
    assert "assumption" in LIMITS_FILE.read_text()          # the file says where its numbers come from


def test_a_good_synthetic_calibration_passes_without_warning(tmp_path):
    check = fitted_check(good_rows(tmp_path))
    assert check.warnings == ()
    assert [f.family for f in check.families] == list(FAMILIES)
    for family in check.families:
        assert family.num_fit > 0 and family.num_holdout > 0
        assert family.median_abs_pct_error < family.limit_pct and family.warning is None


def test_a_noisy_family_warns_alone_with_its_error_and_limit(tmp_path):
    check = fitted_check(with_noisy_family(good_rows(tmp_path)))
    noisy = next(f for f in check.families if f.family == NOISY_FAMILY)
    assert noisy.median_abs_pct_error > noisy.limit_pct
    assert check.warnings == (noisy.warning,)
    assert noisy.warning.startswith(f"{NOISY_FAMILY}: held-out median |error| {noisy.median_abs_pct_error:.0f}%")
    assert f"exceeds the {noisy.limit_pct:.0f}% limit" in noisy.warning and "\n" not in noisy.warning


def test_the_limit_comes_from_the_limits_given(tmp_path):
    rows = good_rows(tmp_path)
    strict = {"default": 25.0, "matmul": 1e-6}
    assert [w.split(":")[0] for w in fitted_check(rows, strict).warnings] == ["matmul"]
    lenient = {"default": 1000.0}
    assert fitted_check(with_noisy_family(rows), lenient).warnings == ()


def test_a_family_without_rows_is_named(tmp_path):
    rows = [r for r in good_rows(tmp_path) if r.op != "memcpy"]
    check = fitted_check(rows)
    assert check.warnings == ("memcpy: not measured, so the profile keeps the base profile's assumed curve",)


def test_a_launch_floor_beyond_its_search_range_is_reported_as_pinned(tmp_path):
    """Timings whose floor no curve in range explains (the 3.16 ms 'launch' of a CPU on a busy machine)."""
    rows = load_measurements(write_synthetic(tmp_path / "slow.csv", truth(kernel_launch_s=0.02), 0.0, seed=0))
    check = fitted_check(rows, {"default": 1000.0})
    assert check.pinned[0].startswith("kernel_launch_s = 3.16 ms is at the top of its search range")
    assert all("at the top" in line for line in check.pinned) and check.warnings == check.pinned


@pytest.mark.parametrize("body,fragment", [
    ("held_out_median_abs_pct_error: {matmul: 10}\n", "default"),
    ("held_out_median_abs_pct_error: {default: 10, softmax: 5}\n", "unknown op family 'softmax'"),
    ("held_out_median_abs_pct_error: {default: -1}\n", "positive number"),
    ("held_out_median_abs_pct_error: {default: .inf}\n", "positive number"),
    ("[1, 2]\n", "default"),
])
def test_a_bad_limits_file_is_refused_with_its_name(tmp_path, body, fragment):
    path = tmp_path / "limits.yaml"
    path.write_text(body)
    with pytest.raises(ValueError) as info:
        load_error_limits(path)
    assert fragment in str(info.value) and "limits.yaml" in str(info.value)


# --- `ctxplan calibrate` with the timing replaced by synthetic rows ---------------------------------------

def fake_timing(monkeypatch, tmp_path: Path, rows: list[MeasurementRow]) -> None:
    pytest.importorskip("torch")
    from kernels import calibrate, microbench
    path = tmp_path / "raw.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=microbench.FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row.model_dump(exclude_none=True), "measured_s": f"{row.measured_s:.9g}"})
    with path.open() as handle:
        raw = [{k: v for k, v in row.items() if v != ""} for row in csv.DictReader(handle)]
    monkeypatch.setattr(microbench, "run_grid", lambda *args, **kwargs: raw)
    monkeypatch.setattr(microbench, "device_name", lambda device: "NVIDIA H100 80GB HBM3 (synthetic)")
    monkeypatch.setattr(calibrate, "measure_iteration_overhead_s", lambda profile, device: 1e-3)


def run_calibrate(tmp_path: Path, *extra: str):
    from typer.testing import CliRunner

    from api.cli import app
    out = tmp_path / "synthetic.yaml"
    result = CliRunner().invoke(app, ["calibrate", "--device", "cpu", "--base-profile", "h100-sxm", "--out", str(out),
                                      *extra])
    return result, out


def test_calibrate_prints_every_familys_held_out_error_and_no_warning_on_a_good_set(tmp_path, monkeypatch):
    fake_timing(monkeypatch, tmp_path, good_rows(tmp_path))
    result, out = run_calibrate(tmp_path, "--strict")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if re.match(r"  \w+ +n=", line)]
    assert [line.split()[0] for line in lines] == list(FAMILIES)
    assert all(line.endswith("limit 25%: ok") for line in lines)
    assert "warning" not in result.stderr and out.exists()
    assert "load average (1 min)" in result.stdout


def test_calibrate_warns_once_per_bad_family_and_strict_exits_1_after_writing(tmp_path, monkeypatch):
    import yaml
    fake_timing(monkeypatch, tmp_path, with_noisy_family(good_rows(tmp_path)))
    lenient, out = run_calibrate(tmp_path)
    assert lenient.exit_code == 0, lenient.output
    warnings = [line for line in lenient.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and warnings[0].startswith(f"warning: {NOISY_FAMILY}: held-out median |error|")
    assert re.search(rf"^  {NOISY_FAMILY} +n=.*: WARNING$", lenient.stdout, re.MULTILINE)

    out.unlink()
    strict, out = run_calibrate(tmp_path, "--strict")
    assert strict.exit_code == 1
    assert [line for line in strict.stderr.splitlines() if line.startswith("warning: ")] == warnings
    assert strict.stderr.splitlines()[-1].startswith("error: --strict: 1 calibration warning(s)")
    document = yaml.safe_load(out.read_text())          # written for inspection, the warning inside it
    assert document["calibration"]["warnings"] == [warnings[0].removeprefix("warning: ")]
    assert resolve_hardware(str(out)).name == "synthetic"


# --- a CPU profile is a test device: results priced on it say so ------------------------------------------

CPU_PROFILE = """name: cpu
memory_gb: 64
memory_bandwidth_tb_s: 0.02
bf16_dense_tflops: 0.05
fp32_tflops: 0.05
sm_count: 2
l2_mb: 0
interconnect_gb_s: 1
on_demand_usd_per_gpu_hour: 0
source: test
"""


def deployment_notes(hardware: str) -> tuple[str, ...]:
    from simulator.specs.deployment import resolve_deployment
    from simulator.specs.scenario import DeploymentSpec
    spec = DeploymentSpec(name="d", model="llama-3.1-8b", hardware=hardware)
    return resolve_deployment(spec, "deployments[0]").notes


@pytest.mark.parametrize("marker", ["device_kind: cpu\n", "calibration: {device: 'cpu: AMD EPYC x1 threads'}\n"])
def test_a_cpu_profile_carries_a_test_device_note(tmp_path, marker):
    """Written by `ctxplan calibrate --device cpu` (device_kind), or by an older calibrate (its calibration block)."""
    path = tmp_path / "cpu.yaml"
    path.write_text(CPU_PROFILE + marker)
    assert resolve_hardware(str(path)).device_kind == "cpu"
    notes = deployment_notes(str(path))
    assert notes[0].startswith("hardware cpu is a CPU") and "not a serving target" in notes[0] and "$0/h" in notes[0]


def test_accelerator_profiles_carry_no_test_device_note(tmp_path):
    path = tmp_path / "gpu.yaml"
    path.write_text(CPU_PROFILE)
    for hardware in (str(path), "h100-sxm"):
        assert resolve_hardware(hardware).device_kind == "gpu"
        assert not any("is a CPU" in note for note in deployment_notes(hardware))


def test_an_estimate_on_a_cpu_profile_carries_the_note(tmp_path):
    from simulator.catalog import resolve_model
    from simulator.results.estimate import estimate
    path = tmp_path / "cpu.yaml"
    path.write_text(CPU_PROFILE + "device_kind: cpu\n")
    cpu = estimate(resolve_model("llama-3.1-8b"), resolve_hardware(str(path)), 1000, 100)
    assert len(cpu.hardware_notes) == 1 and "not a serving target" in cpu.hardware_notes[0]
    assert estimate(resolve_model("llama-3.1-8b"), resolve_hardware("h100-sxm"), 1000, 100).hardware_notes == []
