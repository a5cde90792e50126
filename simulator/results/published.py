"""Replay published serving measurements and score ctxplan on them: `ctxplan validate --published`.

The bundled set is `validation/published_*.csv` (one row per published cell: model, GPU, TP, dtypes,
engine and version, ISL/OSL, mode, metric, value, source URL; see validation/README.md). Every row of
every table is read; a row is skipped, with its reason counted, only when ctxplan cannot express it
(a model, GPU or dtype it does not have, attention data parallelism, expert parallelism other than 1 or TP,
pipeline parallelism, no published request count). Rows that describe one run (the online table prints five
metrics per run) share one simulation.

How a row becomes a scenario (the same for every row, no per-row setting):
- model, GPU, TP, PP and weight dtype from the row; the KV cache in fp8 when the weights are fp8 (the
  TensorRT-LLM pages: "If you specify FP8 quantization, the KV cache will automatically be set to FP8") or
  NVFP4 (whose checkpoints quantize the KV cache to FP8: trtllm-bench's tuning.py sizes it at 1 byte), else
  16-bit;
- the row's engine as `engine.policy` with that engine's defaults (TensorRT-LLM's runtime: a built engine for
  the tables before v0.19, `TENSORRT_ENGINE_TABLES`, else PyTorch); offline runs with chunked context
  on and the max_batch_size and max_num_tokens that trtllm-bench builds the engine with for the row's
  ISL/OSL, GPUs and dtypes (`trtllm_bench_build`), and the KV cache fraction the pages state
  (`TRTLLM_BENCH_KV_FRACTION`);
- offline max-throughput rows: `all_at_once` arrivals of the row's request count; online rows: the requests
  their client sent (`BENCHMARK_SERVING_TABLES`: vLLM's benchmark_serving.py send times at its seed, all at
  once for INF; the per-request lengths of the dataset where `DATASETS` knows it, else constant at the printed
  ISL/OSL), Poisson arrivals at the row's rate for other online tables, and the engine's defaults (the page
  does not give the server's build settings);
- predicted values with the benchmark tools' definitions: output tokens per second over the run (per
  GPU where the table is), requests per second, mean TTFT, and mean ITL over all inter-token gaps.
"""

from __future__ import annotations

import csv
import functools
import math
import re
import statistics
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from simulator.errors import InputError

VALIDATION_DIR = Path(__file__).resolve().parents[2] / "validation"
TABLE_GLOB = "published_*.csv"

# Published names -> catalog names (prefix match on the row's model; exact on the GPU).
MODELS = (("meta-llama/Llama-3.1-8B", "llama-3.1-8b"), ("meta-llama/Llama-3.1-70B", "llama-3.1-70b"),
          ("meta-llama/Llama-3.3-70B", "llama-3.1-70b"),   # the same architecture and shapes as 3.1-70B
          ("meta-llama/Llama-3.1-405B", "llama-3.1-405b"), ("mistralai/Mistral-7B", "mistral-7b"),
          ("mistralai/Mixtral-8x7B", "mixtral-8x7b"), ("mistralai/Mixtral-8x22B", "mixtral-8x22b"),
          ("Qwen/Qwen3-30B-A3B", "qwen3-30b-a3b"), ("Qwen/Qwen3-235B-A22B", "qwen3-235b-a22b"),
          ("deepseek-ai/DeepSeek-R1", "deepseek-v3"))
# Not mapped yet: Llama-4-Scout/Maverick (chunked attention) and gpt-oss (sliding windows) run in the exact loop,
# minutes per offline run of 3,000-30,000 requests (issue 17's skip-ahead for windowed attention).
GPUS = {"H200 141GB HBM3": "h200", "H200 SXM 141GB (DGX H200)": "h200", "H200 131GB HBM3 (sic, as printed)": "h200",
        "H100 80GB HBM3": "h100-sxm", "H100 SXM 80GB (DGX H100)": "h100-sxm", "A100-SXM4-80GB": "a100-80gb",
        "L40S": "l40s", "B200": "b200", "B200 180GB (DGX B200)": "b200",
        "GB200 192GB (GB200 NVL72)": "gb200", "GB200 NVL72": "gb200", "B300 288GB (DGX B300) [beta]": "b300",
        "GB300 288GB (GB300 NVL72) [beta]": "gb300", "GB300 NVL72": "gb300",
        "RTX 6000 Pro Blackwell Server Edition": "rtx-pro-6000-server"}
DTYPES = {"fp8": "fp8", "fp4": "fp4", "nvfp4": "fp4", "bf16": "bf16", "fp16": "fp16", "HF weights, BF16": "bf16"}
ENGINES = {"TensorRT-LLM": "trtllm", "TensorRT-LLM (Triton tensorrtllm_backend)": "trtllm"}
METRICS = ("output_tokens_per_s_total", "output_tokens_per_s_per_gpu", "output_tokens_per_s", "total_tokens_per_s",
           "requests_per_s", "ttft_ms_mean", "itl_ms_mean")
# Online tables measured with vLLM's benchmark_serving.py (its send times are replayed: benchmark_serving_arrivals_s),
# and the per-request lengths of a (table, ISL, OSL) whose page prints only the dataset's averages. The v0.14
# table's 202/214 are the means of the first 500 requests vLLM's ShareGPT sampler draws at its default seed 0
# with the Llama-3.1 tokenizer (201.8 / 213.9; validation/README.md): that client and dataset, not a fit.
# Tables measured on TensorRT-LLM's built-engine flow (the C++ executor); the later pages run `--backend pytorch`
# ("Starting with v0.19, testing was performed using the PyTorch backend"; docs/research/published-tables.md).
TENSORRT_ENGINE_TABLES = frozenset({"trtllm_online_serving_v0.14", "trtllm_perf_overview_v0.17"})
# The offline pages: "In majority of cases, we also use a higher KV cache percentage by setting
# --kv_cache_free_gpu_mem_fraction 0.95 ... We fall back to 0.90 if we hit an out of memory issue" (every page
# from v0.17; docs/research/published-tables.md). Which cells fell back is not said: 0.95 for all.
TRTLLM_BENCH_KV_FRACTION = 0.95
BENCHMARK_SERVING_TABLES = frozenset({"trtllm_online_serving_v0.14"})
BENCHMARK_SERVING_SEED = 0
DATASETS = {("trtllm_online_serving_v0.14", 202, 214): "sharegpt_vllm_sampler_seed0.csv"}
PROMPT_GROUPS = ((32_768, "isl>=32K"), (8_192, "isl 8K-32K"), (0, "isl<8K"))


@dataclass(frozen=True, slots=True)
class PublishedRow:
    """One published cell, parsed; `run_key` groups the cells of one run."""
    table: str
    line: int
    model: str
    gpu: str
    weight_dtype: str
    engine: str
    tp: int
    pp: int
    isl: int
    osl: int
    rate_per_s: float | None        # None: every request at once
    num_requests: int
    num_gpus: int
    expert_parallel: int
    offline_bench: bool             # a trtllm-bench max-throughput run (its engine build heuristic applies)
    metric: str
    value: float
    url: str

    @property
    def run_key(self) -> tuple:
        return (self.table, self.model, self.gpu, self.weight_dtype, self.engine, self.tp, self.pp,
                self.expert_parallel, self.isl, self.osl, self.rate_per_s, self.num_requests)


class PublishedPoint(BaseModel):
    """One row replayed: what was published and what ctxplan predicts."""
    model_config = ConfigDict(frozen=True, extra="forbid")
    table: str
    line: int
    model: str
    gpu: str
    tp: int
    weight_dtype: str
    isl: int
    osl: int
    rate_per_s: float | None
    metric: str
    measured: float
    predicted: float
    pct_error: float                     # signed: 100 x (predicted / measured - 1)
    url: str


class PublishedReport(BaseModel):
    """`ctxplan validate --published`: median |error| overall and by group, the worst rows, every point."""
    model_config = ConfigDict(frozen=True, extra="forbid")
    tables: dict[str, int]
    replayed: int
    skipped: dict[str, int]
    median_abs_pct_error: float | None
    by: dict[str, dict[str, float]]      # group -> value -> median |error| in percent
    counts: dict[str, dict[str, int]]    # group -> value -> rows
    worst: list[PublishedPoint]
    points: list[PublishedPoint]

    def to_json_dict(self) -> dict:
        return self.model_dump()


def default_tables() -> list[Path]:
    return sorted(VALIDATION_DIR.glob(TABLE_GLOB))


def _rate(text: str) -> float | None:
    match = re.fullmatch(r"qps=([0-9.]+)", text.strip())
    return float(match.group(1)) if match else None


def _catalog_model(name: str) -> str | None:
    return next((ours for prefix, ours in MODELS if name.startswith(prefix)), None)


def read_rows(paths: list[Path]) -> tuple[list[PublishedRow], dict[str, int], dict[str, int]]:
    """(rows ctxplan can replay, rows per table, skipped rows by reason)."""
    rows, tables, skipped = [], defaultdict(int), defaultdict(int)
    for path in paths:
        if not path.is_file():
            raise InputError("published table not found", field="--table", value=str(path))
        with path.open(newline="") as handle:
            for line, raw in enumerate(csv.DictReader(handle), start=2):
                tables[raw["source_table"]] += 1
                model, gpu = _catalog_model(raw["model"]), GPUS.get(raw["gpu"])
                dtype, engine = DTYPES.get(raw["weight_dtype"]), ENGINES.get(raw["engine"])
                reason = _unreplayable(raw, model, gpu, dtype, engine)
                if reason is not None:
                    skipped[reason] += 1
                    continue
                tp, pp = int(raw["tp"]), int(raw.get("pp") or 1)
                rows.append(PublishedRow(
                    table=raw["source_table"], line=line, model=model, gpu=gpu, weight_dtype=dtype, engine=engine,
                    tp=tp, pp=pp, isl=int(raw["isl"]), osl=int(raw["osl"]),
                    rate_per_s=_rate(raw.get("concurrency_or_rate") or ""), num_requests=int(raw["num_requests"]),
                    num_gpus=int(raw.get("num_gpus") or tp * pp), expert_parallel=int(raw.get("ep") or 1),
                    offline_bench="trtllm-bench" in raw.get("mode", ""),
                    metric=raw["metric"], value=float(raw["value"]),
                    url=raw["url"]))
    return rows, dict(tables), dict(sorted(skipped.items()))


def _unreplayable(raw: dict, model, gpu, dtype, engine) -> str | None:
    """Why ctxplan cannot replay a published row, or None."""
    for value, name, column in ((model, "model", "model"), (gpu, "GPU", "gpu"), (dtype, "weight dtype", "weight_dtype"),
                                (engine, "engine", "engine")):
        if value is None:
            return f"{name} {raw[column]!r} not modelled"
    if raw["metric"] not in METRICS:
        return f"metric {raw['metric']!r} not modelled"
    if (raw.get("attention_dp") or "").lower() == "true":
        return "attention data parallelism not modelled"
    if (raw.get("ep") or "1") not in ("1", raw["tp"]):
        return "expert parallelism other than 1 or TP not modelled"
    if (raw.get("pp") or "1") != "1":
        return "pipeline parallelism with micro-batches in flight not modelled"   # ctxplan keeps one batch in flight
    if not (raw.get("num_requests") or "").strip():
        return "request count not published"
    return None


def kv_cache_dtype(row: PublishedRow) -> str:
    """The KV cache dtype a row ran with: fp8 under fp8 or NVFP4 weights (see the module docstring), else 16-bit."""
    return "fp8" if row.weight_dtype in ("fp8", "fp4") else "fp16" if row.weight_dtype == "fp16" else "bf16"


def trtllm_bench_build(row: PublishedRow) -> tuple[int, int]:
    """(max_batch_size, max_num_tokens) trtllm-bench builds for a dataset of fixed ISL/OSL: the requests whose
    whole sequence fits 95% of the memory left after the weights, over every GPU, then rounded up
    (NVIDIA/TensorRT-LLM tensorrt_llm/bench/build/tuning.py calc_engine_setting and finetune_setting,
    commit 04cba882; the same rule is assumed for the v0.17-1.2 tables). Its estimate counts a KV head per
    GPU at least and takes its BYTES_PER_ELEM: 1 for fp8, 0.5 for NVFP4 weights with an fp8 KV cache, else 2."""
    from simulator.catalog import resolve_hardware, resolve_model
    model, hardware = resolve_model(row.model), resolve_hardware(row.gpu)
    elem = {"fp8": 1.0, "fp4": 0.5}.get(row.weight_dtype, 2.0)
    kv_elem = 1.0 if kv_cache_dtype(row) == "fp8" else 2.0
    gib = 1024 ** 3
    heads = max(row.tp, model.num_kv_heads)
    per_token = 2 * model.num_layers * heads * model.head_dim * kv_elem / gib
    engine = model.params_total * elem / gib
    cache = (hardware.memory_bytes / gib * row.tp * row.pp - engine) * 0.95
    requests = cache / (per_token * (row.isl + row.osl))
    raw_bs = min(requests, 4096) / row.pp
    raw_tokens = min(raw_bs * (1 + row.isl / row.osl), 32768)
    return (_round_up(raw_bs, ((256, 32), (1024, 128), (math.inf, 256)), floor=64),
            _round_up(raw_tokens, ((4096, 256), (8192, 512), (math.inf, 1024)), floor=2048))


def _round_up(value: float, ladder: tuple[tuple[float, int], ...], floor: int) -> int:
    """finetune_setting's rounding: up to a multiple of the step of the first rung `value` is under, at least
    `floor` on the first rung."""
    for rung, (below, step) in enumerate(ladder):
        if value < below:
            rounded = step * math.ceil(value / step)
            return max(floor, rounded) if rung == 0 else rounded
    raise AssertionError(value)


def benchmark_serving_arrivals_s(num: int, rate_per_s: float | None) -> np.ndarray:
    """Send times of vLLM's benchmark_serving.py at its default seed: the first request at 0, then one gap
    after each request drawn from numpy's global RandomState seeded 0, exponential (gamma of shape 1, the
    same draw in the legacy generator) of mean 1 / rate; all at 0 for rate inf (vllm-project/vllm
    benchmarks/benchmark_serving.py get_request and main's np.random.seed(args.seed), v0.6.x)."""
    if rate_per_s is None:
        return np.zeros(num)
    gaps = np.random.RandomState(BENCHMARK_SERVING_SEED).standard_exponential(num - 1) / rate_per_s
    return np.concatenate(([0.0], np.cumsum(gaps)))


@functools.lru_cache(maxsize=None)
def _dataset_requests(name: str) -> tuple[tuple[int, int], ...]:
    """(prompt, output) tokens of a bundled dataset's requests, in its client's order (read once per process)."""
    with (VALIDATION_DIR / name).open(newline="") as handle:
        return tuple((int(r["prompt_tokens"]), int(r["output_tokens"])) for r in csv.DictReader(handle))


def _benchmark_trace(row: PublishedRow, directory: Path) -> Path:
    """The requests of an online row as its client sent them, written as a trace CSV in `directory`."""
    dataset = DATASETS.get((row.table, row.isl, row.osl))
    if dataset is None:
        prompt, output = np.full(row.num_requests, row.isl), np.full(row.num_requests, row.osl)
    else:
        pairs = _dataset_requests(dataset)
        if len(pairs) < row.num_requests:
            raise InputError("dataset holds fewer requests than the row", field="num_requests",
                             value=row.num_requests, allowed=f"at most {len(pairs)}", file=dataset)
        prompt, output = np.array(pairs[:row.num_requests]).T
    times = benchmark_serving_arrivals_s(row.num_requests, row.rate_per_s)
    path = directory / "trace.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("arrival_time_s", "prompt_tokens", "output_tokens"))
        writer.writerows(zip(times.tolist(), prompt.tolist(), output.tolist()))
    return path


def scenario_for(row: PublishedRow, trace: Path | None = None) -> dict:
    """The scenario one published run is replayed as (module docstring); `trace`: the online client's
    requests (`_benchmark_trace`)."""
    if trace is not None:
        workload = {"arrival": {"process": "trace", "path": str(trace)}}
    else:
        arrival = ({"process": "all_at_once"} if row.rate_per_s is None
                   else {"process": "poisson", "rate_per_s": row.rate_per_s})
        workload = {"num_requests": row.num_requests, "arrival": arrival,
                    "prompt_tokens": {"dist": "constant", "value": row.isl},
                    "output_tokens": {"dist": "constant", "value": row.osl}}
    kv = kv_cache_dtype(row)
    engine = {"policy": row.engine}
    if row.table in TENSORRT_ENGINE_TABLES:
        engine["backend"] = "tensorrt"
    if row.offline_bench:
        max_bs, max_tokens = trtllm_bench_build(row)
        engine.update(enable_chunked_context=True, max_batch_size=max_bs, max_num_tokens=max_tokens,
                      free_gpu_memory_fraction=TRTLLM_BENCH_KV_FRACTION)
    return {"name": "published-row", "seed": 0, "workload": workload,
            "deployments": [{"name": "d", "model": row.model, "hardware": row.gpu, "tensor_parallel": row.tp,
                             "pipeline_parallel": row.pp, "expert_parallel": row.expert_parallel,
                             "weight_dtype": row.weight_dtype, "kv_cache_dtype": kv,
                             "engine": engine}]}


def predict_run(row: PublishedRow) -> dict[str, float]:
    """Every metric of the run `row` belongs to, as the benchmark tools define them."""
    from simulator.results.runner import run
    from simulator.specs.scenario import ScenarioSpec
    if row.table in BENCHMARK_SERVING_TABLES:
        with tempfile.TemporaryDirectory(prefix="ctxplan-published-") as directory:
            spec = ScenarioSpec.model_validate(scenario_for(row, _benchmark_trace(row, Path(directory))))
            result = run(spec).deployments[0]
    else:
        result = run(ScenarioSpec.model_validate(scenario_for(row))).deployments[0]
    records, duration = result.records, result.summary.duration_s
    done = records[records["status"] == "completed"]
    output_tokens = float(done["output_tokens"].sum())
    gaps = (done["output_tokens"] - 1).clip(lower=0)
    itl_sum = float((done["itl_mean_s"].fillna(0.0) * gaps).sum())
    return {"output_tokens_per_s_total": output_tokens / duration,
            "output_tokens_per_s": output_tokens / duration,
            "output_tokens_per_s_per_gpu": output_tokens / duration / row.num_gpus,
            "total_tokens_per_s": (output_tokens + float(done["prompt_tokens"].sum())) / duration,
            "requests_per_s": len(done) / duration,
            "ttft_ms_mean": float(done["ttft_s"].mean()) * 1e3,
            "itl_ms_mean": itl_sum / float(gaps.sum()) * 1e3 if gaps.sum() else math.nan}


def _prompt_group(isl: int) -> str:
    return next(name for low, name in PROMPT_GROUPS if isl >= low)


GROUPS = {"metric": lambda p: p.metric, "table": lambda p: p.table, "gpu": lambda p: p.gpu,
          "prompt": lambda p: _prompt_group(p.isl), "tp": lambda p: "tp1" if p.tp == 1 else "tp>1",
          "model": lambda p: p.model}


def _medians(points: list[PublishedPoint], key) -> dict[str, float]:
    buckets = defaultdict(list)
    for point in points:
        buckets[key(point)].append(abs(point.pct_error))
    return {name: round(statistics.median(errors), 2) for name, errors in sorted(buckets.items())}


def replay(paths: list[Path] | None = None, workers: int | None = None, progress=None,
           worst: int = 10) -> PublishedReport:
    """Score ctxplan on every replayable row of `paths` (default: the bundled set)."""
    from simulator.planning.executor import run_tasks
    rows, tables, skipped = read_rows(paths or default_tables())
    runs: dict[tuple, list[PublishedRow]] = defaultdict(list)
    for row in rows:
        runs[row.run_key].append(row)
    keys = list(runs)
    predictions = run_tasks(predict_run, [(runs[key][0],) for key in keys], workers=workers, progress=progress)
    points = []
    for key, predicted in zip(keys, predictions):
        for row in runs[key]:
            value = predicted[row.metric]
            points.append(PublishedPoint(table=row.table, line=row.line, model=row.model, gpu=row.gpu, tp=row.tp,
                                         weight_dtype=row.weight_dtype, isl=row.isl, osl=row.osl,
                                         rate_per_s=row.rate_per_s, metric=row.metric, measured=row.value,
                                         predicted=round(value, 4), pct_error=round(100 * (value / row.value - 1), 2),
                                         url=row.url))
    points.sort(key=lambda p: (p.table, p.line))
    by = {name: _medians(points, key) for name, key in GROUPS.items()}
    counts = {name: dict(sorted(Counter(key(p) for p in points).items())) for name, key in GROUPS.items()}
    overall = round(statistics.median(abs(p.pct_error) for p in points), 2) if points else None
    return PublishedReport(tables=dict(sorted(tables.items())), replayed=len(points), skipped=skipped,
                           median_abs_pct_error=overall, by=by, counts=counts,
                           worst=sorted(points, key=lambda p: -abs(p.pct_error))[:worst], points=points)
