"""`ctxplan train-cost` and `ctxplan explain`: what long context costs to train and to serve."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from api import units
from api.cli_common import OutputFormat, _print_json, app, finite, stdout, user_errors

MAX_CONTEXT_TOKENS = 100_000_000          # the longest context either command accepts


@app.command("train-cost")
@user_errors
def train_cost(model: Annotated[str, typer.Option(help="catalog name, config.json or model YAML")],
               hardware: Annotated[str, typer.Option(help="catalog name or profile YAML")],
               from_context: Annotated[int, typer.Option(help="the model's current training length", min=1,
                                                         max=MAX_CONTEXT_TOKENS)],
               to_context: Annotated[Optional[int], typer.Option(help="target length (one stage)", min=1,
                                                                 max=MAX_CONTEXT_TOKENS)] = None,
               tokens: Annotated[Optional[float], typer.Option(help="tokens trained at --to-context, e.g. 20e9",
                                                               callback=finite(0, above=True))] = None,
               curriculum: Annotated[Optional[str], typer.Option(help="several stages: CONTEXT=TOKENS,... "
                                                                      "(e.g. 32768=10e9,131072=5e9)")] = None,
               num_gpus: Annotated[int, typer.Option(help="GPUs training together (wall time)")] = 8,
               price: Annotated[Optional[float], typer.Option(help="USD per GPU-hour (default: catalog on-demand)",
                                                              callback=finite(0))] = None,
               format: Annotated[OutputFormat, typer.Option("--format", help="table or json")] = OutputFormat.table):
    """FLOPs, GPU-hours, dollars and wall time of continued pre-training that extends the context."""
    from rich.table import Table

    from simulator.catalog import resolve_hardware, resolve_model
    from simulator.errors import InputError
    from simulator.results.longctx import parse_curriculum
    from simulator.results.longctx import train_cost as compute

    if curriculum is not None:
        if to_context is not None or tokens is not None:
            raise InputError("give either --curriculum or --to-context with --tokens", field="curriculum")
        stages = parse_curriculum(curriculum)
    else:
        if to_context is None or tokens is None:
            raise InputError("--to-context and --tokens are required (or --curriculum)", field="to_context")
        stages = [(to_context, tokens)]
    result = compute(resolve_model(model), resolve_hardware(hardware), from_context, stages, num_gpus, price)
    if format is OutputFormat.json:
        _print_json(result)
        return
    table = Table(title=f"continued pre-training: {result['model']} on {num_gpus} x {result['hardware']} "
                        f"from {units.count(from_context)} tokens")
    for column in ("context (tokens)", "tokens trained", "GFLOP/token", "attention share", "per-sample cost vs from",
                   "GPU-hours", "cost", "wall time"):
        table.add_column(column, justify="right")
    table.add_row(units.count(from_context), units.MISSING, units.rate(result["from_context_flops_per_token"] / 1e9),
                  units.share(result["from_context_attention_share"]), "1.00x", *[units.MISSING] * 3)
    for s in result["stages"]:
        table.add_row(units.count(s["context_tokens"]), _tokens(s["tokens"]), units.rate(s["flops_per_token"] / 1e9),
                      units.share(s["attention_share"]), f"{units.rate(s['per_sample_cost_ratio_vs_from_context'])}x",
                      units.count(s["gpu_hours"]), units.usd(s["cost_usd"]),
                      units.duration(s["wall_time_hours"] * 3600))
    stdout.print(table)
    stdout.print(f"total: {units.count(result['total_gpu_hours'])} GPU-hours, {units.usd(result['total_cost_usd'])}, "
                 f"{units.duration(result['total_wall_time_hours'] * 3600)} on {num_gpus} GPUs. MFUs are assumptions "
                 "(simulator/catalog/training.yaml).")


def _tokens(value: float) -> str:
    """A token count for people: 20e9 -> "20.0B", 5e8 -> "500M", 32768 -> "32,768"."""
    for scale, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if value >= scale:
            return f"{units.significant(value / scale)}{suffix}"
    return units.count(value)


@app.command()
@user_errors
def explain(context: Annotated[int, typer.Option(help="long context length, tokens")] = 131072,
            short: Annotated[int, typer.Option(help="short context for the prefill ratio")] = 4096,
            model: Annotated[str, typer.Option(help="model for the prefill ratio")] = "llama-3.1-8b",
            hardware: Annotated[str, typer.Option(help="hardware for the prefill time ratio")] = "h100-sxm",
            format: Annotated[OutputFormat, typer.Option("--format", help="table or json")] = OutputFormat.table):
    """The numbers long-context discussions quote, recomputed from the catalogs."""
    from rich.table import Table

    from simulator.errors import InputError
    from simulator.results.longctx import explain_rows

    for name, value in (("context", context), ("short", short)):
        if not 16 <= value <= MAX_CONTEXT_TOKENS:
            raise InputError("out of range", field=name, value=value, allowed=f"16..{MAX_CONTEXT_TOKENS}")
    if short >= context:
        raise InputError(f"must be below --context {context}", field="short", value=short)
    rows = explain_rows(context, short, model, hardware)
    if format is OutputFormat.json:
        _print_json(rows)
        return
    table = Table(title="what long context costs")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_column("how")
    for row in rows:
        table.add_row(row["quantity"], f"{units.rate(row['value'])} {row['unit']}", row["how"])
    stdout.print(table)
