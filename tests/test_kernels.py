"""Calibration: measurement schema, kernel predictions, fitting, timing, and the calibrate/validate commands."""

import dataclasses
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from simulator.catalog import hardware_names, resolve_hardware, resolve_model
from simulator.errors import InputError
from simulator.kernel_model import predict_s
from simulator.measurements import MeasurementRow, load_measurements
from simulator.validation import validate_rows

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent
CTXPLAN = str(Path(sys.executable).parent / "ctxplan")


def test_measurement_files_from_other_tools_load(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("op,m,n,k,q_len,dtype,measured_s,extra_column\n"
                    "matmul,16,4096,4096,,bf16,0.0001,hello\n"
                    "softmax,,,,,fp16,0.00002,\n")
    rows = load_measurements(path)
    assert rows[0].m == 16 and rows[0].p20_s is None and rows[0].device is None
    report = validate_rows(resolve_hardware("h100-sxm"), rows)
    assert report["num_unpriced"] == 1 and report["unpriced"] == {"softmax": 1}
    assert report["overall"]["n"] == 1


@pytest.mark.parametrize("body,fragment", [
    ("op,m,n,dtype,measured_s\nmatmul,1,2,bf16,0.1\n", "needs column k"),
    ("op,m,n,k,dtype,measured_s\nmatmul,1,2,3,int3,0.1\n", "dtype"),
    ("op,m,n,k,dtype,measured_s\nmatmul,1,2,3,bf16,-1\n", "measured_s"),
    ("op,m,n,k,dtype\nmatmul,1,2,3,bf16\n", "missing column"),
])
def test_bad_measurement_files_name_line_and_field(tmp_path, body, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(InputError) as info:
        load_measurements(path)
    assert fragment in str(info.value) and "bad.csv" in str(info.value)


def shapes():
    return [
        MeasurementRow(op="matmul", m=m, n=n, k=k, dtype="bf16", measured_s=1)
        for m in (1, 64, 4096) for n, k in ((4096, 4096), (28672, 8192))
    ] + [
        MeasurementRow(op="attention_prefill", batch_size=1, num_q_heads=32, num_kv_heads=8, head_dim=128, q_len=q,
                       kv_len=q + c, causal=True, dtype="bf16", measured_s=1) for q in (128, 8192) for c in (0, 16384)
    ] + [
        MeasurementRow(op="attention_decode", batch_size=b, num_q_heads=32, num_kv_heads=8, head_dim=128, kv_len=kv,
                       dtype="bf16", measured_s=1) for b in (1, 64) for kv in (512, 32768)
    ] + [MeasurementRow(op="memcpy", bytes=b, dtype="bf16", measured_s=1) for b in (1e6, 1e9)]


def test_default_profiles_never_beat_peak_flops_or_bandwidth():
    for name in hardware_names():
        profile = resolve_hardware(name)
        for row in shapes():
            predicted = predict_s(row, profile)
            if row.op == "matmul":
                flops, moved = 2 * row.m * row.n * row.k, (row.m * row.k + row.k * row.n + row.m * row.n) * 2
            elif row.op == "memcpy":
                flops, moved = 0, 2 * row.bytes
            else:
                q = row.q_len or 1
                pairs = q * (row.kv_len - q) + q * (q + 1) / 2 if row.op == "attention_prefill" else row.kv_len
                flops = 4 * row.batch_size * row.num_q_heads * row.head_dim * pairs
                moved = 2 * row.batch_size * row.num_kv_heads * row.head_dim * row.kv_len * 2
            assert predicted >= flops / profile.bf16_flops_per_s, (name, row.op)
            assert predicted >= moved / profile.memory_bandwidth_bytes_per_s, (name, row.op)


def test_fit_recovers_known_curves_from_synthetic_measurements():
    from kernels.fit import fit_profile, split_rows
    truth = resolve_hardware("h100-sxm")
    truth = dataclasses.replace(truth, curves=dataclasses.replace(
        truth.curves, matmul_efficiency_max=0.62, matmul_half_saturation_tokens=100.0, attention_efficiency_max=0.5,
        attention_half_saturation_tokens=500.0, bandwidth_efficiency=0.86, decode_bandwidth_efficiency=0.6,
        kernel_launch_s=8e-6))
    rng = np.random.default_rng(0)
    rows = []
    extra = [MeasurementRow(op="matmul", m=m, n=8192, k=8192, dtype="bf16", measured_s=1)
             for m in (2, 8, 16, 32, 128, 256, 512, 1024, 2048)]
    extra += [MeasurementRow(op="memcpy", bytes=b, dtype="bf16", measured_s=1) for b in (3e6, 1e7, 1e8, 3e8, 4e9)]
    extra += [MeasurementRow(op="attention_decode", batch_size=b, num_q_heads=32, num_kv_heads=8, head_dim=128,
                             kv_len=kv, dtype="bf16", measured_s=1) for b in (8, 32) for kv in (2048, 8192)]
    for row in shapes() + extra:
        noisy = predict_s(row, truth) * math.exp(rng.normal(0, 0.02))
        rows.append(row.model_copy(update={"measured_s": noisy}))
    fitted = fit_profile(resolve_hardware("h100-sxm"), rows, use_measured_peaks=False).curves
    assert fitted.matmul_efficiency_max == pytest.approx(0.62, abs=0.05)
    assert fitted.bandwidth_efficiency == pytest.approx(0.86, abs=0.05)
    assert fitted.attention_efficiency_max == pytest.approx(0.5, abs=0.06)
    assert fitted.decode_bandwidth_efficiency == pytest.approx(0.6, abs=0.06)
    fit, holdout = split_rows(rows)
    assert len(holdout) > 0 and len(fit) + len(holdout) == len(rows)
    profile = fit_profile(resolve_hardware("h100-sxm"), fit, use_measured_peaks=False)
    assert validate_rows(profile, holdout)["overall"]["median_abs_pct_error"] < 10


def test_cpu_timing_reports_median_and_spread():
    from kernels.timing import bench
    timing = bench(lambda: time.sleep(0.002), "cpu", budget_s=0.05)
    assert 0.002 <= timing.median_s < 0.02
    assert timing.p20_s <= timing.median_s <= timing.p80_s
    assert timing.num_samples >= 3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_timing_and_graph_replay():
    from kernels.timing import bench, bench_cuda_graph
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    plain = bench(lambda: a @ a, "cuda")
    graph = bench_cuda_graph(lambda: a @ a, "cuda")
    assert 0 < graph.median_s < 2 * plain.median_s


def test_shapes_file_matches_the_catalog():
    data = json.loads((ROOT / "kernels" / "shapes.json").read_text())["models"]
    for name, shape in data.items():
        if name == "ctxplan-tiny":
            continue
        model = resolve_model(name)
        assert shape == {"hidden": model.hidden_size, "q_heads": model.num_attention_heads,
                         "kv_heads": model.num_kv_heads, "head_dim": model.head_dim,
                         "intermediate": model.intermediate_size}


def test_benchmark_runner_needs_only_torch_and_numpy(tmp_path):
    code = ("import sys; import kernels.microbench; "
            "bad = [m for m in ('simulator', 'pandas', 'pydantic', 'yaml') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    run = subprocess.run([sys.executable, "-m", "kernels.microbench", "--device", "cpu", "--quick", "--out",
                          str(tmp_path), "--budget-s", "0.002", "--max-seconds", "2"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    rows = load_measurements(tmp_path / "measurements.csv")
    assert {r.op for r in rows} >= {"memcpy", "matmul"}
    assert all(r.device and r.torch_version for r in rows)


@pytest.mark.slow
def test_calibrate_quick_cpu_then_validate_held_out_and_engine(tmp_path):
    profile = tmp_path / "cpu.yaml"
    out = subprocess.run([CTXPLAN, "calibrate", "--device", "cpu", "--quick", "--out", str(profile), "--format",
                          "json"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    holdout = Path(report["files"]["holdout"])
    assert holdout.exists() and profile.exists()
    checked = subprocess.run([CTXPLAN, "validate", "--hardware", str(profile), "--measurements", str(holdout),
                              "--format", "json"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    data = json.loads(checked.stdout)
    assert data["overall"]["n"] == report["holdout"]["overall"]["n"] > 0
    assert data["overall"]["median_abs_pct_error"] < 30          # target 15% on this noisy, shared machine
    errors = []
    for _ in range(2):        # a wall-clock measurement: a second try when other work shared the cores
        engine = subprocess.run([CTXPLAN, "validate", "--engine", "--hardware", str(profile), "--format", "json"],
                                capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert engine.returncode == 0, engine.stderr
        result = json.loads(engine.stdout)
        assert set(result["by_metric"]) == {"iteration", "ttft", "e2e"}
        errors.append(result["by_metric"]["e2e"]["median_abs_pct_error"])
        if errors[-1] < 40:
            break
    assert min(errors) < 40, errors                                   # target 20%
    ran = subprocess.run([CTXPLAN, "run", str(ROOT / "scenarios" / "quickstart.yaml"), "--hardware", str(profile),
                          "--format", "json"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["deployments"][0]["hardware"] == "cpu"


def test_validate_needs_exactly_one_source():
    out = subprocess.run([CTXPLAN, "validate", "--hardware", "h100-sxm"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "exactly one" in out.stderr
