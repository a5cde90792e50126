"""Hostile input to every `ctxplan` command: one `error:` line on stderr, exit code 2, no traceback.

Cases run in-process through `api.cli_common.run_app`, the function the `ctxplan` console script
(`api.cli:main`) calls, so option parsing, the commands and the error handling are the real ones;
a few run the installed script in a subprocess to check that wiring.
"""

from __future__ import annotations

import copy
import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import typer
import yaml

from api.cli import app
from api.cli_common import run_app
from cli_runner import Outcome, ctxplan, small_scenario

ROOT = Path(__file__).resolve().parent.parent
CTXPLAN = str(Path(sys.executable).parent / "ctxplan")
COMPARISON = ROOT / "scenarios" / "support-knowledge-base.yaml"
SCENARIO = small_scenario("hostile")
HF_CONFIG = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
             "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 128256,
             "max_position_embeddings": 131072}
ESTIMATE = ["estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--prompt-tokens", "10",
            "--output-tokens", "1"]
TRAIN = ["train-cost", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--from-context", "8192"]


def assert_one_line_error(outcome: Outcome, fragment: str) -> None:
    lines = outcome.stderr.strip().splitlines()
    assert outcome.code == 2, outcome
    assert len(lines) == 1 and lines[0].startswith("error: "), outcome.stderr
    assert "Traceback" not in outcome.stderr and "internal error" not in outcome.stderr
    assert fragment in lines[0], lines[0]


@pytest.fixture
def files(tmp_path) -> Path:
    """A folder of hostile and harmless files the cases refer to as {dir}/NAME."""
    def scenario(name, mutate):
        data = copy.deepcopy(SCENARIO)
        mutate(data)
        (tmp_path / name).write_text(yaml.safe_dump(data))
    scenario("good.yaml", lambda d: None)
    (tmp_path / "non-utf8.yaml").write_bytes(b"name: caf\xe9\nseed: 1\n")
    (tmp_path / "deep-flow.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    (tmp_path / "deep-block.yaml").write_text("".join(" " * i + "a:\n" for i in range(5000)) + " " * 5000 + "b: 1\n")
    (tmp_path / "alias-bomb.yaml").write_text(
        "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]\n"
                                                for p, n in zip("abcdef", "bcdefg")) + "h: [*g,*g,*g,*g]\n")
    (tmp_path / "python-tag.yaml").write_text("!!python/object/apply:os.system ['true']\n")
    scenario("horizon-inf.yaml", lambda d: d["workload"].update(horizon_s=float("inf")))
    scenario("lognormal-huge.yaml", lambda d: d["workload"].update(
        prompt_tokens={"dist": "lognormal", "median": 1e300, "sigma": 1.0}))
    scenario("normal-huge.yaml", lambda d: d["workload"].update(
        output_tokens={"dist": "normal", "mean": 1e308, "std": 1e308}))
    scenario("price-inf.yaml", lambda d: d["deployments"][0].update(price_per_gpu_hour_usd=float("inf")))
    (tmp_path / "empty-dir").mkdir()
    (tmp_path / "hf-model").mkdir()
    (tmp_path / "hf-model" / "config.json").write_text(json.dumps(HF_CONFIG))
    scenario("model-dir.yaml", lambda d: d["deployments"][0].update(model=str(tmp_path / "empty-dir")))
    scenario("model-hf-dir.yaml", lambda d: d["deployments"][0].update(model=str(tmp_path / "hf-model")))
    scenario("hardware-dir.yaml", lambda d: d["deployments"][0].update(hardware=str(tmp_path / "empty-dir")))
    scenario("trace-dir.yaml", lambda d: d.update(
        workload={"arrival": {"process": "trace", "path": str(tmp_path / "empty-dir")}}))
    (tmp_path / "regular-file").write_text("not a folder\n")
    (tmp_path / "measured-inf.csv").write_text("op,m,n,k,dtype,measured_s\nmatmul,1,2,3,bf16,inf\n")
    return tmp_path


CASES = [
    # scenario files
    ("non-utf8", ["run", "{dir}/non-utf8.yaml"], "UTF-8"),
    ("non-utf8-compare", ["compare", "{dir}/non-utf8.yaml"], "UTF-8"),
    ("yaml-5000-deep-flow", ["run", "{dir}/deep-flow.yaml"], "deep-flow.yaml"),
    ("yaml-5000-deep-block", ["run", "{dir}/deep-block.yaml"], "deep-block.yaml"),
    ("yaml-alias-bomb", ["run", "{dir}/alias-bomb.yaml"], "alias-bomb.yaml"),
    ("yaml-python-tag", ["run", "{dir}/python-tag.yaml"], "python-tag.yaml"),
    ("horizon-inf", ["run", "{dir}/horizon-inf.yaml"], "workload.horizon_s"),
    ("lognormal-median-1e300", ["run", "{dir}/lognormal-huge.yaml"], "prompt_tokens"),
    ("normal-mean-1e308", ["run", "{dir}/normal-huge.yaml"], "output_tokens"),
    ("price-inf-json", ["run", "{dir}/price-inf.yaml", "--format", "json"], "price_per_gpu_hour_usd"),
    ("scenario-is-a-dir", ["run", "{dir}/empty-dir"], "empty-dir"),
    ("scenario-name-too-long", ["run", "x" * 5000 + ".yaml"], ".yaml"),
    # directories given as files
    ("model-dir", ["run", "{dir}/model-dir.yaml"], "deployments[0].model"),
    ("hardware-dir", ["run", "{dir}/hardware-dir.yaml"], "deployments[0].hardware"),
    ("trace-dir", ["run", "{dir}/trace-dir.yaml"], "workload.arrival.path"),
    ("hardware-override-dir", ["run", "{dir}/good.yaml", "--hardware", "{dir}/empty-dir"], "hardware"),
    ("estimate-model-dir", [*ESTIMATE[:2], "{dir}/empty-dir", *ESTIMATE[3:]], "model"),
    ("estimate-hardware-dir", [*ESTIMATE[:4], "{dir}/empty-dir", *ESTIMATE[5:]], "hardware"),
    ("validate-measurements-dir", ["validate", "--hardware", "h100-sxm", "--measurements", "{dir}/empty-dir"],
     "measurements"),
    # output paths
    ("out-under-a-file", ["run", "{dir}/good.yaml", "--out", "{dir}/regular-file/sub"], "--out"),
    ("out-in-proc", ["run", "{dir}/good.yaml", "--out", "/proc/ctxplan-x"], "--out"),
    ("out-is-a-file", ["run", "{dir}/good.yaml", "--out", "{dir}/regular-file"], "--out"),
    ("compare-out-is-a-file", ["compare", "{dir}/good.yaml", "--skip-capacity", "--out", "{dir}/regular-file"],
     "--out"),
    ("sweep-out-is-a-file", ["sweep", "{dir}/good.yaml", "--param", "seed=1,2", "--out", "{dir}/regular-file"],
     "--out"),
    ("sweep-report-is-a-dir", ["sweep", "{dir}/good.yaml", "--param", "seed=1", "--out", "{dir}/sweep",
                               "--report", "{dir}/empty-dir"], "--report"),
    ("plan-report-is-a-dir", ["plan", "{dir}/good.yaml", "--target-qps", "1", "--report", "{dir}/empty-dir"],
     "--report"),
    ("calibrate-out-is-a-dir", ["calibrate", "--device", "cpu", "--quick", "--out", "{dir}/empty-dir"], "--out"),
    ("calibrate-out-under-a-file", ["calibrate", "--device", "cpu", "--quick", "--out",
                                    "{dir}/regular-file/p.yaml"], "--out"),
    # estimate
    ("estimate-tp-0", [*ESTIMATE, "--tp", "0"], "--tp"),
    ("estimate-tp-negative", [*ESTIMATE, "--tp", "-4"], "--tp"),
    ("estimate-context-parallel-0", [*ESTIMATE, "--context-parallel", "0"], "--context-parallel"),
    ("estimate-pipeline-parallel-0", [*ESTIMATE, "--pipeline-parallel", "0"], "--pipeline-parallel"),
    ("estimate-prompt-past-context", [*ESTIMATE[:6], "1" + "0" * 30, *ESTIMATE[7:]], "prompt_tokens"),
    # sweep
    ("sweep-unbounded-range", ["sweep", "{dir}/good.yaml", "--param", "seed=1..1000000000000000"], "seed"),
    ("sweep-huge-log-count", ["sweep", "{dir}/good.yaml", "--param", "seed=log:1..1e300:1000000000000"], "seed"),
    ("sweep-grid-too-large", ["sweep", "{dir}/good.yaml", "--param", "seed=1..100", "--param", "seed=1..100",
                              "--param", "seed=1..100"], "10,000"),
    ("sweep-infinite-value", ["sweep", "{dir}/good.yaml", "--param", "workload.arrival.rate_per_s=.inf"],
     "rate_per_s"),
    ("sweep-no-equals", ["sweep", "{dir}/good.yaml", "--param", "seed"], "PATH=VALUES"),
    ("sweep-step-0", ["sweep", "{dir}/good.yaml", "--param", "seed=1..3:0"], "STEP"),
    # plan
    ("plan-qps-inf", ["plan", "{dir}/good.yaml", "--target-qps", "inf"], "--target-qps"),
    ("plan-qps-nan", ["plan", "{dir}/good.yaml", "--target-qps", "nan"], "--target-qps"),
    ("plan-qps-negative", ["plan", "{dir}/good.yaml", "--target-qps", "-3"], "--target-qps"),
    ("plan-slo-negative", ["plan", "{dir}/good.yaml", "--target-qps", "1", "--slo-ttft-p99", "-1"],
     "--slo-ttft-p99"),
    ("plan-requests-0", ["plan", "{dir}/good.yaml", "--target-qps", "1", "--requests", "0"], "--requests"),
    ("plan-requests-huge", ["plan", "{dir}/good.yaml", "--target-qps", "1", "--requests", "10" * 6],
     "requests: Input should be less than or equal to 10000000"),
    ("plan-unknown-hardware", ["plan", "{dir}/good.yaml", "--target-qps", "1", "--hardware", "h1000"],
     "--hardware"),
    ("plan-tp-not-integers", ["plan", "{dir}/good.yaml", "--target-qps", "1", "--tp", "a,b"], "tp"),
    ("plan-chunk-huge", ["plan", "{dir}/good.yaml", "--target-qps", "1", "--chunk", "9" * 20], "chunk"),
    ("plan-comparison-scenario", ["plan", str(COMPARISON), "--target-qps", "1"], "ctxplan compare"),
    # crossover
    ("crossover-vary-inf", ["crossover", str(COMPARISON), "--vary", "document_tokens=1..inf"], "--vary"),
    ("crossover-vary-inverted", ["crossover", str(COMPARISON), "--vary", "document_tokens=1M..8k"], "--vary"),
    ("crossover-unknown-metric", ["crossover", str(COMPARISON), "--vary", "document_tokens=8k..16k",
                                  "--metric", "x"], "--metric"),
    # train-cost, explain
    ("train-tokens-inf", [*TRAIN, "--to-context", "32768", "--tokens", "inf"], "--tokens"),
    ("train-tokens-nan", [*TRAIN, "--to-context", "32768", "--tokens", "nan"], "--tokens"),
    ("train-price-inf-json", [*TRAIN, "--to-context", "32768", "--tokens", "1e9", "--price", "inf", "--format",
                              "json"], "--price"),
    ("train-price-negative", [*TRAIN, "--to-context", "32768", "--tokens", "1e9", "--price", "-5"], "--price"),
    ("train-context-huge", [*TRAIN, "--to-context", "9" * 20, "--tokens", "1e9"], "--to-context"),
    ("train-curriculum-tokens-inf", [*TRAIN, "--curriculum", "32768=inf"], "curriculum"),
    ("train-curriculum-context-inf", [*TRAIN, "--curriculum", "inf=1e9"], "curriculum"),
    ("explain-context-huge", ["explain", "--context", "9" * 20], "context"),
    # measurements
    ("validate-measured-inf", ["validate", "--hardware", "h100-sxm", "--measurements",
     "{dir}/measured-inf.csv"], "measured_s"),
    # option parsing: one line with the command's help hint
    ("unknown-option", ["run", "{dir}/good.yaml", "--foo"], "no such option: --foo"),
    ("missing-argument", ["run"], "missing argument"),
    ("missing-option", ["sweep", "{dir}/good.yaml"], "missing option '--param'"),
    ("bad-integer", ["run", "{dir}/good.yaml", "--seed", "x"], "--seed"),
    ("seed-past-int64", ["run", "{dir}/good.yaml", "--seed", "9" * 25], "--seed"),
    ("bad-choice", ["models", "--format", "xml"], "--format"),
    ("unknown-command", ["nosuch"], "no such command"),
    ("extra-argument", ["hardware", "extra"], "unexpected extra argument"),
    ("null-byte-in-path", ["run", "a\x00b.yaml"], "null byte"),
]


CASES = [pytest.param(*case[1:], id=case[0]) for case in CASES]


@pytest.mark.parametrize("args,fragment", CASES)
def test_hostile_input_is_one_line_exit_2(files, args, fragment):
    outcome = ctxplan(*[a.replace("{dir}", str(files)) for a in args])
    assert_one_line_error(outcome, fragment)


@pytest.mark.parametrize("args", [["run", "--foo"], ["estimate", "--tp", "x"], ["nosuch"], ["run"]])
def test_option_errors_name_the_command_help(args):
    outcome = ctxplan(*args)
    command = "ctxplan" if args == ["nosuch"] else f"ctxplan {args[0]}"
    assert outcome.stderr.strip().endswith(f"(see '{command} --help')"), outcome.stderr


def test_help_still_exits_0_everywhere():
    assert ctxplan().code == 0 and "Usage: ctxplan" in ctxplan().stdout       # no arguments: the help
    commands = typer.main.get_command(app).commands
    assert {"run", "compare", "estimate", "plan", "sweep", "crossover", "train-cost", "explain", "calibrate",
            "validate", "schema", "models", "hardware", "serve"} <= set(commands)
    for name in commands:
        outcome = ctxplan(name, "--help")
        assert outcome.code == 0 and f"Usage: ctxplan {name}" in outcome.stdout and outcome.stderr == "", name


def test_a_folder_holding_config_json_stays_a_valid_model(files):
    estimate = ctxplan(*ESTIMATE[:2], files / "hf-model", *ESTIMATE[3:], "--format", "json")
    assert estimate.code == 0, estimate.stderr
    assert json.loads(estimate.stdout)["fits"] is True
    run = ctxplan("run", files / "model-hf-dir.yaml", "--format", "json")
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["deployments"][0]["metrics"]["num_completed"] == 20


def test_refused_out_is_checked_before_the_simulation(files, monkeypatch):
    import simulator.results.runner
    monkeypatch.setattr(simulator.results.runner, "run", lambda *a, **k: pytest.fail("simulated before checking --out"))
    assert_one_line_error(ctxplan("run", files / "good.yaml", "--out", files / "regular-file"), "--out")


def test_unbounded_sweep_fails_without_allocating(files):
    """The range is refused from its length alone: under a 3 GiB address-space limit (a list of 10^15 values
    would need petabytes), and with a timeout only as a guard against a hang."""
    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
    out = subprocess.run([CTXPLAN, "sweep", str(files / "good.yaml"), "--param", "seed=1..1000000000000000",
                          "--out", str(files / "sweep")], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         preexec_fn=limit_memory)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [out.stderr.strip()] and "10,000" in out.stderr
    assert not (files / "sweep" / "results.csv").exists()


def test_installed_script_prints_one_line_usage_errors():
    out = subprocess.run([CTXPLAN, "run", "--foo"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip() == "error: no such option: --foo (Possible options: --format, --out) " \
                                 "(see 'ctxplan run --help')"
    assert out.stdout == ""


def _broken_app() -> typer.Typer:
    broken = typer.Typer()

    @broken.command()
    def boom():
        raise RuntimeError("an invariant broke\nsecond line")

    @broken.command()
    def fine():
        print("ok")
    return broken


def test_an_unexpected_exception_is_an_internal_error_not_a_user_error(monkeypatch, capsys):
    monkeypatch.delenv("CTXPLAN_DEBUG", raising=False)
    assert run_app(_broken_app(), ["boom"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("error: internal error (RuntimeError: an invariant broke second line); "
                   "rerun with CTXPLAN_DEBUG=1 for the traceback")
    assert run_app(_broken_app(), ["fine"]) == 0
    monkeypatch.setenv("CTXPLAN_DEBUG", "1")
    with pytest.raises(RuntimeError, match="an invariant broke"):
        run_app(_broken_app(), ["boom"])


@pytest.mark.parametrize("price", ["h100-sxm=abc", "h200=2"])
def test_a_bad_price_is_one_line_from_the_console_script(price):
    """Through the real entry point (the progress bar writes to the process's stderr): nothing but the error."""
    done = subprocess.run([CTXPLAN, "plan", str(ROOT / "scenarios" / "quickstart.yaml"), "--target-qps", "1",
                           "--price", price], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("error: --price") and done.stderr.count("\n") == 1, \
        done.stderr
