"""Simulation speed of this tree against another checkout (a commit before a change), as ratios in one run.

    git worktree add /tmp/base <commit>
    .venv/bin/python benchmarks/sim_speed_ab.py --base /tmp/base [--repeats 3]

Each configuration (the workloads of `benchmarks/sim_speed.py`) runs in its own process with each
tree on the path (the driver below imports `run` from either layout), alternately, `--repeats`
times each, so that load on the machine hits both alike. The table gives the median CPU seconds
of the simulation itself (process time: less sensitive than wall time to other work on shared
cores) and base / this (above 1: this tree is faster). Simulated results are compared too: a
refactor must give the same iterations and latencies.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from sim_speed import scenario_doc

HERE = Path(__file__).resolve().parent.parent
CONFIGS = [("chat", 10_000, 1, True), ("chat", 10_000, 1, False), ("chat", 10_000, 8, True),
           ("chat", 10_000, 8, False), ("chat", 100_000, 1, False), ("chat", 100_000, 8, False),
           ("long", 1_000, 1, True), ("long", 10_000, 1, False)]


DRIVER = """
import json, sys, time
try:
    from simulator.results.runner import run
    from simulator.specs.scenario import ScenarioSpec
except ImportError:                       # the flat layout before the package split
    from simulator.runner import run
    from simulator.scenario import ScenarioSpec
spec, exact = ScenarioSpec.model_validate(json.loads(sys.argv[1])), sys.argv[2] == "1"
start = time.process_time()
records = run(spec, exact=exact).deployments[0].records
cpu = time.process_time() - start
print(json.dumps({"cpu_s": cpu, "ttft_sum_s": float(records["ttft_s"].sum()), "e2e_sum_s": float(records["e2e_s"].sum()),
                  "finished": int(records["e2e_s"].notna().sum())}))
"""


def once(tree: Path, config) -> dict:
    workload, size, replicas, exact = config
    env = dict(os.environ, PYTHONPATH=str(tree))
    doc = json.dumps(scenario_doc(workload, size, replicas))       # the same scenario for both trees
    out = subprocess.run([sys.executable, "-c", DRIVER, doc, "1" if exact else "0"], capture_output=True, text=True,
                         check=True, cwd=tree, env=env)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="the other checkout")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=["exact", "skip"], help="only the configurations of one mode")
    parser.add_argument("--min-requests", type=int, default=0, help="only configurations with at least this many")
    args = parser.parse_args()
    print(f"{'workload':<6} {'requests':>9} {'replicas':>8} {'mode':>6} {'base_cpu_s':>10} {'this_cpu_s':>10} "
          f"{'base/this':>9} {'same':>5}")
    for config in CONFIGS:
        if args.only and config[3] != (args.only == "exact") or config[1] < args.min_requests:
            continue
        walls = {"base": [], "this": []}
        results = {}
        for _ in range(args.repeats):
            for name, tree in (("base", args.base.resolve()), ("this", HERE)):
                r = results[name] = once(tree, config)
                walls[name].append(r["cpu_s"])
        base_s, this_s = statistics.median(walls["base"]), statistics.median(walls["this"])
        same = all(results["base"][k] == results["this"][k] for k in ("finished", "ttft_sum_s", "e2e_sum_s"))
        workload, size, replicas, exact = config
        print(f"{workload:<6} {size:>9} {replicas:>8} {'exact' if exact else 'skip':>6} {base_s:>10.2f} {this_s:>10.2f} "
              f"{base_s / this_s:>9.2f} {'yes' if same else 'NO':>5}", flush=True)


if __name__ == "__main__":
    main()
