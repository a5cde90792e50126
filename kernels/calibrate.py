"""`ctxplan calibrate`: time kernels here, fit a hardware profile, write it with its measurements.

    profile.yaml                  the profile (`hardware: ./profile.yaml` in a scenario, or --hardware)
    profile.measurements.csv      every timed kernel
    profile.fit.csv               the rows the curves were fitted on
    profile.holdout.csv           held-out shapes, never fitted: `ctxplan validate` on them shows the error

With `--base-profile NAME` the datasheet peaks of that catalog entry stay and only the curves are
fitted; without one on a GPU the entry is guessed from the device name; on a CPU the peaks are the
best rates measured. The per-iteration overhead is measured as a 1-token step of the reference
engine (kernels/engine_check.py) minus its predicted kernel time; for engines with CUDA graphs
this is an upper bound.

After the fit every op family is predicted on its held-out rows and judged against the limits in
kernels/fit_limits.yaml (`kernels.fit.check_fit`); the warnings go into the report and into the
profile's `calibration` block, and the profile is written either way (`ctxplan calibrate --strict`
then exits 1). A CPU profile says `device_kind: cpu`: results priced on it carry a note that a CPU
is a test device, not a serving target. The load average before and after the timings is
recorded beside the errors: on a shared machine it explains them.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import platform
from pathlib import Path

import torch
import yaml

from kernels import microbench
from kernels.engine_check import measure_iteration_overhead_s
from kernels.fit import check_fit, fit_profile, load_error_limits, split_rows
from kernels.timing import cpu_threads
from simulator.catalog import hardware_names, resolve_hardware
from simulator.costs.hardware import HardwareProfile
from simulator.specs.measurements import load_measurements
from simulator.results.kernel_validation import validate_rows

DEVICE_HINTS = (("h200", "h200"), ("h100 pcie", "h100-pcie"), ("h100", "h100-sxm"), ("b200", "b200"),
                ("gb200", "gb200"), ("a100-sxm4-40gb", "a100-40gb"), ("a100", "a100-80gb"), ("l40s", "l40s"),
                ("l4", "l4"), ("a10g", "a10g"), ("4090", "rtx-4090"), ("5090", "rtx-5090"),
                ("rtx pro 6000", "rtx-pro-6000"), ("mi300x", "mi300x"), ("mi325x", "mi325x"))


def guess_base(device_name: str) -> str | None:
    lowered = device_name.lower()
    for hint, name in DEVICE_HINTS:
        if hint in lowered:
            return name
    return None


def _cpu_memory_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    except (ValueError, OSError):
        return 16.0


def _profile_fields(profile: HardwareProfile) -> dict:
    c = profile.curves
    return {
        "memory_gb": round(profile.memory_bytes / 1e9, 3),
        "memory_bandwidth_tb_s": round(profile.memory_bandwidth_bytes_per_s / 1e12, 6),
        "bf16_dense_tflops": round(profile.bf16_flops_per_s / 1e12, 6),
        "fp8_dense_tflops": round(profile.fp8_flops_per_s / 1e12, 6) if profile.fp8_flops_per_s else None,
        "fp4_dense_tflops": round(profile.fp4_flops_per_s / 1e12, 6) if profile.fp4_flops_per_s else None,
        "fp32_tflops": round(profile.fp32_flops_per_s / 1e12, 6),
        "exp_tera_per_s": round(profile.exp_per_s / 1e12, 6) if profile.exp_per_s else None,
        "sm_count": profile.sm_count,
        "l2_mb": round(profile.l2_bytes / 1e6, 3),
        "interconnect_gb_s": round(profile.interconnect_bytes_per_s / 1e9, 3),
        "on_demand_usd_per_gpu_hour": profile.on_demand_usd_per_gpu_hour,
        "efficiency": {f.name: float(f"{getattr(c, f.name):.6g}") for f in dataclasses.fields(c)
                       if getattr(c, f.name) is not None},
    }


def calibrate(device_name: str, quick: bool, out: Path, base_profile: str | None = None,
              max_seconds: float = 280.0) -> dict:
    device = microbench.resolve_device(device_name)
    with cpu_threads(device):     # one thread on a CPU, the same for the grid, the overhead and device_name
        return _calibrate(device, quick, out, base_profile, max_seconds)


def _calibrate(device: torch.device, quick: bool, out: Path, base_profile: str | None, max_seconds: float) -> dict:
    limits = load_error_limits()          # a broken limits file fails before minutes of timing
    load_before = os.getloadavg()[0]
    stem = out.with_suffix("")
    files = {kind: stem.with_name(f"{stem.name}.{kind}.csv") for kind in ("measurements", "fit", "holdout")}
    budget = 0.05 if device.type == "cpu" else 0.03
    rows_raw = microbench.run_grid(device, quick, budget, max_seconds)
    machine = {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
               "load_average_1m_before": load_before, "load_average_1m_after": os.getloadavg()[0]}
    microbench.write_rows(rows_raw, files["measurements"])
    rows = load_measurements(files["measurements"])
    fit_rows, holdout_rows = split_rows(rows)
    by_row = {id(r): raw for r, raw in zip(rows, rows_raw)}
    microbench.write_rows([by_row[id(r)] for r in fit_rows], files["fit"])
    microbench.write_rows([by_row[id(r)] for r in holdout_rows], files["holdout"])

    name_of_device = microbench.device_name(device)
    base_name = base_profile or (guess_base(name_of_device) if device.type == "cuda" else None)
    if base_name is not None and base_name not in hardware_names():
        base_name = None
    base = resolve_hardware(base_name or "h100-sxm")
    if base_name is None:   # no datasheet: describe this machine, peaks come from the measurements
        base = dataclasses.replace(base, name="measured", memory_bytes=_cpu_memory_gb() * 1e9,
                                   sm_count=torch.get_num_threads(), l2_bytes=0.0, interconnect_bytes_per_s=1e9,
                                   on_demand_usd_per_gpu_hour=0.0, fp8_flops_per_s=None, fp4_flops_per_s=None,
                                   exp_per_s=None,
                                   curves=dataclasses.replace(base.curves, matmul_tile=0))   # no GPU waves
    profile = fit_profile(base, fit_rows, use_measured_peaks=base_name is None)
    overhead = measure_iteration_overhead_s(profile, device)
    profile = dataclasses.replace(profile, curves=dataclasses.replace(profile.curves, iteration_overhead_s=overhead))
    report = {"fit": validate_rows(profile, fit_rows), "holdout": validate_rows(profile, holdout_rows)}
    checks = check_fit(profile, fit_rows, holdout_rows, limits)

    calibration = {
        "device": name_of_device, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
        "torch_version": str(torch.__version__), "host": platform.node(),
        "dtype": rows[0].dtype, "quick": quick, "num_measurements": len(rows),
        "measurements": files["measurements"].name, "fit_measurements": files["fit"].name,
        "holdout_measurements": files["holdout"].name,
        "iteration_overhead_method": "1-token step of kernels/engine_check.py minus predicted kernels",
        "error_pct": {split: {"overall": r["overall"], "by_op": r["by_op"]} for split, r in report.items()},
        "held_out_limits_pct": {c.family: c.limit_pct for c in checks.families},
        "warnings": list(checks.warnings), "machine": machine}
    _write_profile(out, _document(stem.name, profile, base_name, device, name_of_device, calibration))
    return {"profile": str(out), "files": {k: str(v) for k, v in files.items()}, "device": name_of_device,
            "base_profile": base_name, "num_measurements": len(rows), **report, "checks": checks.to_dict(),
            "warnings": list(checks.warnings), "machine": machine}


def _document(name: str, profile: HardwareProfile, base_name: str | None, device: torch.device,
              name_of_device: str, calibration: dict) -> dict:
    return {"name": name, **({"base": base_name} if base_name else {}), **_profile_fields(profile),
            **({"device_kind": "cpu"} if device.type == "cpu" else {}),
            "verified": False,
            "source": (f"ctxplan calibrate on {name_of_device} (torch {str(torch.__version__)}); "
                       + (f"peaks from catalog entry {base_name}" if base_name else
                          "peaks are the best rates measured here; price 0 (set your own)")),
            "calibration": calibration}


def _write_profile(out: Path, document: dict) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text("# Hardware profile written by `ctxplan calibrate`; fitted curves under `efficiency`.\n"
                   + yaml.safe_dump(document, sort_keys=False))
    os.replace(tmp, out)
