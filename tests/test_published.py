"""`ctxplan validate --published`: the bundled published measurements, replayed and scored."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from simulator.results.published import (VALIDATION_DIR, default_tables, read_rows, replay, scenario_for,
                                         trtllm_bench_build)
from simulator.specs.scenario import ScenarioSpec

HEADER = ("source_table,engine,engine_version,model,weight_dtype,kv_dtype,gpu,num_gpus,tp,pp,ep,attention_dp,isl,osl,"
          "mode,concurrency_or_rate,num_requests,metric,value,url")


def _table(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "published_test.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def test_every_bundled_row_is_read_or_counted_as_skipped():
    """No row is dropped silently: replayed + skipped = every data row of every bundled table."""
    paths = default_tables()
    assert {p.name for p in paths} >= {"published_trtllm_perf_overview_v0.17.csv", "published_tables.csv"}
    rows, tables, skipped = read_rows(paths)
    total = sum(sum(1 for _ in csv.DictReader(p.open())) for p in paths)
    assert sum(tables.values()) == total
    assert len(rows) + sum(skipped.values()) == total
    assert all(p.parent == VALIDATION_DIR for p in paths)
    cells = [(r.table, r.model, r.gpu, r.weight_dtype, r.tp, r.pp, r.isl, r.osl, r.rate_per_s, r.metric) for r in rows]
    assert len(cells) == len(set(cells)), "a published cell is in the bundled set twice"


def test_rows_become_the_benchmark_runs_they_describe(tmp_path):
    path = _table(tmp_path, [
        "t,TensorRT-LLM,0.17,meta-llama/Llama-3.1-8B,fp8,fp8,H100 80GB HBM3,1,1,1,,false,128,128,"
        "max-throughput offline (trtllm-bench throughput),unlimited,3000,output_tokens_per_s_total,100,u",
        "t,TensorRT-LLM,0.14,meta-llama/Llama-3.1-70B,\"HF weights, BF16\",bf16,H200 141GB HBM3,4,4,1,,false,467,256,"
        "online,qps=8,500,ttft_ms_mean,60,u",
        "t,TensorRT-LLM,1.0,Qwen/Qwen3-235B-A22B,fp8,fp8,H200 141GB HBM3,4,4,1,4,true,1024,1024,offline,,3000,"
        "output_tokens_per_s_total,1,u",
        "t,TensorRT-LLM,1.0,meta-llama/Llama-3.1-8B,fp4,fp4,B200,2,1,2,,false,128,128,offline,,3000,"
        "output_tokens_per_s_total,1,u",
        "t,TensorRT-LLM,1.0,meta-llama/Llama-3.1-8B,fp4,fp4,B200,1,1,1,,false,128,128,offline,,3000,"
        "output_tokens_per_s_total,1,u",
    ])
    rows, tables, skipped = read_rows([path])
    assert tables == {"t": 5} and len(rows) == 3 and sum(skipped.values()) == 2
    assert skipped["pipeline parallelism with micro-batches in flight not modelled"] == 1
    offline, online, nvfp4 = (ScenarioSpec.model_validate(scenario_for(r)) for r in rows)
    assert nvfp4.deployments[0].weight_dtype == "fp4" and nvfp4.deployments[0].kv_cache_dtype == "fp8"
    assert offline.workload.arrival.process == "all_at_once" and offline.workload.num_requests == 3000
    assert offline.deployments[0].kv_cache_dtype == "fp8" and offline.deployments[0].engine.policy == "trtllm"
    # trtllm-bench's build: the KV memory holds far more than 4096 requests of 256 tokens, so its caps apply:
    # 4096 requests, 4096 x (1 + 128/128) tokens
    assert (offline.deployments[0].engine.max_num_seqs, offline.deployments[0].engine.max_num_batched_tokens) == \
        trtllm_bench_build(rows[0]) == (4096, 8192)
    assert offline.deployments[0].engine.free_gpu_memory_fraction == 0.95      # the pages' stated setting
    assert online.deployments[0].engine.max_num_seqs == 2048          # the engine's defaults online
    assert online.workload.arrival.process == "poisson" and online.workload.arrival.rate_per_s == 8
    assert online.deployments[0].tensor_parallel == 4 and online.deployments[0].weight_dtype == "bf16"


def test_report_scores_what_it_simulates(tmp_path):
    """A published value equal to ctxplan's own prediction scores 0%; twice it scores -50%."""
    line = ("t,TensorRT-LLM,0.17,meta-llama/Llama-3.1-8B,fp8,fp8,H100 80GB HBM3,1,1,1,,false,128,128,offline,,200,"
            "output_tokens_per_s_total,{},u")
    first = replay([_table(tmp_path, [line.format(1000)])], workers=1)
    predicted = first.points[0].predicted
    report = replay([_table(tmp_path, [line.format(predicted), line.format(2 * predicted)])], workers=1)
    assert sorted(p.pct_error for p in report.points) == pytest.approx([-50.0, 0.0], abs=0.01)
    assert report.median_abs_pct_error == pytest.approx(25.0, abs=0.01)
    assert report.counts["tp"] == {"tp1": 2}


def test_online_rows_replay_the_benchmark_clients_requests(tmp_path):
    """The v0.14 online table's 202/214 rows are vLLM's ShareGPT sampler at seed 0 (its first 500 requests
    average 201.8 / 213.9, printed 202 / 214); the send times are benchmark_serving.py's loop, one
    np.random.exponential gap after each request from np.random.seed(0)."""
    import numpy as np

    from simulator.results.published import DATASETS, _benchmark_trace, benchmark_serving_arrivals_s
    for (table, isl, osl), name in DATASETS.items():
        with (VALIDATION_DIR / name).open(newline="") as handle:
            pairs = [(int(r["prompt_tokens"]), int(r["output_tokens"])) for r in csv.DictReader(handle)]
        first = np.array(pairs[:500])
        assert tuple(np.rint(first.mean(axis=0)).astype(int)) == (isl, osl)
    np.random.seed(0)
    expected = [0.0]
    for _ in range(4):
        expected.append(expected[-1] + np.random.exponential(1.0 / 8))
    assert benchmark_serving_arrivals_s(5, 8.0) == pytest.approx(expected, rel=1e-12)
    assert not benchmark_serving_arrivals_s(3, None).any()
    rows, _, _ = read_rows(default_tables())
    row = next(r for r in rows if r.table == "trtllm_online_serving_v0.14" and (r.isl, r.osl) == (202, 214)
               and r.rate_per_s == 4)
    spec = ScenarioSpec.model_validate(scenario_for(row, _benchmark_trace(row, tmp_path)))
    assert spec.workload.arrival.process == "trace"
    with (tmp_path / "trace.csv").open(newline="") as handle:
        trace = list(csv.DictReader(handle))
    assert len(trace) == row.num_requests == 500
    assert sum(int(r["prompt_tokens"]) for r in trace) / 500 == pytest.approx(201.79)
    assert float(trace[-1]["arrival_time_s"]) == pytest.approx(benchmark_serving_arrivals_s(500, 4.0)[-1])


@pytest.mark.slow
def test_bundled_set_stays_within_its_recorded_medians():
    """Every replayable row of the bundled tables (deterministic: seeded runs, no clock).

    The bounds are what this version reaches (closing notes of issue 16), so a change that makes the
    numbers worse fails here. The issue's medians (8% overall, 12% on TTFT, 10% at TP > 1 and on >= 10 rows at
    prompts >= 32K) hold; its last target, no row worse than 30%, does not yet: small-active MoE
    (Qwen3-30B-A3B) on Blackwell is predicted up to 107% fast on prompt-heavy runs."""
    report = replay(workers=2)
    assert report.replayed >= 1075
    assert report.median_abs_pct_error <= 6.5            # 6.23 measured
    assert report.by["metric"]["ttft_ms_mean"] <= 11.5   # 10.91
    assert report.by["tp"]["tp>1"] <= 6.2                # 5.85
    assert report.by["tp"]["tp1"] <= 7.0                 # 6.63
    assert report.counts["prompt"]["isl>=32K"] >= 16
    assert report.by["prompt"]["isl>=32K"] <= 8.5        # 7.89 on 16 rows
    assert sum(abs(p.pct_error) > 30 for p in report.points) <= 26   # 26 rows, 14 of them Qwen3-30B-A3B
