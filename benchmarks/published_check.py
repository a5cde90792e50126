"""Replay a published throughput table and report ctxplan's error on it (a measurement, not a test).

    .venv/bin/python benchmarks/published_check.py [--table validation/trtllm_perf_overview_v0.17.csv]
                                                   [--workers 2] [--max-requests N] [--out FILE.json]

The table is TensorRT-LLM's "Performance Overview" for v0.17 (every row of it, transcribed with its
commit URL in each row): offline max-throughput runs of `trtllm-bench` with fixed ISL/OSL, every
request queued at once, output tokens per second summed over the GPUs. Each row is simulated as:

- the row's model, GPU, TP and dtype (FP8 rows: fp8 weights and fp8 KV, as the page states;
  FP16 rows: fp16 weights and KV) from the catalog;
- `engine.policy: trtllm` with its defaults (GUARANTEED_NO_EVICT, max_batch_size 2048), chunked
  context on with 8192 tokens per step: trtllm-bench instead sizes max_num_tokens from the dataset
  (`bench/build/tuning.py`), which this replay does not reproduce;
- the row's request count (or `--max-requests`), all arriving within a millisecond;
- predicted = sum of output tokens / simulated duration.

Rows whose model or GPU is not in the catalog are skipped and counted. Prints one line per row,
then median |error| overall and by GPU, prompt length, TP and dtype, and the worst rows.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = {"meta-llama/Llama-3.1-8B": "llama-3.1-8b", "meta-llama/Llama-3.1-70B": "llama-3.1-70b",
          "meta-llama/Llama-3.1-405B": "llama-3.1-405b", "mistralai/Mistral-7B": "mistral-7b",
          "mistralai/Mixtral-8x7B-v0.1": "mixtral-8x7b"}
GPUS = {"H200 141GB HBM3": "h200", "H100 80GB HBM3": "h100-sxm", "A100-SXM4-80GB": "a100-80gb", "L40S": "l40s"}


def catalog_names(row: dict) -> tuple[str | None, str | None]:
    model = next((name for prefix, name in MODELS.items() if row["model"].startswith(prefix)), None)
    return model, GPUS.get(row["gpu"])


def scenario(row: dict, model: str, gpu: str, max_requests: int | None) -> dict:
    dtype = "fp8" if row["weight_dtype"] == "fp8" else "fp16"
    count = int(row["num_requests"])
    return {"name": "published-row", "seed": 0,
            "workload": {"num_requests": min(count, max_requests or count),
                         "arrival": {"process": "constant", "rate_per_s": 1e6},
                         "prompt_tokens": {"dist": "constant", "value": int(row["isl"])},
                         "output_tokens": {"dist": "constant", "value": int(row["osl"])}},
            "deployments": [{"name": "d", "model": model, "hardware": gpu, "tensor_parallel": int(row["tp"]),
                             "pipeline_parallel": int(row["pp"] or 1), "weight_dtype": dtype,
                             "kv_cache_dtype": dtype,
                             "engine": {"policy": "trtllm", "enable_chunked_context": True}}]}


def predict(args: tuple[dict, str, str, int | None]) -> dict:
    from simulator.results.runner import run
    from simulator.specs.scenario import ScenarioSpec
    row, model, gpu, max_requests = args
    result = run(ScenarioSpec.model_validate(scenario(row, model, gpu, max_requests))).deployments[0]
    summary = result.summary
    predicted = float(result.records["output_tokens"].sum()) / summary.duration_s
    measured = float(row["value"])
    return {"model": model, "gpu": gpu, "tp": int(row["tp"]), "dtype": row["weight_dtype"], "isl": int(row["isl"]),
            "osl": int(row["osl"]), "measured": measured, "predicted": round(predicted, 2),
            "error": predicted / measured - 1, "preemptions": summary.num_preemptions,
            "rejected": summary.num_rejected}


def median_abs(rows: list[dict]) -> float:
    return statistics.median(abs(r["error"]) for r in rows) if rows else float("nan")


def groups(rows: list[dict]) -> dict[str, dict[str, float]]:
    keyed = {"gpu": lambda r: r["gpu"], "tp": lambda r: "tp1" if r["tp"] == 1 else "tp>1",
             "prompt": lambda r: "isl>=5000" if r["isl"] >= 5000 else "isl<5000", "dtype": lambda r: r["dtype"],
             "model": lambda r: r["model"]}
    out = {}
    for name, key in keyed.items():
        buckets = defaultdict(list)
        for r in rows:
            buckets[key(r)].append(r)
        out[name] = {k: round(median_abs(v), 4) for k, v in sorted(buckets.items())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", type=Path, default=ROOT / "validation" / "trtllm_perf_overview_v0.17.csv")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-requests", type=int, default=None)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    table = list(csv.DictReader(args.table.open()))
    tasks, skipped = [], defaultdict(int)
    for row in table:
        model, gpu = catalog_names(row)
        if model is None or gpu is None:
            skipped[f"{row['model'] if model is None else row['gpu']} not in the catalog"] += 1
            continue
        tasks.append((row, model, gpu, args.max_requests))
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(predict, tasks))
    for r in rows:
        print(f"{r['model']:14s} {r['gpu']:9s} tp{r['tp']} {r['dtype']:4s} {r['isl']:>6d}/{r['osl']:<5d} "
              f"measured {r['measured']:>10.1f} predicted {r['predicted']:>10.1f} {r['error']:+7.1%}")
    summary = {"table": args.table.resolve().name, "rows": len(table), "replayed": len(rows),
               "skipped": dict(skipped), "median_abs_error": round(median_abs(rows), 4), "by": groups(rows),
               "worst": sorted(rows, key=lambda r: -abs(r["error"]))[:10]}
    print(json.dumps(summary, indent=1))
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
