"""The `ctxplan` command line: run scenarios, estimate one request shape, list catalogs, print the schema.

JSON output goes to stdout and holds no wall-clock times: the same scenario and seed print the
same bytes. Errors caused by input print one line to stderr and exit 2. Commands live in
api/cli*.py modules, all registered on one Typer app (`api.cli:app`); the `ctxplan` script is
`api.cli:main`, which runs that app with one-line option-parsing errors (see api/cli_common.py).
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from simulator.errors import InputError

from api.cli_common import (AttentionImpl, KVDtype, OutputFormat, WeightDtype, _fail, _LazyProgress,  # noqa: F401
                            _print_json, _write_outputs, app, output_dir, run_app, stderr, stdout,
                            user_errors)


@app.command()
@user_errors
def run(scenario: Annotated[Path, typer.Argument(help="scenario YAML file")],
        seed: Annotated[Optional[int], typer.Option(help="override the scenario's seed", min=0, max=2**63 - 1)]
        = None,
        hardware: Annotated[Optional[str], typer.Option(help="replace every deployment's hardware "
                                                             "(catalog name or profile file)")] = None,
        out: Annotated[Optional[Path], typer.Option(help="write records, summary.json and the resolved "
                                                         "scenario to this folder")] = None,
        format: Annotated[OutputFormat, typer.Option("--format", help="table or json")] = OutputFormat.table,
        exact: Annotated[bool, typer.Option("--exact", help="step every engine iteration (the reference for "
                                                           "skip-ahead; slower)")] = False):
    """Simulate a scenario file and print latency, capacity and cost per deployment."""
    from api.render import run_table
    from simulator.results.runner import run as run_scenario
    from simulator.specs.scenario import load_scenario

    spec, base_dir = load_scenario(scenario)
    if out is not None:
        output_dir(out)                        # refused before the simulation, not after it
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
            reasons = d.summary.reject_reasons
            if reasons:
                stdout.print(f"[yellow]{d.name}: rejected {reasons}[/yellow] "
                             f"(first: {d.records.loc[d.records.status == 'rejected', 'reject_reason'].iloc[0]})")
            if d.summary.num_clipped:
                stdout.print(f"[dim]{d.name}: {d.summary.num_clipped} requests clipped to the model's context[/dim]")
        if out is not None:
            stdout.print(f"wrote {out}/records.parquet, records.csv, summary.json, scenario.resolved.yaml")


@app.command()
@user_errors
def estimate(model: Annotated[str, typer.Option(help="catalog name, config.json or model YAML")],
             hardware: Annotated[str, typer.Option(help="catalog name or profile YAML")],
             prompt_tokens: Annotated[int, typer.Option(help="prompt length in tokens")],
             output_tokens: Annotated[int, typer.Option(help="output length in tokens")],
             tp: Annotated[int, typer.Option("--tp", "--tensor-parallel", help="tensor-parallel degree", min=1)] = 1,
             kv_dtype: Annotated[KVDtype, typer.Option(help="KV cache dtype")] = KVDtype("bf16"),
             weight_dtype: Annotated[WeightDtype, typer.Option(help="weight dtype")] = WeightDtype("bf16"),
             context_parallel: Annotated[int, typer.Option(help="GPUs each sequence is sharded over (ring attention)",
                                                           min=1)] = 1,
             pipeline_parallel: Annotated[int, typer.Option(help="pipeline stages", min=1)] = 1,
             expert_parallel: Annotated[int, typer.Option(help="1, or tp: MoE experts spread whole over the TP group",
                                                          min=1)] = 1,
             attention_impl: Annotated[AttentionImpl, typer.Option(help="flash or naive (materialised scores)")] =
             AttentionImpl("flash"),
             format: Annotated[OutputFormat, typer.Option("--format", help="table or json")] = OutputFormat.table):
    """Closed-form memory, fit, latency and cost for one request shape (no simulation)."""
    from api.render_estimate import estimate_table
    from simulator.catalog import resolve_hardware, resolve_model
    from simulator.results.estimate import estimate as run_estimate

    result = run_estimate(resolve_model(model), resolve_hardware(hardware), prompt_tokens, output_tokens, tp=tp,
                          weight_dtype=weight_dtype.value, kv_dtype=kv_dtype.value,
                          context_parallel=context_parallel, pipeline_parallel=pipeline_parallel,
                          expert_parallel=expert_parallel, attention_impl=attention_impl.value)
    if format is OutputFormat.json:
        _print_json(result.to_json_dict())
    else:
        stdout.print(estimate_table(result))


@app.command()
@user_errors
def models(format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table):
    """List the model catalog."""
    from api.render import Column, rows_table
    from simulator.catalog import model_rows
    rows = [r.model_dump(mode="json") for r in model_rows()]
    if format is OutputFormat.json:
        _print_json(rows)
    else:
        stdout.print(rows_table("models", rows, [
            Column("name", "name", justify="left"), Column("params_total_b", "params (B)"),
            Column("params_active_b", "active params (B)"), Column("num_layers", "layers"),
            Column("num_kv_heads", "KV heads"), Column("attention", "attention", justify="left"),
            Column("local_window_tokens", "local window (tokens)"),
            Column("max_context_tokens", "max context (tokens)"), Column("verified", "verified")]))


@app.command("hardware")
@user_errors
def hardware_list(format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table):
    """List the hardware catalog."""
    from api.render import Column, rows_table
    from simulator.catalog import hardware_rows
    rows = [r.model_dump(mode="json", exclude_none=False) for r in hardware_rows()]
    if format is OutputFormat.json:
        _print_json(rows)
    else:
        stdout.print(rows_table("hardware", rows, [
            Column("name", "name", justify="left"), Column("memory_gb", "memory (GB)"),
            Column("memory_bandwidth_tb_s", "bandwidth (TB/s)"), Column("bf16_dense_tflops", "BF16 TFLOPS"),
            Column("fp8_dense_tflops", "FP8 TFLOPS"), Column("fp4_dense_tflops", "FP4 TFLOPS"),
            Column("interconnect_gb_s", "interconnect (GB/s)"),
            Column("on_demand_usd_per_gpu_hour", "on-demand $/GPU-hour"), Column("verified", "verified")]))


@app.command()
@user_errors
def serve(host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="port", min=1, max=65535)] = 8000,
          workers: Annotated[int, typer.Option(help="HTTP worker processes: 1 (the job runner lives in it; "
                                                    "CTXPLAN_JOB_WORKERS sets parallel jobs)")] = 1):
    """Run the HTTP service and its job runner (settings from CTXPLAN_* environment variables)."""
    from api.server import serve as serve_http
    serve_http(host, port, workers)


class SchemaKind(str, Enum):
    serving = "serving"
    comparison = "comparison"


@app.command()
def schema(kind: Annotated[SchemaKind, typer.Option("--kind", help="serving scenarios (ctxplan run) or "
                                                                  "comparison scenarios (ctxplan compare)")]
           = SchemaKind.serving):
    """Print the JSON Schema of scenario files."""
    if kind is SchemaKind.comparison:
        from simulator.specs.comparison import ComparisonSpec
        _print_json(ComparisonSpec.model_json_schema())
    else:
        from simulator.specs.scenario import ScenarioSpec
        _print_json(ScenarioSpec.model_json_schema())


# the other command groups register themselves on `app` when imported
from api import cli_compare, cli_kernels, cli_longctx, cli_plan  # noqa: E402,F401


def main(argv: list[str] | None = None) -> None:
    """The `ctxplan` console script: `app` with one-line usage errors (exit 2) and internal errors (exit 1)."""
    sys.exit(run_app(app, argv))


if __name__ == "__main__":
    main()
