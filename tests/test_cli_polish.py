"""CLI polish (issue 14): errors that name the typo, suggestions in a useful order, plain flags in the
help, `--version`, the service's "listening on" line, numbers formatted for people, git-ignored output.

Commands run in-process through `api.cli_common.run_app`, the function the console script calls.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.metadata
import io
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import typer
import yaml
from rich.console import Console

from api import render
from api.cli import app
from api.cli_common import run_app
from cli_runner import Outcome, ctxplan, small_scenario
from simulator.errors import InputError, closest_names, unknown_name_error

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = small_scenario("polish")
ESTIMATE = ["estimate", "--model", "llama-3.1-8b", "--prompt-tokens", "100", "--output-tokens", "1"]


def error_line(outcome: Outcome) -> str:
    lines = outcome.stderr.strip().splitlines()
    assert outcome.code == 2 and len(lines) == 1 and lines[0].startswith("error: "), outcome
    assert "Traceback" not in outcome.stderr
    return lines[0]


def scenario_file(tmp_path: Path, mutate, name: str = "s.yaml", base: dict = SCENARIO) -> Path:
    data = copy.deepcopy(base)
    mutate(data)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def text(table) -> str:
    console = Console(width=250, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text()


# ----- 1. an unknown key is named, with the field it probably means -------------------------------------

def rename(mapping: dict, old: str, new: str) -> None:
    mapping[new] = mapping.pop(old)


def test_a_scenario_typo_names_the_unknown_field_not_the_missing_one(tmp_path):
    path = scenario_file(tmp_path, lambda d: rename(d["workload"]["arrival"], "rate_per_s", "rate_per_sec"))
    line = error_line(ctxplan("run", path))
    assert line == (f"error: {path}: workload.arrival.poisson: unknown field 'rate_per_sec'; "
                    "did you mean 'rate_per_s'?")


def test_unknown_fields_come_before_missing_fields(tmp_path):
    def mutate(d):
        d["deployments"][0].pop("model")                # missing, and not what the typo means
        d["slo"]["ttft_sec"] = d["slo"].pop("ttft_s")   # ttft_s is optional: only the unknown key is wrong
    line = error_line(ctxplan("run", scenario_file(tmp_path, mutate)))
    assert line.index("slo: unknown field 'ttft_sec'; did you mean 'ttft_s'?") \
        < line.index("deployments[0].model: Field required")
    assert "more error" not in line


def test_a_deployment_typo_suggests_the_field(tmp_path):
    line = error_line(ctxplan("run", scenario_file(tmp_path, lambda d: rename(d["deployments"][0], "hardware",
                                                                                "hardwre"))))
    assert line.endswith("deployments[0]: unknown field 'hardwre'; did you mean 'hardware'?"), line


def test_a_comparison_scenario_typo_suggests_the_field(tmp_path):
    base = yaml.safe_load((ROOT / "scenarios" / "support-knowledge-base.yaml").read_text())
    path = scenario_file(tmp_path, lambda d: rename(d["corpus"], "zipf_exponent", "zipf_exponnt"), base=base)
    line = error_line(ctxplan("compare", path))
    assert line == f"error: {path}: corpus: unknown field 'zipf_exponnt'; did you mean 'zipf_exponent'?"


def test_a_hardware_profile_typo_suggests_the_field(tmp_path):
    profile = tmp_path / "gpu.yaml"
    profile.write_text("base: h100-sxm\nmemory_bandwith_tb_s: 3.0\n")
    line = error_line(ctxplan(*ESTIMATE, "--hardware", profile))
    assert line == f"error: {profile}: unknown field 'memory_bandwith_tb_s'; did you mean 'memory_bandwidth_tb_s'?"


def test_an_unknown_key_that_is_not_a_plain_name_is_not_quoted(tmp_path):
    profile = tmp_path / "gpu.yaml"
    profile.write_text('base: h100-sxm\n"secret: text": 3\n')
    line = error_line(ctxplan(*ESTIMATE, "--hardware", profile))
    assert line == f"error: {profile}: unknown field <key>"


def test_a_model_file_typo_suggests_the_field(tmp_path):
    from simulator.catalog import resolve_model
    model = tmp_path / "m.yaml"
    model.write_text(yaml.safe_dump({"name": "m", "num_layerz": 2}))
    with pytest.raises(InputError, match=r"unknown field 'num_layerz'; did you mean 'num_layers'\?"):
        resolve_model(str(model))


def test_a_sweep_parameter_typo_suggests_the_field(tmp_path):
    path = scenario_file(tmp_path, lambda d: None)
    line = error_line(ctxplan("sweep", path, "--param", "workload.arrival.rate_per_sec=1,2", "--out", tmp_path / "o"))
    assert line.endswith("workload.arrival.poisson: unknown field 'rate_per_sec'; did you mean 'rate_per_s'?"), line


# ----- 2. suggestions rank prefix matches first -------------------------------------------------------

def test_name_suggestions_rank_prefix_matches_first():
    known = ["h200", "h100-sxm", "h100-pcie", "a100-80gb", "b200"]
    assert closest_names("h100", known) == ["h100-sxm", "h100-pcie", "h200"]
    assert closest_names("H100", known)[0] == "h100-sxm"
    assert closest_names("h100-sxm5", known)[0] == "h100-sxm"       # the typed name starts with it
    assert closest_names("llama-3-8b", ["llama-2-7b", "llama-3.1-8b", "llama-3.1-70b"])[0] == "llama-3.1-8b"
    assert "did you mean h100-sxm, h100-pcie, h200?" in str(unknown_name_error("hardware", "h100", known, "hardware"))


def test_the_cli_suggests_h100_sxm_first():
    line = error_line(ctxplan(*ESTIMATE, "--hardware", "h100"))
    assert "did you mean h100-sxm, h100-pcie" in line


# ----- 3. flags are plain in the help -------------------------------------------------------------------

def test_flags_show_no_bool_value_in_the_help():
    commands = typer.main.get_command(app).commands
    for name in commands:
        outcome = ctxplan(name, "--help")
        assert outcome.code == 0 and "<bool>" not in outcome.stdout, name
    assert "<bool>" not in ctxplan("--help").stdout
    plan_help = ctxplan("plan", "--help").stdout
    assert "--exhaustive" in plan_help and "--no-capacity" in plan_help


def test_flag_names_still_parse(tmp_path):
    missing = tmp_path / "missing.yaml"
    for args in (["run", missing, "--exact"], ["plan", missing, "--target-qps", "1", "--no-capacity", "--exhaustive"],
                 ["compare", missing, "--skip-capacity"]):
        assert "not found" in error_line(ctxplan(*args)), args


# ----- 4. --version -------------------------------------------------------------------------------------

def test_version_prints_the_package_version():
    outcome = ctxplan("--version")
    assert outcome.code == 0 and outcome.stderr == ""
    assert outcome.stdout == f"ctxplan {importlib.metadata.version('ctxplan')}\n"


# ----- 5. serve says where it listens ------------------------------------------------------------------

def test_serve_prints_where_it_listens_before_uvicorn_starts(monkeypatch):
    import uvicorn
    seen = {}
    err = io.StringIO()
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: seen.update(stderr=err.getvalue(), port=k["port"]))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        assert run_app(app, ["serve", "--port", "8123"]) == 0
    assert seen == {"stderr": "ctxplan service listening on http://127.0.0.1:8123 (docs at /docs)\n", "port": 8123}


def test_service_url_brackets_ipv6():
    from api.server import service_url
    assert service_url("::1", 80) == "http://[::1]:80"
    assert service_url("0.0.0.0", 8000) == "http://0.0.0.0:8000"


# ----- 6. numbers for people ---------------------------------------------------------------------------

def test_run_table_latencies_are_durations():
    cells = dict(render.ROWS)
    metrics = SimpleNamespace(ttft_s=SimpleNamespace(p50=451.832, p99=1084.9791),
                              e2e_s=SimpleNamespace(p50=539.0, p99=1130.0), stable=False, num_completed=12000,
                              num_rejected=0, num_unfinished=None)
    assert cells["TTFT p50 / p99"]({}, metrics) == "7.53 min / 18.1 min"
    assert cells["E2E p50 / p99"]({}, metrics) == "8.98 min / 18.8 min"
    assert cells["stable"]({}, metrics) == "no"
    assert cells["requests done / rejected / unfinished"]({}, metrics) == "12,000 / 0 / -"


def test_run_prints_no_python_literals_or_exponents(tmp_path):
    outcome = ctxplan("run", scenario_file(tmp_path, lambda d: None))
    assert outcome.code == 0, outcome.stderr
    for raw in ("None", "True", "False", "e+", "e-0"):
        assert raw not in outcome.stdout, raw
    assert " ms" in outcome.stdout and "$" in outcome.stdout


def test_values_are_formatted_by_their_key():
    values = {"cost_per_query_usd": 5.861e-05, "fits": True, "reason": None, "prefill_time_s": 539.0,
              "kv_cache_bytes": 42949672960, "throughput_output_tokens_per_s": 13.86, "prompt_tokens": 131072,
              "memory_bandwidth_tb_s": 3.35, "slo_attainment": 0.953}
    shown = {key: render.named_value(key, value) for key, value in values.items()}
    assert shown == {"cost_per_query_usd": "$0.0000586", "fits": "yes", "reason": "-",
                     "prefill_time_s": "8.98 min", "kv_cache_bytes": "40.0 GiB",
                     "throughput_output_tokens_per_s": "13.9", "prompt_tokens": "131,072",
                     "memory_bandwidth_tb_s": "3.35", "slo_attainment": "95.3%"}


def test_rows_table_shows_yes_no_and_dashes():
    table = text(render.rows_table("t", [{"name": "x", "verified": True, "window": None, "memory_gb": 80.0}],
                                   ["name", "verified", "window", render.Column("memory_gb", "memory (GB)")]))
    assert "yes" in table and "True" not in table and "None" not in table and "memory (GB)" in table


def test_sweep_table_has_readable_headers():
    from api.cli_plan import _sweep_table
    frame = pd.DataFrame({"point": [0, 1], "workload.arrival.rate_per_s": [2.0, 4.5], "deployment": ["a", "a"],
                          "cost_per_query_usd": [5.861e-05, 0.0123], "ttft_p99_s": [0.0451, 539.0],
                          "tpot_p99_s": [0.008, 0.02], "stable": [True, False],
                          "expected_accuracy": [float("nan"), 0.9]})
    table = text(_sweep_table("sweep", frame, ["workload.arrival.rate_per_s"]))
    for shown in ("$/query", "TTFT p99", "TPOT p99", "expected accuracy", "$0.0000586", "45.1 ms", "8.98 min",
                  "yes", "no", "90.0%"):
        assert shown in table, shown
    for raw in ("cost_per_query_usd", "ttft_p99_s", "True", "nan", "e-05"):
        assert raw not in table, raw


def test_validation_table_durations():
    report = {"by_op": {"matmul": {"n": 1200, "median_abs_pct_error": 3.21, "p90_abs_pct_error": None}},
              "overall": {"n": 1200, "median_abs_pct_error": 3.21, "p90_abs_pct_error": 9.5},
              "worst_rows": [{"op": "matmul", "shape": "1x2x3", "abs_pct_error": 40.0, "measured_s": 5.861e-05,
                              "predicted_s": 0.0001}]}
    table = text(render.validation_table("v", report))
    assert "1,200" in table and "58.6 µs measured / 100 µs predicted" in table and "e-05" not in table


def test_train_cost_and_explain_tables_read_plainly():
    train = ctxplan("train-cost", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--from-context", "8192",
                    "--curriculum", "32768=10e9,131072=5e9")
    assert train.code == 0, train.stderr
    assert "10.0B" in train.stdout and "e+" not in train.stdout and "$" in train.stdout and "days" in train.stdout
    explain = ctxplan("explain")
    assert explain.code == 0, explain.stderr
    assert "e+" not in explain.stdout and "e-0" not in explain.stdout and " GB" in explain.stdout


# ----- 7. output of the README's commands is ignored by git --------------------------------------------

def test_results_folder_is_git_ignored():
    out = subprocess.run(["git", "check-ignore", "-q", "results/summary.json"], cwd=ROOT, timeout=30)
    assert out.returncode == 0


# ----- 8. option-parsing errors stay one line with the help hint ---------------------------------------

@pytest.mark.parametrize("args,expected", [
    (["estimate", "--tp", "abc"], "error: invalid value for '--tp'"),
    (["run"], "error: missing argument 'scenario'"),
    (["estimate", "--tp"], "error: option '--tp' requires an argument"),
])
def test_option_errors_are_one_line_with_the_help_hint(args, expected):
    line = error_line(ctxplan(*args))
    assert line.startswith(expected) and line.endswith(f"(see 'ctxplan {args[0]} --help')"), line
