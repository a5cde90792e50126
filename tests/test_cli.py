"""The `ctxplan` command as a user runs it: exit codes, one-line errors, JSON contract, output files."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CTXPLAN = [str(Path(sys.executable).parent / "ctxplan")]


def ctxplan(*args, cwd=ROOT):
    return subprocess.run(CTXPLAN + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=300)


def estimate_json(*extra):
    out = ctxplan("estimate", "--model", "llama-3.1-70b", "--hardware", "h100-sxm", "--prompt-tokens", 131072,
                  "--output-tokens", 1, "--format", "json", *extra)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_estimate_acceptance_70b_on_h100():
    base = estimate_json()
    assert base["kv_cache_bytes"] == 42949672960
    assert base["fits"] is False and "141.1 GB" in base["fit_reason"]
    assert base["min_num_gpus"] > 1
    fp8 = estimate_json("--kv-dtype", "fp8")
    assert fp8["kv_cache_bytes"] == 42949672960 // 2
    tp4 = estimate_json("--tp", 4)
    assert tp4["fits_in_memory"] is True and tp4["max_concurrent_sequences"] >= 1   # 131,073 tokens: past the context
    for key in ("weights_bytes", "kv_cache_bytes_per_token", "kv_cache_bytes_peak", "prefill_time_s",
                "decode_time_per_token_s", "cost_per_query_usd", "cost_per_million_output_tokens_usd"):
        assert key in base
    assert base["kv_cache_bytes_peak"] >= base["kv_cache_bytes"]


@pytest.mark.parametrize("args,fragment", [
    (["estimate", "--model", "llama-3-8b", "--hardware", "h100-sxm", "--prompt-tokens", 1, "--output-tokens", 1],
     "did you mean llama-3.1-8b"),
    (["estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--prompt-tokens", -5,
      "--output-tokens", 1], "prompt_tokens"),
    (["estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--prompt-tokens", 200000,
      "--output-tokens", 1], "allowed: 1..131072"),
    (["estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--prompt-tokens", 10,
      "--output-tokens", 1, "--tp", 3], "divide"),
    (["run", "does-not-exist.yaml"], "not found"),
])
def test_bad_input_is_one_line_exit_2_without_traceback(args, fragment):
    out = ctxplan(*args)
    assert out.returncode == 2
    assert fragment in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def write_scenario(tmp_path: Path, data: dict, name="s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("mutate,fragment", [
    (lambda d: d["workload"]["arrival"].update(rate_per_s=-1), "rate_per_s"),
    (lambda d: d["workload"]["arrival"].update(rate_per_s=0), "greater than 0"),
    (lambda d: d["workload"].update(prompt_tokens={"dist": "constant", "value": 500000}),
     "workload.prompt_tokens.value"),
    (lambda d: d["deployments"][0].update(hardware="h1000"), "deployments[0].hardware"),
    (lambda d: d["deployments"][0].update(model="llama-3.1-405b"), "deployments[0].tensor_parallel"),
    (lambda d: d["deployments"][0].update(replica=2), "unknown field 'replica'; did you mean 'replicas'?"),
])
def test_bad_scenarios_name_file_and_field(tmp_path, chat_scenario, mutate, fragment):
    mutate(chat_scenario)
    out = ctxplan("run", write_scenario(tmp_path, chat_scenario))
    assert out.returncode == 2, out.stdout
    assert fragment in out.stderr and "s.yaml" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_malformed_yaml_and_trace(tmp_path, chat_scenario):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nworkload: [\n")
    out = ctxplan("run", bad)
    assert out.returncode == 2 and "malformed YAML" in out.stderr and "bad.yaml" in out.stderr
    (tmp_path / "trace.csv").write_text("arrival_time_s,prompt_tokens,output_tokens\n0,10,x\n")
    chat_scenario["workload"] = {"arrival": {"process": "trace", "path": "trace.csv"}}
    out = ctxplan("run", write_scenario(tmp_path, chat_scenario))
    assert out.returncode == 2 and "trace.csv: output_tokens: bad value on line 2" in out.stderr


def test_run_json_contract_is_byte_identical_and_writes_outputs(tmp_path, chat_scenario):
    chat_scenario["workload"]["num_requests"] = 150
    path = write_scenario(tmp_path, chat_scenario)
    first = ctxplan("run", path, "--format", "json", "--out", tmp_path / "out")
    second = ctxplan("run", path, "--format", "json")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    data = json.loads(first.stdout)
    assert set(data) == {"ctxplan_version", "scenario", "seed", "deployments"}
    assert data["scenario"] == "test-chat" and data["seed"] == 7
    deployment = data["deployments"][0]
    assert deployment["name"] == "h100" and deployment["num_gpus"] == 1
    metrics = deployment["metrics"]
    for key in ("num_requests", "num_completed", "num_rejected", "num_unfinished", "throughput_output_tokens_per_s",
                "slo_attainment", "goodput_requests_per_s", "kv_cache_peak_utilization", "prefix_cache_hit_rate",
                "num_preemptions", "gpu_hours", "cost_usd", "cost_per_query_usd",
                "cost_per_million_output_tokens_usd", "stable"):
        assert key in metrics
    for key in ("ttft_s", "tpot_s", "e2e_s"):
        assert set(metrics[key]) == {"p50", "p90", "p99", "mean"}
    out_dir = tmp_path / "out"
    records = pd.read_parquet(out_dir / "records.parquet")
    assert len(records) == 150 and len(pd.read_csv(out_dir / "records.csv")) == 150
    assert json.loads((out_dir / "summary.json").read_text()) == data
    resolved = yaml.safe_load((out_dir / "scenario.resolved.yaml").read_text())
    assert resolved["deployments"][0]["engine"]["block_size"] == 16
    reseeded = ctxplan("run", path, "--format", "json", "--seed", 8, "--hardware", "h200")
    other = json.loads(reseeded.stdout)
    assert other["seed"] == 8 and other["deployments"][0]["hardware"] == "h200"


def test_listing_commands_and_schema():
    models = ctxplan("models", "--format", "json")
    assert models.returncode == 0 and "deepseek-v3" in {m["name"] for m in json.loads(models.stdout)}
    hardware = ctxplan("hardware", "--format", "json")
    assert "mi300x" in {h["name"] for h in json.loads(hardware.stdout)}
    schema = json.loads(ctxplan("schema").stdout)
    assert "deployments" in schema["properties"] and "workload" in schema["properties"]
    comparison = json.loads(ctxplan("schema", "--kind", "comparison").stdout)
    assert "corpus" in comparison["properties"]
    table = ctxplan("estimate", "--model", "mistral-7b", "--hardware", "l4", "--prompt-tokens", 2000,
                    "--output-tokens", 200)
    assert table.returncode == 0 and "prefill_time_s" in table.stdout


def test_estimate_accepts_a_config_json_path(tmp_path):
    config = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
              "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 128256,
              "max_position_embeddings": 131072}
    path = tmp_path / "my-llama" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(config))
    out = ctxplan("estimate", "--model", path, "--hardware", "h100-sxm", "--prompt-tokens", 1000,
                  "--output-tokens", 10, "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["model"] == "llama-8b" and data["kv_cache_bytes_per_token"] == 131072   # model_type and size


def test_run_points_comparison_scenarios_to_compare():
    out = ctxplan("run", "scenarios/legal-case-files.yaml")
    assert out.returncode == 2 and "ctxplan compare scenarios/legal-case-files.yaml" in out.stderr
