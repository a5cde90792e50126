"""Simulation speed of this tree against another checkout (a commit before a change), as ratios in one run.

    git worktree add /tmp/base <commit>
    .venv/bin/python benchmarks/sim_speed_ab.py --base /tmp/base [--repeats 3]

Each configuration of `benchmarks/sim_speed.py` (its `--one` mode, run by each tree's own copy,
in its own process) is timed alternately in the two trees, `--repeats` times each, so that load
on the machine hits both alike; the table gives the median wall seconds of each and
base / this (above 1: this tree is faster). Simulated results are compared too: a refactor must
give the same iterations and latencies.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
CONFIGS = [("chat", 10_000, 1, True), ("chat", 10_000, 1, False), ("chat", 10_000, 8, True),
           ("chat", 10_000, 8, False), ("chat", 100_000, 1, False), ("chat", 100_000, 8, False),
           ("long", 2_000, 1, True), ("long", 10_000, 1, False)]


def once(tree: Path, config) -> dict:
    workload, size, replicas, exact = config
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, str(tree / "benchmarks" / "sim_speed.py"), "--one", workload, str(size),
                          str(replicas), "1" if exact else "0"], capture_output=True, text=True, check=True,
                         cwd=tree, env=env)
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="the other checkout")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'workload':<6} {'requests':>9} {'replicas':>8} {'mode':>6} {'base_s':>8} {'this_s':>8} "
          f"{'base/this':>9} {'same':>5}")
    for config in CONFIGS:
        walls = {"base": [], "this": []}
        results = {}
        for _ in range(args.repeats):
            for name, tree in (("base", args.base.resolve()), ("this", HERE)):
                r = results[name] = once(tree, config)
                walls[name].append(r["wall_s"])
        base_s, this_s = statistics.median(walls["base"]), statistics.median(walls["this"])
        same = all(results["base"][k] == results["this"][k] for k in ("iterations", "ttft_p99_s", "e2e_mean_s"))
        workload, size, replicas, exact = config
        print(f"{workload:<6} {size:>9} {replicas:>8} {'exact' if exact else 'skip':>6} {base_s:>8.2f} {this_s:>8.2f} "
              f"{base_s / this_s:>9.2f} {'yes' if same else 'NO':>5}", flush=True)


if __name__ == "__main__":
    main()
