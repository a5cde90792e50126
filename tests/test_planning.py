"""Capacity planning and sweeps: the search against exhaustive, the process pool against Ray, the API jobs."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pandas as pd
import pytest
import yaml

from simulator.errors import InputError
from simulator.planning.planner import Targets, pareto_front, plan
from simulator.planning.sweep import expand, parse_param, parse_values, sweep
from servers import start_server

ROOT = Path(__file__).resolve().parent.parent
CTXPLAN = str(Path(sys.executable).parent / "ctxplan")
SCENARIO = {"name": "plan-small", "seed": 4,
            "workload": {"num_requests": 250, "arrival": {"process": "poisson", "rate_per_s": 10},
                         "prompt_tokens": {"dist": "lognormal", "median": 900, "sigma": 0.6, "max": 8000},
                         "output_tokens": {"dist": "lognormal", "median": 200, "sigma": 0.5, "max": 1000}},
            "slo": {"ttft_s": 0.5, "tpot_s": 0.03},
            "deployments": [{"name": "t", "model": "llama-3.1-8b", "hardware": "h100-sxm"}]}


@pytest.mark.slow
def test_plan_finds_the_exhaustive_best_with_fewer_simulations():
    grid = dict(target_qps=30.0, targets=Targets(0.5, 0.03), hardware=["h100-sxm", "a100-80gb", "l40s"],
                tensor_parallel=[1, 2, 4, 8], max_num_seqs=[256], chunk_tokens=[8192], max_gpus=8, seeds=1,
                capacity=False, workers=2, min_arrival_s=10)
    searched = plan(SCENARIO, None, **grid)
    exhaustive = plan(SCENARIO, None, exhaustive=True, **grid)
    assert searched["best"] is not None
    key = ("hardware", "tensor_parallel", "min_replicas", "cost_per_hour_usd")
    assert {k: searched["best"][k] for k in key} == {k: exhaustive["best"][k] for k in key}
    for a, b in zip(searched["configurations"], exhaustive["configurations"]):   # every configuration agrees
        assert a["min_replicas"] == b["min_replicas"], a
    assert searched["num_simulations"] < exhaustive["num_simulations"]    # wall times: benchmarks/suite_timings.py
    front = searched["pareto_front"]
    assert all(x["cost_per_hour_usd"] <= y["cost_per_hour_usd"] and x["ttft_p99_s"] > y["ttft_p99_s"]
               for x, y in zip(front, front[1:]))


def test_plan_reports_capacity_and_seed_spread():
    result = plan(SCENARIO, None, 10.0, Targets(0.5, None), ["h100-sxm"], [1], [256], [8192], max_gpus=2, seeds=2,
                  workers=1, min_arrival_s=20)
    best = result["best"]
    assert best["min_replicas"] == 1 and best["max_rate_per_s"] >= 10.0
    assert best["ttft_p99_spread_s"] > 0                          # two seeds, two different p99s
    assert result["seeds"] == [4, 5] and result["num_simulations"] % 2 == 0


def test_pareto_front_keeps_only_undominated_points():
    points = [SimpleNamespace(cost_per_hour_usd=c, ttft_p99_s=t, stable=True, meets_slo=m) for c, t, m in
              ((3, 1.0, True), (3, 0.8, True), (6, 0.5, True), (6, 0.9, True), (9, 0.5, True), (12, 0.2, True),
               (2, 0.1, False), (5, 0.05, False))]   # points missing the targets are never on the front
    assert [(p.cost_per_hour_usd, p.ttft_p99_s) for p in pareto_front(points)] == [(3, 0.8), (6, 0.5), (12, 0.2)]


def test_sweep_values_paths_and_errors():
    assert parse_values("1..4", "x") == [1, 2, 3, 4]
    assert parse_values("log:1000..64000:7", "x")[-1] == 64000
    assert parse_values("0.5..1.5:0.5", "x") == [0.5, 1.0, 1.5]
    points = expand(SCENARIO, [parse_param("deployments.t.replicas=1,2"), parse_param("seed=1..2")])
    assert [p[1]["deployments"][0]["replicas"] for p in points] == [1, 1, 2, 2]
    with pytest.raises(InputError, match="deployments.nope"):
        expand(SCENARIO, [parse_param("deployments.nope.replicas=1")])
    with pytest.raises(InputError, match="replicas"):
        expand(SCENARIO, [parse_param("deployments.0.replicas=0,1")])


@pytest.fixture(scope="module")
def ray_cluster():
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    ray = str(Path(sys.executable).parent / "ray")
    started = subprocess.run([ray, "start", "--head", "--num-cpus", "2", "--include-dashboard", "false",
                              "--disable-usage-stats"], capture_output=True, text=True, env=env, timeout=120)
    assert started.returncode == 0, started.stderr[-2000:]
    yield
    subprocess.run([ray, "stop", "--force"], capture_output=True, env=env, timeout=120)


@pytest.mark.slow
def test_sweep_on_ray_equals_the_process_pool(tmp_path, ray_cluster):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO))
    common = [CTXPLAN, "sweep", str(scenario), "--param", "workload.arrival.rate_per_s=5,20",
              "--param", "deployments.0.replicas=1,2", "--format", "json"]
    pool = subprocess.run(common + ["--out", str(tmp_path / "pool"), "--workers", "2"], capture_output=True,
                          text=True, timeout=300)
    assert pool.returncode == 0, pool.stderr
    on_ray = subprocess.run(common + ["--out", str(tmp_path / "ray"), "--ray-address", "auto"], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    assert on_ray.returncode == 0, on_ray.stderr
    assert json.loads(pool.stdout) == json.loads(on_ray.stdout)
    a = pd.read_parquet(tmp_path / "pool" / "results.parquet")
    b = pd.read_parquet(tmp_path / "ray" / "results.parquet")
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 4 and set(a.columns) >= {"workload.arrival.rate_per_s", "deployments.0.replicas", "ttft_p99_s"}


@pytest.mark.slow
def test_sweep_cli_writes_table_plots_and_a_report(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO))
    out = subprocess.run([CTXPLAN, "sweep", str(scenario), "--param", "workload.arrival.rate_per_s=5,20,60",
                          "--out", str(tmp_path / "out"), "--report", str(tmp_path / "r.html"), "--workers", "1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    pngs = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert pngs[0].startswith("01-latency-against-offered-load") and len(pngs) == 5
    page = (tmp_path / "r.html").read_text()
    assert page.count("data:image/png;base64,") == 5 and "<table" in page
    assert len(pd.read_csv(tmp_path / "out" / "results.csv")) == 3
    bad = subprocess.run([CTXPLAN, "sweep", str(scenario), "--param", "workload.arrival.rate_per_s=-1"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "rate_per_s" in bad.stderr and "Traceback" not in bad.stderr


def test_plan_cli_prints_the_best_configuration(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO))
    out = subprocess.run([CTXPLAN, "plan", str(scenario), "--target-qps", "20", "--hardware", "h100-sxm,l40s",
                          "--tp", "1,2", "--max-gpus", "4", "--seeds", "1", "--no-capacity", "--workers", "2",
                          "--min-arrival-s", "15",
                          "--report", str(tmp_path / "plan.html")], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("best: ") and "Pareto front" in out.stdout
    assert (tmp_path / "plan.html").read_text().count("data:image/png;base64,") == 3


@pytest.mark.slow
def test_plans_and_sweeps_run_as_jobs_over_http(tmp_path):
    server, base = start_server(tmp_path / "db.sqlite", max_simulations_per_job="50")
    try:
        sweep_job = httpx.post(f"{base}/v1/sweeps", json={"scenario": SCENARIO,
                                                          "params": ["workload.arrival.rate_per_s=5,20"]})
        assert sweep_job.status_code == 202 and sweep_job.headers["location"].startswith("/v1/sweeps/")
        plan_job = httpx.post(f"{base}/v1/plans", json={"scenario": SCENARIO, "target_qps": 20, "hardware": ["h100-sxm"],
                                                        "tensor_parallel": [1], "max_gpus": 2, "seeds": 1,
                                                        "capacity": False, "min_arrival_s": 15})
        assert plan_job.status_code == 202
        too_big = httpx.post(f"{base}/v1/sweeps", json={"scenario": SCENARIO, "params": ["seed=1..60"]})
        assert too_big.status_code == 422 and "max_simulations_per_job" in too_big.text
        bad = httpx.post(f"{base}/v1/plans", json={"scenario": SCENARIO, "target_qps": -1})
        assert bad.status_code == 422 and "target_qps" in bad.text
        results = {}
        for name, job in (("sweeps", sweep_job), ("plans", plan_job)):
            for _ in range(3000):          # a guard against a hung job (5 min), not a bound on how fast it runs
                body = httpx.get(f"{base}/v1/{name}/{job.json()['id']}").json()
                if body["status"] in ("succeeded", "failed"):
                    break
                time.sleep(0.1)
            assert body["status"] == "succeeded", body
            results[name] = body["result"]
        assert len(results["sweeps"]["rows"]) == 2
        local = sweep(SCENARIO, None, [parse_param("workload.arrival.rate_per_s=5,20")], workers=1)
        assert [r["ttft_p99_s"] for r in results["sweeps"]["rows"]] == pytest.approx(list(local["ttft_p99_s"]))
        assert results["plans"]["best"]["hardware"] == "h100-sxm"
    finally:
        server.terminate()
        server.wait(timeout=30)
