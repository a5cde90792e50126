"""Wall-clock figures the test suite used to assert, now measured and printed here instead.

    .venv/bin/python benchmarks/suite_timings.py [--only compare|plan] [--workers 2]

- compare: `simulator.comparisons.compare.compare` (capacity search included) on every file in scenarios/, with
  its wall time against the goal of under a minute each (was tests/test_scenarios.py);
- plan: the capacity planner's search against the exhaustive reference on the grid of
  tests/test_planning.py: wall time and simulations of each, and the speed-up (was printed there).

Tests keep the properties that do not depend on the machine (same best configuration, fewer
simulations, qualitative scenario results); these numbers depend on the cores and what else runs
on them, so they are reported, never asserted. Prints one line per measurement and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

COMPARE_GOAL_S = 60.0


def time_compare() -> list[dict]:
    from simulator.comparisons.compare import compare
    from simulator.specs.files import load_any_scenario
    rows = []
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        spec, base_dir = load_any_scenario(path)
        start = time.perf_counter()
        compare(spec, base_dir)
        wall_s = time.perf_counter() - start
        rows.append({"scenario": path.name, "wall_s": round(wall_s, 2), "goal_s": COMPARE_GOAL_S,
                     "within_goal": wall_s < COMPARE_GOAL_S})
        print(f"compare {path.name:32s} {wall_s:6.1f} s  ({'within' if wall_s < COMPARE_GOAL_S else 'OVER'} "
              f"the {COMPARE_GOAL_S:.0f} s goal)", flush=True)
    return rows


def time_plan(workers: int) -> dict:
    from simulator.planning.planner import Targets, plan
    from test_planning import SCENARIO
    grid = dict(target_qps=30.0, targets=Targets(0.5, 0.03), hardware=["h100-sxm", "a100-80gb", "l40s"],
                tensor_parallel=[1, 2, 4, 8], max_num_seqs=[256], chunk_tokens=[8192], max_gpus=8, seeds=1,
                capacity=False, workers=workers)
    figures = {}
    for label, exhaustive in (("searched", False), ("exhaustive", True)):
        start = time.perf_counter()
        result = plan(SCENARIO, None, exhaustive=exhaustive, **grid)
        figures[label] = {"wall_s": round(time.perf_counter() - start, 2), "simulations": result["num_simulations"]}
    figures["speedup"] = round(figures["exhaustive"]["wall_s"] / max(figures["searched"]["wall_s"], 1e-9), 2)
    figures["simulations_ratio"] = round(figures["exhaustive"]["simulations"] / figures["searched"]["simulations"], 2)
    print(f"plan searched {figures['searched']['wall_s']:.1f} s ({figures['searched']['simulations']} runs), "
          f"exhaustive {figures['exhaustive']['wall_s']:.1f} s ({figures['exhaustive']['simulations']} runs): "
          f"{figures['speedup']:.2f}x faster, {figures['simulations_ratio']:.2f}x fewer simulations", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["compare", "plan"], default=None)
    parser.add_argument("--workers", type=int, default=2, help="worker processes for the planner")
    args = parser.parse_args()
    summary = {"cpus": os.cpu_count(), "load_average": os.getloadavg()}
    if args.only in (None, "plan"):
        summary["plan"] = time_plan(args.workers)
    if args.only in (None, "compare"):
        summary["compare"] = time_compare()
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
