"""The `ctxplan` command line: run scenarios, estimate one request shape, list catalogs, print the schema.

JSON output goes to stdout and holds no wall-clock times: the same scenario and seed print the
same bytes. Errors caused by input print one line to stderr and exit 2.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from enum import Enum
from functools import wraps
from pathlib import Path
from typing import Annotated, Optional, get_args

import typer
import yaml
from rich.console import Console

from simulator import scenario as scenario_schema
from simulator.errors import CtxplanError, InputError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Cost and capacity planner for serving long-context LLMs.")
stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 220)   # pipes and files get wide tables
stderr = Console(stderr=True)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"


# the dtype choices of scenario files (simulator.scenario.KVDtype / WeightDtype), as enums typer can show
AttentionImpl = Enum("AttentionImpl", {name: name for name in ("flash", "naive")}, type=str)
KVDtype = Enum("KVDtype", {name: name for name in get_args(scenario_schema.KVDtype)}, type=str)
WeightDtype = Enum("WeightDtype", {name: name for name in get_args(scenario_schema.WeightDtype)}, type=str)


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code=2)


def user_errors(func):
    """Turn ctxplan's input errors into one line on stderr and exit code 2."""
    @wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except CtxplanError as exc:
            _fail(str(exc))
    return wrapper


def _print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, allow_nan=False) + "\n")


class _LazyProgress:
    """A progress bar on stderr that appears only once a run has taken more than a second."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.start = time.perf_counter()
        self.progress = None
        self.tasks: dict[int, int] = {}
        self.last_refresh = 0.0

    def __call__(self, index: int, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - self.last_refresh < 0.1 and done < total:
            return
        self.last_refresh = now
        if self.progress is None:
            if now - self.start < 1.0:
                return
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=stderr, transient=True, auto_refresh=False)
            self.progress.start()
        if index not in self.tasks:
            self.tasks[index] = self.progress.add_task(self.names[index], total=total)
        self.progress.update(self.tasks[index], completed=done, refresh=True)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _write_outputs(out_dir: Path, result, spec_dict: dict) -> None:
    """records (Parquet and CSV), summary.json and the resolved scenario; each file replaced atomically."""
    import pandas as pd
    out_dir.mkdir(parents=True, exist_ok=True)
    frames = []
    for deployment in result.deployments:
        frame = deployment.records.copy()
        frame.insert(0, "deployment", deployment.name)
        frames.append(frame)
    records = pd.concat(frames, ignore_index=True)

    def atomic(name: str, write) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out_dir)
        os.close(fd)
        try:
            write(tmp)
            os.replace(tmp, out_dir / name)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    atomic("records.parquet", lambda p: records.to_parquet(p, index=False))
    atomic("records.csv", lambda p: records.to_csv(p, index=False))
    atomic("summary.json", lambda p: Path(p).write_text(json.dumps(result.to_json_dict(), indent=2) + "\n"))
    atomic("scenario.resolved.yaml", lambda p: Path(p).write_text(yaml.safe_dump(spec_dict, sort_keys=False)))


@app.command()
@user_errors
def run(scenario: Annotated[Path, typer.Argument(help="scenario YAML file")],
        seed: Annotated[Optional[int], typer.Option(help="override the scenario's seed", min=0)] = None,
        hardware: Annotated[Optional[str], typer.Option(help="replace every deployment's hardware "
                                                             "(catalog name or profile file)")] = None,
        out: Annotated[Optional[Path], typer.Option(help="write records, summary.json and the resolved "
                                                         "scenario to this folder")] = None,
        format: Annotated[OutputFormat, typer.Option("--format", help="table or json")] = OutputFormat.table,
        exact: Annotated[bool, typer.Option("--exact", help="step every engine iteration (the reference for "
                                                           "skip-ahead; slower)")] = False):
    """Simulate a scenario file and print latency, capacity and cost per deployment."""
    from api.render import run_table
    from simulator.runner import run as run_scenario
    from simulator.scenario import load_scenario

    spec, base_dir = load_scenario(scenario)
    progress = _LazyProgress([d.name for d in spec.deployments])
    try:
        result = run_scenario(spec, base_dir=base_dir, seed=seed, hardware_override=hardware, progress=progress,
                              exact=exact)
    except InputError as exc:
        raise exc.in_file(str(scenario)) from None
    finally:
        progress.close()
    if out is not None:
        resolved = spec.model_dump(mode="json")
        resolved["seed"] = result.seed
        if hardware:
            for deployment in resolved["deployments"]:
                deployment["hardware"] = hardware
        _write_outputs(out, result, resolved)
    if format is OutputFormat.json:
        _print_json(result.to_json_dict())
    else:
        stdout.print(run_table(result))
        for d in result.deployments:
            for note in d.resolved.notes:
                stdout.print(f"[dim]{d.name}: {note}[/dim]")
            reasons = d.metrics["reject_reasons"]
            if reasons:
                stdout.print(f"[yellow]{d.name}: rejected {reasons}[/yellow] "
                             f"(first: {d.records.loc[d.records.status == 'rejected', 'reject_reason'].iloc[0]})")
            if d.metrics["num_clipped"]:
                stdout.print(f"[dim]{d.name}: {d.metrics['num_clipped']} requests clipped to the model's context[/dim]")
        if out is not None:
            stdout.print(f"wrote {out}/records.parquet, records.csv, summary.json, scenario.resolved.yaml")


@app.command()
@user_errors
def estimate(model: Annotated[str, typer.Option(help="catalog name, config.json or model YAML")],
             hardware: Annotated[str, typer.Option(help="catalog name or profile YAML")],
             prompt_tokens: Annotated[int, typer.Option(help="prompt length in tokens")],
             output_tokens: Annotated[int, typer.Option(help="output length in tokens")],
             tp: Annotated[int, typer.Option(help="tensor-parallel degree")] = 1,
             kv_dtype: Annotated[KVDtype, typer.Option(help="KV cache dtype")] = KVDtype("bf16"),
             weight_dtype: Annotated[WeightDtype, typer.Option(help="weight dtype")] = WeightDtype("bf16"),
             context_parallel: Annotated[int, typer.Option(help="GPUs each sequence is sharded over (ring attention)")] = 1,
             pipeline_parallel: Annotated[int, typer.Option(help="pipeline stages")] = 1,
             expert_parallel: Annotated[int, typer.Option(help="1, or tp: MoE experts spread whole over the TP group")] = 1,
             attention_impl: Annotated[AttentionImpl, typer.Option(help="flash or naive (materialised scores)")] =
             AttentionImpl("flash"),
             format: Annotated[OutputFormat, typer.Option("--format", help="table or json")] = OutputFormat.table):
    """Closed-form memory, fit, latency and cost for one request shape (no simulation)."""
    from api.render import key_value_table
    from simulator.catalog import resolve_hardware, resolve_model
    from simulator.estimate import estimate as run_estimate

    result = run_estimate(resolve_model(model), resolve_hardware(hardware), prompt_tokens, output_tokens, tp=tp,
                          weight_dtype=weight_dtype.value, kv_dtype=kv_dtype.value,
                          context_parallel=context_parallel, pipeline_parallel=pipeline_parallel,
                          expert_parallel=expert_parallel, attention_impl=attention_impl.value)
    if format is OutputFormat.json:
        _print_json(result)
    else:
        stdout.print(key_value_table(f"estimate: {result['model']} on {result['hardware']} x{result['num_gpus']}",
                                     result))


@app.command()
@user_errors
def models(format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table):
    """List the model catalog."""
    from api.render import rows_table
    from simulator.catalog import model_rows
    rows = [r.model_dump(mode="json") for r in model_rows()]
    if format is OutputFormat.json:
        _print_json(rows)
    else:
        stdout.print(rows_table("models", rows, ["name", "params_total_b", "params_active_b", "num_layers",
                                                 "num_kv_heads", "attention", "local_window_tokens",
                                                 "max_context_tokens", "verified"]))


@app.command("hardware")
@user_errors
def hardware_list(format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table):
    """List the hardware catalog."""
    from api.render import rows_table
    from simulator.catalog import hardware_rows
    rows = [r.model_dump(mode="json", exclude_none=False) for r in hardware_rows()]
    if format is OutputFormat.json:
        _print_json(rows)
    else:
        stdout.print(rows_table("hardware", rows, ["name", "memory_gb", "memory_bandwidth_tb_s",
                                                   "bf16_dense_tflops", "fp8_dense_tflops", "interconnect_gb_s",
                                                   "on_demand_usd_per_gpu_hour", "verified"]))


def _load_any(path: Path):
    from simulator.errors import InputError as _InputError
    from simulator.scenario_files import load_any_scenario
    try:
        return load_any_scenario(path)
    except _InputError as exc:
        raise exc.in_file(str(path)) from None


@app.command("compare")
@user_errors
def compare_command(scenario: Annotated[Path, typer.Argument(help="scenario YAML file")],
                    out: Annotated[Optional[Path], typer.Option(help="write compare.json to this folder")] = None,
                    skip_capacity: Annotated[bool, typer.Option("--skip-capacity",
                                                                help="skip the max sustainable rate search")] = False,
                    format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table):
    """RAG vs long context vs hybrid: cost, latency, capacity and expected accuracy side by side."""
    from api.render import compare_table
    from simulator.compare import compare
    spec, base_dir = _load_any(scenario)
    show = (lambda name: stderr.print(f"[dim]simulating {name}...[/dim]")) if sys.stderr.isatty() else None
    try:
        result = compare(spec, base_dir, search_capacity=not skip_capacity, progress=show)
    except InputError as exc:
        raise exc.in_file(str(scenario)) from None
    data = result.to_json_dict()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / ".compare.json.tmp"
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, out / "compare.json")
    if format is OutputFormat.json:
        _print_json(data)
        return
    stdout.print(compare_table(result))
    stdout.print(f"winner on cost at the SLO: [bold]{result.winner_on_cost or 'none'}[/bold] ({result.cost_note})")
    stdout.print(f"winner on quality: [bold]{result.winner_on_quality or 'n/a'}[/bold] "
                 "(expected accuracy is a prior from published results, not a measurement)")


@app.command()
@user_errors
def crossover(scenario: Annotated[Path, typer.Argument(help="scenario YAML file")],
              vary: Annotated[str, typer.Option(help="NAME=LOW..HIGH: document_tokens, rate_per_s or "
                                                     "num_documents, e.g. document_tokens=8k..1M")],
              points: Annotated[int, typer.Option(help="grid points", min=3, max=25)] = 7,
              metric: Annotated[str, typer.Option(help="busy_cost_per_query_usd, cost_per_query_usd or "
                                                       "cost_per_correct_answer_usd")] = "busy_cost_per_query_usd",
              format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table):
    """Where does the cheaper deployment change as one parameter grows?"""
    from api.render import crossover_table
    from simulator.crossover import crossover as run_crossover, parse_vary
    name, low, high = parse_vary(vary)
    spec, base_dir = _load_any(scenario)
    try:
        result = run_crossover(spec, name, low, high, points, metric, base_dir)
    except InputError as exc:
        raise exc.in_file(str(scenario)) from None
    if format is OutputFormat.json:
        _print_json(result)
        return
    stdout.print(crossover_table(result))
    if not result["crossovers"]:
        stdout.print(f"no crossover: {result['rows'][0]['cheapest']} is cheapest across the range")
    for switch in result["crossovers"]:
        stdout.print(f"crossover: {switch['from']} -> {switch['to']} at {name} ~ {switch['value']:,.0f}")


class Device(str, Enum):
    auto = "auto"
    cuda = "cuda"
    cpu = "cpu"


@app.command()
@user_errors
def calibrate(out: Annotated[Path, typer.Option(help="profile YAML to write (measurement CSVs go beside it)")],
              device: Annotated[Device, typer.Option(help="device to time")] = Device.auto,
              quick: Annotated[bool, typer.Option("--quick", help="small grid (CPU: under 2 minutes)")] = False,
              base_profile: Annotated[Optional[str], typer.Option(help="catalog entry whose datasheet peaks "
                                                                        "to keep (GPU default: guessed)")] = None,
              format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table):
    """Time attention, matmul and copy kernels here and fit a hardware profile to them."""
    try:
        from kernels.calibrate import calibrate as run_calibration
    except ImportError as exc:
        _fail(f"calibration needs torch ({exc}); install the kernels extra: pip install 'ctxplan[kernels]'")
    if base_profile is not None:
        from simulator.catalog import resolve_hardware
        resolve_hardware(base_profile, field="--base-profile")
    stderr.print(f"timing kernels on {device.value} ({'quick' if quick else 'full'} grid)...")
    report = run_calibration(device.value, quick, out, base_profile)
    if format is OutputFormat.json:
        _print_json(report)
        return
    from api.render import validation_table
    stdout.print(f"wrote {report['profile']} (device: {report['device']}, base: {report['base_profile']}, "
                 f"{report['num_measurements']} kernels)")
    stdout.print(validation_table("fitted rows", report["fit"]))
    stdout.print(validation_table("held-out rows (not fitted)", report["holdout"]))
    stdout.print(f"check it: ctxplan validate --hardware {report['profile']} --measurements {report['files']['holdout']}")


@app.command()
@user_errors
def validate(hardware: Annotated[str, typer.Option(help="catalog name or profile YAML")],
             measurements: Annotated[Optional[Path], typer.Option(help="measurement CSV or Parquet")] = None,
             engine: Annotated[bool, typer.Option("--engine", help="run the tiny real engine here and compare "
                                                               "with the simulator")] = False,
             device: Annotated[Device, typer.Option(help="device for --engine")] = Device.auto,
             format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table):
    """Predicted versus measured kernel times (or, with --engine, a real engine run)."""
    from simulator.catalog import resolve_hardware
    profile = resolve_hardware(hardware, field="--hardware")
    if engine == (measurements is not None):
        _fail("give exactly one of --measurements FILE or --engine")
    if engine:
        try:
            import torch  # noqa: F401  (fail early with a clear message when torch is missing)
            from kernels.engine_check import engine_check
            from kernels.microbench import resolve_device
        except ImportError as exc:
            _fail(f"--engine needs torch ({exc}); install the kernels extra: pip install 'ctxplan[kernels]'")
        report = engine_check(profile, resolve_device(device.value))
    else:
        from simulator.measurements import load_measurements
        from simulator.validation import validate_rows
        report = validate_rows(profile, load_measurements(measurements))
    if format is OutputFormat.json:
        _print_json(report)
        return
    from api.render import validation_table
    title = f"{profile.name}: " + ("engine check (predicted vs measured)" if engine else str(measurements))
    stdout.print(validation_table(title, report))


@app.command()
def serve(host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="port", min=1, max=65535)] = 8000,
          workers: Annotated[int, typer.Option(help="uvicorn worker processes", min=1, max=64)] = 1):
    """Run the HTTP service (settings from CTXPLAN_* environment variables)."""
    import uvicorn
    uvicorn.run("api.main:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False)


class SchemaKind(str, Enum):
    serving = "serving"
    comparison = "comparison"


@app.command()
def schema(kind: Annotated[SchemaKind, typer.Option("--kind", help="serving scenarios (ctxplan run) or "
                                                                  "comparison scenarios (ctxplan compare)")]
           = SchemaKind.serving):
    """Print the JSON Schema of scenario files."""
    if kind is SchemaKind.comparison:
        from simulator.comparison_spec import ComparisonSpec
        _print_json(ComparisonSpec.model_json_schema())
    else:
        from simulator.scenario import ScenarioSpec
        _print_json(ScenarioSpec.model_json_schema())


if __name__ == "__main__":
    app()
