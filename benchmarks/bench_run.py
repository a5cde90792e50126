"""Time `ctxplan run` end to end on 10,000 and 100,000 requests; print simulated requests per wall second.

Usage: .venv/bin/python benchmarks/bench_run.py [--sizes 10000 100000]

The workload is the chat mix (Llama-3.1-8B on one H100 SXM, lognormal prompts with median ~1,000
tokens and outputs with median ~250) offered at ~80% of what one replica sustains, written as a
scenario file and run through the real CLI in a subprocess (so start-up is included).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CTXPLAN = Path(sys.executable).parent / "ctxplan"


def scenario(num_requests: int) -> dict:
    return {
        "name": f"bench-chat-{num_requests}",
        "seed": 1,
        "workload": {
            "num_requests": num_requests,
            "arrival": {"process": "poisson", "rate_per_s": 9.0},
            "prompt_tokens": {"dist": "lognormal", "median": 1000, "sigma": 0.7, "max": 16000},
            "output_tokens": {"dist": "lognormal", "median": 250, "sigma": 0.5, "max": 2000},
        },
        "deployments": [{"name": "h100", "model": "llama-3.1-8b", "hardware": "h100-sxm"}],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    print(f"{'requests':>10} {'wall_s':>8} {'sim_req_per_wall_s':>20} {'iterations':>11} {'stable':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path = Path(tmp) / f"bench-{size}.yaml"
            path.write_text(yaml.safe_dump(scenario(size)))
            start = time.perf_counter()
            out = subprocess.run([str(CTXPLAN), "run", str(path), "--format", "json"], check=True,
                                 capture_output=True, text=True, cwd=ROOT)
            wall = time.perf_counter() - start
            metrics = json.loads(out.stdout)["deployments"][0]["metrics"]
            print(f"{size:>10} {wall:>8.2f} {size / wall:>20,.0f} {metrics['num_iterations']:>11} "
                  f"{str(metrics['stable']):>7}")


if __name__ == "__main__":
    main()
