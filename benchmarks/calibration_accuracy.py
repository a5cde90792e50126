"""Calibration accuracy on real timings of this machine: held-out kernel error and the engine check.

    .venv/bin/python benchmarks/calibration_accuracy.py [--device cpu|cuda|auto] [--full] [--out DIR]

Runs `ctxplan calibrate` (the quick grid unless --full, the default time budget), then
`ctxplan validate` on the held-out rows (shapes never fitted) and `ctxplan validate --engine` (the
tiny real engine against the simulator), and prints the median and p90 |error| of each against
the targets: held-out kernels 15%, engine end-to-end latency 20%, the engine's overall median 40%
(its goal is 15%), with the calibration's warnings, how long each command took and how busy the
machine was (load average; for the engine, the share of the timed steps' wall time the thread
was on a core). CPU timings count the thread's CPU time on one thread (kernels/timing.py), so
they move little with the neighbours' load, but they still share caches and memory bandwidth;
this is why the test suite only smoke-tests calibration (tests/test_kernels.py) and checks the
fit and its warnings on synthetic data (tests/test_fit_synthetic.py,
tests/test_calibration_warnings.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CTXPLAN = str(Path(sys.executable).parent / "ctxplan")
TARGETS_PCT = {"held-out kernels": 15.0, "engine e2e": 20.0, "engine overall": 40.0}
SECONDS: dict[str, float] = {}     # command -> wall seconds it took


def ctxplan_json(name: str, *args: str) -> dict:
    start = time.perf_counter()
    out = subprocess.run([CTXPLAN, *args, "--format", "json"], capture_output=True, text=True, cwd=ROOT)
    SECONDS[name] = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"ctxplan {' '.join(args)} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", choices=["auto", "cuda", "cpu"])
    parser.add_argument("--full", action="store_true", help="the full grid instead of --quick")
    parser.add_argument("--out", type=Path, default=None, help="folder for the profile (default: a temp folder)")
    args = parser.parse_args()
    folder = args.out or Path(tempfile.mkdtemp(prefix="ctxplan-calibration-"))
    profile = folder / f"{args.device}.yaml"
    report = ctxplan_json("calibrate", "calibrate", "--device", args.device, *([] if args.full else ["--quick"]),
                          "--out", str(profile))
    holdout = ctxplan_json("validate", "validate", "--hardware", str(profile), "--measurements",
                           report["files"]["holdout"])
    engine = ctxplan_json("validate --engine", "validate", "--engine", "--device", args.device, "--hardware",
                          str(profile))
    figures = {"held-out kernels": holdout["overall"], "engine e2e": engine["by_metric"]["e2e"],
               "engine ttft": engine["by_metric"]["ttft"], "engine iteration": engine["by_metric"]["iteration"],
               "engine overall": engine["overall"]}
    print(f"{report['device']}: {report['num_measurements']} kernels timed, profile {profile}")
    for family in report["checks"]["families"]:
        print(f"  held-out {family['family']:18s} n={family['num_holdout']:4d}  median |error| "
              f"{family['median_abs_pct_error'] or 0:6.1f}%  (limit {family['limit_pct']:.0f}%)")
    for warning in report["warnings"]:
        print(f"  warning: {warning}")
    for name, stats in figures.items():
        target = TARGETS_PCT.get(name)
        verdict = "" if target is None else (" within" if stats["median_abs_pct_error"] <= target else " OVER") + \
            f" the {target:.0f}% target"
        print(f"  {name:18s} n={stats['n']:4d}  median |error| {stats['median_abs_pct_error']:6.1f}%  "
              f"p90 {stats['p90_abs_pct_error']:6.1f}%{verdict}")
    machine = engine["machine"]
    print(f"  took {', '.join(f'{name} {s:.0f} s' for name, s in SECONDS.items())}; load average (1 min): "
          f"calibrate {report['machine']['load_average_1m_before']:.2f} -> {report['machine']['load_average_1m_after']:.2f}, "
          f"engine {machine['load_average_1m_before']:.2f} -> {machine['load_average_1m_after']:.2f} on "
          f"{machine['cpu_count']} cores; engine steps on a core {machine['cpu_per_wall_all_runs']:.0%} of their wall "
          f"time (kept runs {machine['cpu_per_wall_kept_runs']:.0%})")
    print(json.dumps({"device": report["device"], "load_average": os.getloadavg(), "seconds": SECONDS,
                      "calibration_machine": report["machine"], "engine_machine": machine,
                      "warnings": report["warnings"], "figures": figures, "targets_pct": TARGETS_PCT}, indent=2))


if __name__ == "__main__":
    main()
