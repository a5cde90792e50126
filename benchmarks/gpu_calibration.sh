#!/usr/bin/env bash
# One prepared GPU run: full kernel grid, then (where ctxplan's dependencies are installed) fit,
# validation on held-out shapes and the engine check. Writes everything under ${OUT:-out/gpu}.
#
#   bash benchmarks/gpu_calibration.sh            # on a machine with a CUDA GPU
#
# The first step needs only torch and numpy; it stops adding kernels after 280 s.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-out/gpu}"
mkdir -p "$out"
python -m kernels.microbench --device cuda --out "$out" --max-seconds 280 2>&1 | tee "$out/microbench.log"
if python -c "import simulator, pydantic, pandas, yaml, typer" 2>/dev/null; then
  python -m api.cli calibrate --device cuda --out "$out/profile.yaml" --format json > "$out/calibrate.json"
  python -m api.cli validate --hardware "$out/profile.yaml" --measurements "$out/profile.holdout.csv" --format json \
    > "$out/validate-holdout.json"
  python -m api.cli validate --engine --device cuda --hardware "$out/profile.yaml" --format json > "$out/engine.json"
  base=$(python -c "import json; print(json.load(open('$out/calibrate.json'))['base_profile'] or 'h100-sxm')")
  python -m api.cli validate --hardware "$base" --measurements "$out/measurements.csv" --format json \
    > "$out/validate-datasheet-defaults.json"
fi
ls -l "$out"
