"""`ctxplan plan` (cheapest configuration within SLOs) and `ctxplan sweep` (any field over values)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from api import units
from api.cli_common import (OutputFormat, _print_json, app, comma_list, finite, output_dir, output_file, stderr,
                            stdout, user_errors)
from simulator.errors import InputError
from simulator.planning.options import MAX_SEEDS, PlanOptions

_DEFAULT = {name: field.default for name, field in PlanOptions.model_fields.items()}   # defaults defined once


class EmitKind(str, Enum):
    vllm = "vllm"
    kubernetes = "kubernetes"


class _Progress:
    """completed/total with elapsed time and an ETA, on stderr."""

    def __init__(self, label: str) -> None:
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)
        self.label = label
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=stderr,
                                 transient=True)
        self.task = None

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def __call__(self, done: int, total: int) -> None:
        if self.task is None or self.progress.tasks[self.task].total != total:
            self.task = self.progress.add_task(self.label, total=total)
        self.progress.update(self.task, completed=done)


def _ints(values: list[str] | None, field: str) -> list[int] | None:
    """A repeatable integer list option (`--tp 1,2 --tp 4`), or None when not given."""
    items = comma_list(values)
    if not items:
        return None
    try:
        numbers = [int(v) for v in items]
    except ValueError:
        raise InputError("expected integers separated by commas", field=field, value=",".join(values)) from None
    if min(numbers) < 1:
        raise InputError("values must be >= 1", field=field, value=",".join(values))
    return numbers


def _load(scenario: Path):
    from simulator.specs.scenario import read_scenario_mapping
    from simulator.specs.files import load_any_scenario
    spec, base_dir = load_any_scenario(scenario)        # validates, errors name the file
    return read_scenario_mapping(scenario), spec, base_dir


@app.command()
@user_errors
def plan(scenario: Annotated[Path, typer.Argument(help="serving scenario YAML (its first deployment is the template)")],
         target_qps: Annotated[float, typer.Option(help="requests per second to serve", callback=finite(0, above=True))],
         slo_ttft_p99: Annotated[Optional[float], typer.Option(help="p99 TTFT target, s (default: scenario slo.ttft_s)",
                                                               callback=finite(0, above=True))] = None,
         slo_tpot_p99: Annotated[Optional[float], typer.Option(help="p99 TPOT target, s (default: scenario slo.tpot_s)",
                                                               callback=finite(0, above=True))] = None,
         hardware: Annotated[Optional[list[str]], typer.Option(help="hardware to try: a,b or repeated")] = None,
         tp: Annotated[Optional[list[str]], typer.Option(help="tensor-parallel degrees, e.g. 1,2,4,8 or repeated")]
         = None,
         max_num_seqs: Annotated[Optional[list[str]], typer.Option(help="engine max_num_seqs values to try")] = None,
         chunk: Annotated[Optional[list[str]], typer.Option(help="max_num_batched_tokens values to try")] = None,
         max_gpus: Annotated[int, typer.Option(help="most GPUs a configuration may use")] = _DEFAULT["max_gpus"],
         seeds: Annotated[int, typer.Option(help=f"runs averaged per point (seed, seed+1, ...), at most "
                                                 f"{MAX_SEEDS}")] = _DEFAULT["seeds"],
         requests: Annotated[Optional[int], typer.Option(help="requests per run (default: the scenario's)", min=1)]
         = None,
         exhaustive: Annotated[bool, typer.Option("--exhaustive", help="try every replica count (reference)")] = False,
         capacity: Annotated[bool, typer.Option("--capacity/--no-capacity",
                                                help="search each feasible configuration's highest rate")] = True,
         workers: Annotated[Optional[int], typer.Option(help="local worker processes")] = None,
         ray_address: Annotated[Optional[str], typer.Option(help="run on Ray: auto, local or ray://HOST:PORT")] = None,
         price: Annotated[Optional[list[str]], typer.Option(help="$ per GPU-hour by hardware, e.g. "
                                                            "h100-sxm=2.1,h200=3.2 or repeated (default: each "
                                                            "hardware's catalog or profile price)")] = None,
         headroom: Annotated[Optional[float], typer.Option(help="size for (1 + headroom) x --target-qps "
                                                           "(default 0.2)", callback=finite(0))] = None,
         min_arrival_s: Annotated[Optional[float], typer.Option(help="every run offers at least this many seconds "
                                                                "of arrivals (default 60)",
                                                                callback=finite(0, above=True))] = None,
         emit: Annotated[Optional[EmitKind], typer.Option(help="print the best configuration as a vllm serve "
                                                          "command or a Kubernetes Deployment")] = None,
         report: Annotated[Optional[Path], typer.Option(help="write a self-contained HTML report")] = None,
         format: Annotated[OutputFormat, typer.Option("--format", help="table or json")] = OutputFormat.table):
    """Cheapest hardware x TP x replicas x engine knobs meeting the latency targets at --target-qps."""
    from simulator.catalog import resolve_hardware
    from simulator.planning.options import plan_options
    from simulator.planning.planner import Config, plan_result, point_doc
    doc, spec, base_dir = _load(scenario)
    if "workload" not in doc:
        raise InputError("plan works on serving scenarios (workload:); for RAG vs long context use "
                         "ctxplan compare / crossover", file=str(scenario))
    if report is not None:
        output_file(report, "--report")
    hardware_list = comma_list(hardware) or [spec.deployments[0].hardware]
    for name in hardware_list:                 # an unknown name is a typo, not a configuration that fails
        resolve_hardware(name, field="--hardware", base_dir=base_dir)
    prices = _prices(price, hardware_list)     # a bad --price is refused before the progress bar starts
    options = plan_options(target_qps=target_qps, slo_ttft_p99_s=slo_ttft_p99, slo_tpot_p99_s=slo_tpot_p99,
                           hardware=hardware_list, tensor_parallel=_ints(tp, "tp"),
                           max_num_seqs=_ints(max_num_seqs, "max_num_seqs"), chunk_tokens=_ints(chunk, "chunk"),
                           max_gpus=max_gpus, seeds=seeds, requests=requests, capacity=capacity, prices=prices,
                           headroom=headroom, min_arrival_s=min_arrival_s)
    with _Progress("planning") as progress:
        result = plan_result(doc, base_dir, options, exhaustive=exhaustive, workers=workers,
                             ray_address=ray_address, progress=progress)
    best = result.best
    if report is not None:
        import pandas as pd

        from api.reports import plan_figures, write_report
        best_doc = None if best is None else point_doc(
            doc, Config(best.hardware, best.tensor_parallel, best.max_num_seqs, best.max_num_batched_tokens),
            best.min_replicas, result.design_qps, result.seeds[0], best.num_requests, tuple(sorted(prices.items())))
        write_report(report, f"ctxplan plan: {spec.name} at {target_qps:g} req/s", _best_line(result),
                     plan_figures(result, doc, base_dir, best_doc),
                     [("Configurations", pd.DataFrame([c.to_json_dict() for c in result.configurations])),
                      ("Pareto front", pd.DataFrame([p.to_json_dict() for p in result.pareto_front]))])
    if format is OutputFormat.json:
        _print_json(result.to_json_dict())
        return
    if emit is not None:
        if best is None:
            raise InputError("no configuration meets the targets: nothing to emit", field="--emit", value=emit.value)
        stdout.print(best.emit.vllm_command if emit is EmitKind.vllm else best.emit.kubernetes_manifest, markup=False,
                     highlight=False, soft_wrap=True)
        return
    stdout.print(_best_line(result))
    stdout.print(_configurations_table(result))
    front = ", ".join(f"{p.hardware} tp{p.tensor_parallel} x{p.replicas} ({units.usd(p.cost_per_hour_usd)}/h, "
                      f"{units.duration(p.ttft_p99_s)})" for p in result.pareto_front)
    stdout.print(f"Pareto front of the points meeting the targets (cost per hour vs p99 TTFT): {front or 'none'}")
    prices = ", ".join(f"{hw} {units.usd(p.usd_per_gpu_hour)}/GPU-h ({p.source})"
                       for hw, p in result.prices_used.items())
    stdout.print(f"prices: {prices}", markup=False)
    stdout.print(f"capacity: {result.capacity_definition}", markup=False)
    stdout.print(f"{result.num_simulations} simulations over seeds {result.seeds}"
                 + (f"; report: {report}" if report else "") + "; --emit vllm|kubernetes prints the deployment")


def _prices(values: list[str] | None, hardware: list[str]) -> dict[str, float]:
    """`h100-sxm=2.1,h200=3.2` (or repeated) -> {name: $ per GPU-hour}; every name must be a hardware of the plan."""
    prices = {}
    for item in comma_list(values):
        name, _, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not 0 <= number <= 1e6:
            raise InputError("expected NAME=DOLLARS with 0 <= DOLLARS <= 1e6", field="--price", value=item)
        if name.strip() not in hardware:
            raise InputError("names a hardware the plan does not try", field="--price", value=name.strip(),
                             allowed=", ".join(hardware))
        prices[name.strip()] = number
    return prices


def _best_line(result) -> str:
    best = result.best
    if best is None:
        return f"no configuration meets the targets at {result.design_qps:g} req/s (target x (1 + headroom))"
    return (f"best: {best.min_replicas} x {best.hardware} tp{best.tensor_parallel} "
            f"(max_num_seqs {best.max_num_seqs}, chunk {best.max_num_batched_tokens}) = {best.num_gpus} GPUs, "
            f"{units.usd(best.cost_per_hour_usd)}/h, {units.usd(best.cost_per_query_usd * 1000)} per 1k queries; "
            f"at {result.design_qps:g} req/s ({result.target_qps:g} + {result.headroom:.0%} headroom): "
            f"p99 TTFT {units.duration(best.ttft_p99_s)} (spread {units.duration(best.ttft_p99_spread_s)}), "
            f"p99 TPOT {units.duration(best.tpot_p99_s)}; {best.why}")


def _configurations_table(result):
    from rich.table import Table
    table = Table(title=f"configurations (fewest replicas within the targets at {result.design_qps:g} req/s)")
    for column in ("hardware", "tp", "seqs", "chunk", "replicas", "GPUs", "$/h", "p99 TTFT (spread)",
                   "p99 TPOT", "max req/s in SLO"):
        table.add_column(column, justify="right")
    for r in result.configurations:
        knobs = (r.hardware, str(r.tensor_parallel), str(r.max_num_seqs), str(r.max_num_batched_tokens))
        if r.min_replicas is None:
            table.add_row(*knobs, "-", "-", "-", r.reason, "", "")
            continue
        table.add_row(*knobs, str(r.min_replicas), str(r.num_gpus), units.usd(r.cost_per_hour_usd),
                      f"{units.duration(r.ttft_p99_s)} ({units.duration(r.ttft_p99_spread_s)})",
                      units.duration(r.tpot_p99_s), units.rate(r.max_rate_per_s))
    return table


@app.command()
@user_errors
def sweep(scenario: Annotated[Path, typer.Argument(help="scenario YAML (serving or comparison)")],
          param: Annotated[list[str], typer.Option("--param", help="PATH=VALUES: a,b,c | LOW..HIGH[:STEP] | "
                                                                   "log:LOW..HIGH:COUNT (repeat for a grid)")],
          out: Annotated[Optional[Path], typer.Option(help="folder for results.parquet, results.csv and plots "
                                                           "(default: sweep-<scenario name>)")] = None,
          report: Annotated[Optional[Path], typer.Option(help="write a self-contained HTML report")] = None,
          workers: Annotated[Optional[int], typer.Option(help="local worker processes")] = None,
          ray_address: Annotated[Optional[str], typer.Option(help="run on Ray: auto, local or ray://HOST:PORT")] = None,
          format: Annotated[OutputFormat, typer.Option("--format", help="table or json")] = OutputFormat.table):
    """Simulate the scenario at every combination of the --param values; a tidy table, plots, a report."""
    from simulator.planning.sweep import expand, parse_param, sweep as run_sweep
    doc, spec, base_dir = _load(scenario)
    params = [parse_param(p) for p in param]
    out = output_dir(out or Path(f"sweep-{spec.name}"))
    if report is not None:
        output_file(report, "--report")
    first_point = expand(doc, [(path, values[:1]) for path, values in params])[0][1]   # one point, not the grid
    with _Progress("sweep") as progress:
        table = run_sweep(doc, base_dir, params, workers=workers, ray_address=ray_address, progress=progress)
    _atomic(out / "results.parquet", lambda p: table.to_parquet(p, index=False))
    _atomic(out / "results.csv", lambda p: table.to_csv(p, index=False))
    from api.reports import sweep_figures, write_report
    figures = sweep_figures(table, params, doc, base_dir, first_point)
    for index, (heading, _, image) in enumerate(figures, start=1):
        slug = "".join(c if c.isalnum() else "-" for c in heading.lower()).strip("-")
        _atomic(out / f"{index:02d}-{slug}.png", lambda p, image=image: Path(p).write_bytes(image))
    if report is not None:
        write_report(report, f"ctxplan sweep: {spec.name}",
                     f"{len(table['point'].unique())} points x {table['deployment'].nunique()} deployments over "
                     + ", ".join(p for p, _ in params), figures, [("Results", table)])
    if format is OutputFormat.json:
        _print_json(json.loads(table.to_json(orient="records")))
        return
    stdout.print(_sweep_table(f"sweep: {spec.name}", table, [path for path, _ in params]))
    stdout.print(f"wrote {out}/results.parquet, results.csv and {len(figures)} plots"
                 + (f"; report: {report}" if report else ""))


def _sweep_table(title: str, table, param_paths: list[str]):
    """The sweep's results for people: one row per point and deployment, the swept values under their paths."""
    from api import units
    from api.render import Column, rows_table
    columns = [Column("point", "point"), *[Column(path, path) for path in param_paths],
               Column("deployment", "deployment", justify="left"),
               Column("cost_per_query_usd", "$/query", units.usd), Column("ttft_p99_s", "TTFT p99", units.duration),
               Column("tpot_p99_s", "TPOT p99", units.duration), Column("stable", "stable", units.yes_no),
               Column("expected_accuracy", "expected accuracy", units.share)]
    frame = table[[c.key for c in columns]]
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")      # NaN (not applicable) as None
    return rows_table(title, rows, columns)


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
