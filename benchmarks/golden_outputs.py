"""Fingerprints of today's outputs, so a behaviour-preserving refactor can prove it changed no byte.

    .venv/bin/python benchmarks/golden_outputs.py --write     # record benchmarks/golden/manifest.json
    .venv/bin/python benchmarks/golden_outputs.py             # compare with it; exit 1 on any difference

For seeds 0-2: `ctxplan run --seed S --out DIR` of every serving scenario (summary.json,
records.parquet, records.csv and the JSON it prints), `compare` of every comparison scenario
(the JSON `ctxplan compare --format json` prints, capacity search included), one plan and one sweep
(their JSON). The manifest holds SHA-256 digests, not the outputs (a few KB instead of MBs). Takes
about 4 minutes on 2 cores; it is a check run by hand, not part of the test suite. Parquet bytes
depend on the pyarrow version: compare on the same environment the manifest was written in.
First recorded as the baseline of issue 15 (53 of 53 identical through its last commit, 454e5b3);
re-recorded after issue 16's first changes (device memory as reported, engine rules, all-reduce by
link), which change numbers on purpose, as the baseline for the next behaviour-preserving work; and again
after the engine policies, vLLM's versioned memory profile, time outside the GPU and provenance (session 25).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "benchmarks" / "golden" / "manifest.json"
CTXPLAN = str(Path(sys.executable).parent / "ctxplan")
SEEDS = (0, 1, 2)
RUN_FILES = ("summary.json", "records.parquet", "records.csv")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def serving_digests(scenario: Path, seed: int) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([CTXPLAN, "run", str(scenario), "--seed", str(seed), "--out", out, "--format", "json"],
                              capture_output=True, check=True, cwd=ROOT)
        found = {name: digest((Path(out) / name).read_bytes()) for name in RUN_FILES if (Path(out) / name).exists()}
        return {**found, "stdout.json": digest(done.stdout)}


def json_digest(data) -> str:
    return digest((json.dumps(data, indent=2, allow_nan=False) + "\n").encode())   # as `--format json` prints


def comparison_digest(scenario: Path, seed: int) -> str:
    from simulator.comparisons.compare import compare
    from simulator.specs.files import load_any_scenario
    spec, base_dir = load_any_scenario(scenario)
    return json_digest(compare(spec.model_copy(update={"seed": seed}), base_dir, workers=2).to_json_dict())


def plan_and_sweep_digests() -> dict[str, str]:
    import yaml

    from simulator.planning.planner import Targets, plan
    from simulator.planning.sweep import parse_param, sweep
    doc = yaml.safe_load((ROOT / "scenarios" / "quickstart.yaml").read_text())
    result = plan(doc, ROOT / "scenarios", 10.0, Targets(0.5, 0.05), ["h100-sxm", "l40s"], [1, 2], [256], [8192],
                  max_gpus=4, seeds=2, workers=2, min_arrival_s=30)
    table = sweep(doc, ROOT / "scenarios", [parse_param("workload.arrival.rate_per_s=4,8")], workers=2)
    return {"plan quickstart": json_digest(result),
            "sweep quickstart rate 4,8": digest(table.to_json(orient="records").encode())}


def collect() -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from simulator.specs.files import is_comparison
    import yaml
    out: dict[str, str] = {}
    for scenario in sorted((ROOT / "scenarios").glob("*.yaml")):
        comparison = is_comparison(yaml.safe_load(scenario.read_text()))
        for seed in SEEDS:
            if comparison:
                out[f"compare {scenario.name} seed {seed}"] = comparison_digest(scenario, seed)
            else:
                for name, value in serving_digests(scenario, seed).items():
                    out[f"run {scenario.name} seed {seed} {name}"] = value
            print(f"{scenario.name} seed {seed}", file=sys.stderr)
    out.update(plan_and_sweep_digests())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="record the manifest instead of comparing")
    args = parser.parse_args()
    now = collect()
    if args.write:
        MANIFEST.parent.mkdir(parents=True, exist_ok=True)
        MANIFEST.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(now)} digests to {MANIFEST.relative_to(ROOT)}")
        return 0
    before = json.loads(MANIFEST.read_text())
    changed = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
    for key in changed:
        print(f"differs: {key}")
    print(f"{len(before) - len(changed)} of {len(before)} outputs byte-identical")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
