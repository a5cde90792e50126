"""Simulation speed: skip-ahead against step-by-step (`--exact`) on fixed workloads.

    .venv/bin/python benchmarks/sim_speed.py [--sizes 10000 100000] [--replicas 1 8] [--exact-up-to 100000]

Workloads (Llama-3.1-8B on H100 SXM, one seed):
  chat   prompts lognormal (median ~1,000 tokens), outputs lognormal (median ~250), offered at about
         80% of what the replicas sustain (9 requests/s per replica);
  long   prompts of 32K-128K tokens, outputs of 100-400 tokens, 0.1 requests/s per replica.
Each configuration runs in its own process (so peak memory is its own) and prints simulated
requests per wall-second, engine steps per second, peak resident memory, and the skip-ahead
speed-up over --exact where both ran. The raw SimPy event rate of a trivial timeout loop on this
machine is printed first as the ceiling for any SimPy-based simulator.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

WORKLOADS = {
    "chat": {"rate": 9.0, "prompt": {"dist": "lognormal", "median": 1000, "sigma": 0.7, "max": 16000},
             "output": {"dist": "lognormal", "median": 250, "sigma": 0.5, "max": 2000}},
    "long": {"rate": 0.1, "prompt": {"dist": "uniform", "low": 32000, "high": 128000},
             "output": {"dist": "uniform", "low": 100, "high": 400}},
}


def scenario_doc(workload: str, size: int, replicas: int) -> dict:
    """The scenario of one configuration, as a document (benchmarks/sim_speed_ab.py sends it to other trees)."""
    w = WORKLOADS[workload]
    return {"name": f"speed-{workload}", "seed": 1,
            "workload": {"num_requests": size, "arrival": {"process": "poisson", "rate_per_s": w["rate"] * replicas},
                         "prompt_tokens": w["prompt"], "output_tokens": w["output"]},
            "deployments": [{"name": "d", "model": "llama-3.1-8b", "hardware": "h100-sxm", "replicas": replicas,
                             "router": "least_outstanding_tokens"}]}


def one(workload: str, size: int, replicas: int, exact: bool) -> dict:
    from simulator.results.runner import run
    from simulator.specs.scenario import ScenarioSpec
    spec = ScenarioSpec.model_validate(scenario_doc(workload, size, replicas))
    start = time.perf_counter()
    summary = run(spec, exact=exact).deployments[0].summary
    wall = time.perf_counter() - start
    return {"wall_s": wall, "requests_per_s": size / wall, "steps_per_s": summary.num_engine_steps / wall,
            "iterations": summary.num_iterations, "steps": summary.num_engine_steps,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "ttft_p99_s": summary.ttft_s.p99, "e2e_mean_s": summary.e2e_s.mean}


def simpy_ceiling(n: int = 1_000_000) -> float:
    import simpy
    env = simpy.Environment()

    def loop():
        for _ in range(n):
            yield env.timeout(1)
    env.process(loop())
    start = time.perf_counter()
    env.run()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS))
    parser.add_argument("--exact-up-to", type=int, default=100_000,
                        help="largest size also run with --exact (10,000 at most for the long mix: "
                             "stepping 100,000 long-context requests takes about 20 minutes here)")
    parser.add_argument("--one", nargs=4, metavar=("WORKLOAD", "SIZE", "REPLICAS", "EXACT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        workload, size, replicas, exact = args.one
        print(json.dumps(one(workload, int(size), int(replicas), exact == "1")))
        return
    print(f"raw SimPy ceiling: {simpy_ceiling():,.0f} timeout events/s")
    print(f"{'workload':<6} {'requests':>9} {'replicas':>8} {'mode':>6} {'wall_s':>8} {'req/s':>9} {'steps/s':>9} "
          f"{'iterations':>11} {'peak_MB':>8} {'speed-up':>8}")
    for workload in args.workloads:
        for size in args.sizes:
            for replicas in args.replicas:
                results = {}
                exact_limit = args.exact_up_to if workload == "chat" else min(args.exact_up_to, 10_000)
                for exact in ([True, False] if size <= exact_limit else [False]):
                    out = subprocess.run([sys.executable, __file__, "--one", workload, str(size), str(replicas),
                                          "1" if exact else "0"], capture_output=True, text=True, check=True)
                    r = results[exact] = json.loads(out.stdout)
                    speedup = (f"{results[True]['wall_s'] / r['wall_s']:.1f}x" if not exact and True in results
                               else "")
                    print(f"{workload:<6} {size:>9} {replicas:>8} {'exact' if exact else 'skip':>6} "
                          f"{r['wall_s']:>8.2f} {r['requests_per_s']:>9,.0f} {r['steps_per_s']:>9,.0f} "
                          f"{r['iterations']:>11} {r['peak_rss_mb']:>8.0f} {speedup:>8}", flush=True)


if __name__ == "__main__":
    main()
