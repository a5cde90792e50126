"""Calibration: measurement schema, kernel predictions, timing, and the calibrate/validate commands.

Nothing here asserts a wall-clock quantity: timing is checked on a fake clock, the real CPU
calibration is a smoke test, and fitting is tested on synthetic data in tests/test_fit_synthetic.py.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simulator.catalog import hardware_names, resolve_hardware, resolve_model
from simulator.errors import InputError
from simulator.costs.kernel_model import predict_s
from simulator.specs.measurements import MeasurementRow, load_measurements
from simulator.results.kernel_validation import validate_rows

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


def test_cpu_timing_reports_median_and_spread_of_each_call(monkeypatch):
    """bench() on a fake clock: calls take known times, so the statistic is checked exactly."""
    import types

    import kernels.timing as timing_module
    clock = [0.0]
    probe_s = 1 / 512                 # exact in binary: 0.02 s warmup / probe_s = 10.24, 0.05 s budget / probe_s = 25.6
    durations = iter([probe_s] * 14 + [i / 1000 for i in range(1, 26)])   # 1 + 3 probes + 10 warmup, then 25 reps

    def call():
        clock[0] += next(durations)
    monkeypatch.setattr(timing_module, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    timing = timing_module.bench(call, "cpu", budget_s=0.05, warmup_s=0.02)
    assert timing.num_samples == 25 and timing.statistic == "min wall time"
    assert timing.median_s == pytest.approx(0.013)
    assert (timing.p20_s, timing.p80_s) == pytest.approx((0.0058, 0.0202))
    assert timing.measured_s == timing.min_s == pytest.approx(0.001)   # on a CPU the least disturbed call
    assert next(durations, None) is None                            # no call left untimed


def test_cpu_thread_clock_ignores_time_a_neighbour_took(monkeypatch):
    """On fake clocks: every timed call does 2 ms of work, and some are preempted for 5 ms of wall time."""
    import types

    import kernels.timing as timing_module
    wall, cpu, calls = [0.0], [0.0], [0]

    def call():
        calls[0] += 1
        cpu[0] += 0.002
        wall[0] += 0.002 + (0.005 if calls[0] % 3 else 0.0)     # two calls in three lose the core for 5 ms
    monkeypatch.setattr(timing_module, "time", types.SimpleNamespace(perf_counter=lambda: wall[0],
                                                                     thread_time=lambda: cpu[0]))
    with timing_module.cpu_threads("cpu"):
        timing = timing_module.bench(call, "cpu", budget_s=0.05, warmup_s=0.0, cpu_clock="thread")
    assert timing.statistic == "min thread CPU time"
    assert timing.num_samples >= 3                               # preempted calls among them
    assert (timing.measured_s, timing.median_s, timing.p80_s) == pytest.approx((0.002, 0.002, 0.002))


def test_thread_clock_needs_one_torch_thread_and_cpu_threads_restores_the_count():
    from kernels.timing import CPU_NUM_THREADS, bench, cpu_threads
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(RuntimeError, match="cpu_threads"):
            bench(lambda: None, "cpu", cpu_clock="thread")
        with cpu_threads("cpu"):
            assert torch.get_num_threads() == CPU_NUM_THREADS == 1
            assert bench(lambda: None, "cpu", budget_s=0.001, cpu_clock="thread").num_samples >= 3
        assert torch.get_num_threads() == 2
        with pytest.raises(ValueError, match="cpu_clock"):
            bench(lambda: None, "cpu", cpu_clock="process")
    finally:
        torch.set_num_threads(before)


def test_engine_steps_keep_the_fastest_run_by_thread_cpu_time(monkeypatch):
    """StepTimer on fake clocks: the kept run is the one with least CPU time; the sums give the load figure."""
    import types

    from kernels import engine_check
    from kernels.timing import cpu_threads
    runs = iter([(0.010, 0.030), (0.008, 0.020), (0.009, 0.009)])      # (cpu, wall) of each run
    wall, cpu = [0.0], [0.0]

    def step():
        c, w = next(runs)
        cpu[0] += c
        wall[0] += w
    monkeypatch.setattr(engine_check, "time", types.SimpleNamespace(perf_counter=lambda: wall[0],
                                                                    thread_time=lambda: cpu[0]))
    timer = engine_check.StepTimer("cpu", repeats=3)
    with cpu_threads("cpu"):
        assert timer.fastest_s(step) == pytest.approx(0.008)
    assert (timer.cpu_s, timer.wall_s) == pytest.approx((0.027, 0.059))
    assert (timer.kept_cpu_s, timer.kept_wall_s) == pytest.approx((0.008, 0.020))
    assert "fastest of 3" in timer.statistic and "thread CPU time" in timer.statistic


def test_cpu_timing_of_a_real_sleep_is_never_below_the_sleep():
    from kernels.timing import bench
    timing = bench(lambda: time.sleep(0.002), "cpu", budget_s=0.02)
    assert 0.002 <= timing.min_s <= timing.p20_s <= timing.median_s <= timing.p80_s   # a busy machine only adds time
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


@pytest.mark.slow
def test_benchmark_runner_needs_only_torch_and_numpy(tmp_path):
    code = ("import sys; import kernels.microbench; "
            "bad = [m for m in ('simulator', 'pandas', 'pydantic', 'yaml') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    run = subprocess.run([sys.executable, "-m", "kernels.microbench", "--device", "cpu", "--quick", "--out",
                          str(tmp_path), "--budget-s", "0.002", "--max-seconds", "0"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert run.returncode == 0, run.stderr
    rows = load_measurements(tmp_path / "measurements.csv")
    # a spent budget trims every family to its smallest shapes and drops none (kernels.microbench.MIN_ROWS_PER_FAMILY)
    counts = {op: sum(r.op == op for r in rows) for op in {r.op for r in rows}}
    assert counts == {"memcpy": 2, "matmul": 2, "attention_prefill": 2, "attention_decode": 2}
    # on a CPU: one thread, the least CPU time of the repetitions (kernels/timing.py)
    assert all(r.device.endswith("x1 threads") and r.torch_version and r.measured_s <= r.p20_s <= r.p80_s
               for r in rows)
    import csv
    with (tmp_path / "measurements.csv").open() as handle:
        assert {row["statistic"] for row in csv.DictReader(handle)} == {"min thread CPU time"}


@pytest.mark.slow
def test_calibrate_on_this_cpu_writes_a_profile_that_validates_and_runs(tmp_path):
    """A smoke test of the real thing: timings on a shared CPU say little, so their errors are printed, not
    asserted (accuracy on real timings: benchmarks/calibration_accuracy.py; the fit itself:
    tests/test_fit_synthetic.py)."""
    profile = tmp_path / "cpu.yaml"
    out = subprocess.run([CTXPLAN, "calibrate", "--device", "cpu", "--quick", "--max-seconds", "0", "--out",
                          str(profile), "--format", "json"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    holdout = Path(report["files"]["holdout"])
    assert profile.exists() and holdout.exists() and resolve_hardware(str(profile)).name == "cpu"
    assert resolve_hardware(str(profile)).device_kind == "cpu"
    assert {c["family"] for c in report["checks"]["families"]} == {"matmul", "attention_prefill",
                                                                    "attention_decode", "memcpy"}
    checked = subprocess.run([CTXPLAN, "validate", "--hardware", str(profile), "--measurements", str(holdout),
                              "--format", "json"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert checked.returncode == 0, checked.stderr
    data = json.loads(checked.stdout)
    assert data["overall"]["n"] == report["holdout"]["overall"]["n"] == 4     # one held-out row per family
    # the same rows under the written profile (its curves rounded to 6 digits): the report calibrate printed
    assert data["overall"] == pytest.approx(report["holdout"]["overall"], rel=1e-2)
    engine = subprocess.run([CTXPLAN, "validate", "--engine", "--hardware", str(profile), "--format", "json"],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert engine.returncode == 0, engine.stderr
    result = json.loads(engine.stdout)
    assert set(result["by_metric"]) == {"iteration", "ttft", "e2e"}
    assert result["machine"]["torch_threads"] == 1 and result["machine"]["step_repeats"] >= 2
    print(f"held-out median |error| {data['overall']['median_abs_pct_error']:.0f}%, engine e2e "
          f"{result['by_metric']['e2e']['median_abs_pct_error']:.0f}% (reported, not asserted)")
    ran = subprocess.run([CTXPLAN, "run", str(ROOT / "scenarios" / "quickstart.yaml"), "--hardware", str(profile),
                          "--format", "json"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert ran.returncode == 0, ran.stderr
    deployment = json.loads(ran.stdout)["deployments"][0]
    assert deployment["hardware"] == "cpu" and any("not a serving target" in n for n in deployment["notes"])


def test_validate_needs_exactly_one_source():
    out = subprocess.run([CTXPLAN, "validate", "--hardware", "h100-sxm"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 2 and "exactly one" in out.stderr
