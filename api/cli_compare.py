"""`ctxplan compare` and `ctxplan crossover`: RAG against long context."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from simulator.errors import InputError

from api.cli_common import (AttentionImpl, KVDtype, OutputFormat, WeightDtype, _fail, _LazyProgress,  # noqa: F401
                            _print_json, _write_outputs, app, output_dir, stderr, stdout, user_errors)


def _load_any(path: Path):
    from simulator.errors import InputError as _InputError
    from simulator.specs.files import load_any_scenario
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
                    workers: Annotated[Optional[int], typer.Option(help="deployments simulated at once in local "
                                                                   "processes (default: the cores, at most 8)",
                                                                   min=1, max=64)] = None,
                    format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table):
    """RAG vs long context vs hybrid: cost, latency, capacity and expected accuracy side by side."""
    from api.render import compare_table
    from simulator.comparisons.compare import compare
    spec, base_dir = _load_any(scenario)
    if out is not None:
        output_dir(out)
    show = _show_progress()
    try:
        from simulator.planning.executor import default_workers
        result = compare(spec, base_dir, search_capacity=not skip_capacity, progress=show,
                         workers=default_workers() if workers is None else workers)
    except InputError as exc:
        raise exc.in_file(str(scenario)) from None
    data = result.to_json_dict()
    if out is not None:
        tmp = out / ".compare.json.tmp"
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, out / "compare.json")
    if format is OutputFormat.json:
        _print_json(data)
        return
    stdout.print(compare_table(result))
    for note in (f"{d.name}: {n}" for d in result.deployments for n in d.notes):
        stdout.print(f"[dim]{note}[/dim]")
    stdout.print(f"winner on cost at the SLO: [bold]{result.winner_on_cost or 'none'}[/bold] ({result.cost_note})")
    stdout.print(f"cost metric: {result.cost_metric}", markup=False)
    if result.capacity_definition:
        stdout.print(f"max q/s: {result.capacity_definition}", markup=False)
    stdout.print(f"winner on quality: [bold]{result.winner_on_quality or 'n/a'}[/bold] "
                 "(expected accuracy is a prior from published results, not a measurement)")


@app.command()
@user_errors
def crossover(scenario: Annotated[Path, typer.Argument(help="scenario YAML file")],
              vary: Annotated[str, typer.Option(help="NAME=LOW..HIGH: document_tokens, rate_per_s or "
                                                     "num_documents, e.g. document_tokens=8k..1M")],
              points: Annotated[int, typer.Option(help="grid points", min=3, max=25)] = 7,
              metric: Annotated[str, typer.Option(help="cost_per_query_usd (all-in, as compare ranks), "
                                                       "busy_cost_per_query_usd or cost_per_correct_answer_usd")]
              = "cost_per_query_usd",
              format: Annotated[OutputFormat, typer.Option("--format")] = OutputFormat.table):
    """Where does the cheaper deployment change as one parameter grows?"""
    from api.render import crossover_table
    from simulator.comparisons.crossover import crossover as run_crossover, parse_vary
    name, low, high = parse_vary(vary)
    spec, base_dir = _load_any(scenario)
    try:
        result = run_crossover(spec, name, low, high, points, metric, base_dir, progress=_show_progress())
    except InputError as exc:
        raise exc.in_file(str(scenario)) from None
    if format is OutputFormat.json:
        _print_json(result)
        return
    stdout.print(crossover_table(result))
    stdout.print(f"cost metric: {result['metric']} ({result['metric_description']})", markup=False)
    if not result["crossovers"]:
        stdout.print(f"no crossover: {result['rows'][0]['cheapest']} is cheapest across the range")
    for switch in result["crossovers"]:
        stdout.print(f"crossover: {switch['from']} -> {switch['to']} at {name} ~ {switch['value']:,.0f}")


def _show_progress():
    """Progress lines on stderr when it is a terminal: `(fraction, message)` callbacks of compare/crossover."""
    if not sys.stderr.isatty():
        return None
    return lambda fraction, message: stderr.print(f"[dim]{fraction:4.0%} {message}[/dim]", highlight=False)
