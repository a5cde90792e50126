"""Rich tables for CLI output. Rendering only: every number comes from `simulator`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.table import Table

from api import units

from simulator.results.runner import Result


def _num(value, fmt: str | None = None) -> str:
    if isinstance(value, bool):
        return units.yes_no(value)
    if value is None:
        return units.MISSING
    return fmt.format(value) if fmt else units.rate(value)


_ms = units.ms
_pct = units.share
_usd = units.usd
_time = units.duration


def _pair(first, second, format=_time) -> str:
    return f"{format(first)} / {format(second)}"


ROWS = [
    ("GPUs (replicas x GPUs each)", lambda d, m: f"{d.num_gpus} ({d.layout or d.replicas})"),
    ("model / hardware", lambda d, m: f"{d.model} / {d.hardware}"),
    ("requests done / rejected / unfinished",
     lambda d, m: " / ".join(units.count(n) for n in (m.num_completed, m.num_rejected, m.num_unfinished))),
    ("TTFT p50 / p99", lambda d, m: _pair(m.ttft_s.p50, m.ttft_s.p99)),
    ("TPOT p50 / p99", lambda d, m: _pair(m.tpot_s.p50, m.tpot_s.p99)),
    ("E2E p50 / p99", lambda d, m: _pair(m.e2e_s.p50, m.e2e_s.p99)),
    ("queueing p99", lambda d, m: _time(m.queueing_delay_s.p99)),
    ("throughput (req/s)", lambda d, m: units.rate(m.throughput_requests_per_s)),
    ("output tokens/s", lambda d, m: units.count(m.throughput_output_tokens_per_s)),
    ("SLO attainment", lambda d, m: _pct(m.slo_attainment)),
    ("goodput (req/s)", lambda d, m: units.rate(m.goodput_requests_per_s)),
    ("KV cache mean / peak", lambda d, m: _pair(m.kv_cache_mean_utilization, m.kv_cache_peak_utilization,
                                                _pct)),
    ("prefix-cache hit rate", lambda d, m: _pct(m.prefix_cache_hit_rate)),
    ("preemptions", lambda d, m: units.count(m.num_preemptions)),
    ("batch size mean / max", lambda d, m: f"{units.rate(m.batch_size.mean)} / "
                                           f"{units.count(m.batch_size.max)}"),
    ("stable", lambda d, m: units.yes_no(m.stable)),
    ("GPU-hours", lambda d, m: units.rate(m.gpu_hours)),
    ("cost", lambda d, m: _usd(m.cost_usd)),
    ("$ per query", lambda d, m: _usd(m.cost_per_query_usd)),
    ("$ per 1M output tokens", lambda d, m: _usd(m.cost_per_million_output_tokens_usd)),
]

def _window(m) -> str:
    loop = m.closed_loop
    if loop.window_start_s is None or loop.window_end_s is None:
        return units.MISSING
    return f"{_time(loop.window_start_s)} .. {_time(loop.window_end_s)} ({units.count(loop.num_measured)} requests)"


CLOSED_LOOP_ROWS = [     # shown when a deployment ran a closed loop: its steady window, warm-up and drain cut
    ("closed loop: users / think", lambda d, m: f"{m.closed_loop.users} / {_time(m.closed_loop.think_time_s)}"),
    ("steady window", lambda d, m: _window(m)),
    ("steady req/s / output tok/s", lambda d, m: f"{units.rate(m.closed_loop.throughput_requests_per_s)} / "
                                                 f"{units.count(m.closed_loop.throughput_output_tokens_per_s)}"),
    ("steady TTFT p50 / p99", lambda d, m: _pair(m.closed_loop.ttft_s.p50, m.closed_loop.ttft_s.p99)),
    ("steady TPOT p50 / p99", lambda d, m: _pair(m.closed_loop.tpot_s.p50, m.closed_loop.tpot_s.p99)),
]


def run_table(result: Result) -> Table:
    table = Table(title=f"{result.scenario}  (seed {result.seed}, {units.count(result.num_requests)} requests)")
    table.add_column("metric", style="bold")
    deployments = result.to_model().deployments
    for deployment in deployments:
        table.add_column(deployment.name, justify="right")
    sources = dict.fromkeys(f"{d.hardware}: {d.hardware_provenance}" for d in deployments)
    table.caption = "hardware numbers: " + "; ".join(sources) if sources else None
    closed = bool(deployments) and deployments[0].metrics.closed_loop is not None   # one workload for all
    for label, cell in ROWS + (CLOSED_LOOP_ROWS if closed else []):
        table.add_row(label, *[cell(d, d.metrics) for d in deployments])
    return table


_RATE_SUFFIXES = ("_per_s", "_tb_s", "_gb_s")          # per second (bandwidths too), not seconds
_SHARE_SUFFIXES = ("_share", "_utilization", "_attainment", "_hit_rate", "_fraction")


def named_value(key: str, value) -> str:
    """`value` formatted by what its (JSON) key says it holds: `*_bytes*` sizes, `*usd*` dollars, `*_s`
    durations (`*_per_s` rates), shares, token counts; booleans as yes/no, None as "-"."""
    if hasattr(value, "item"):                       # numpy scalars from a DataFrame row
        value = value.item()
    if value is None:
        return units.MISSING
    if isinstance(value, bool):
        return units.yes_no(value)
    if not isinstance(value, (int, float)):
        return str(value)
    name = key.rsplit(".", 1)[-1]
    if "bytes" in name:
        return units.size_bytes(value)
    if "usd" in name:
        return units.usd(value)
    if name.endswith(_RATE_SUFFIXES) or "_per_s_" in name:
        return units.rate(value)
    if name.endswith("_s"):
        return units.duration(value)
    if name.endswith(_SHARE_SUFFIXES):
        return units.share(value)
    return units.count(value) if isinstance(value, int) else units.rate(value)


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: the row key it shows, its header, and how its values read (default: `named_value`)."""
    key: str
    header: str
    format: Callable[[object], str] | None = None
    justify: str = "right"

    def cell(self, row: dict) -> str:
        value = row.get(self.key)
        return named_value(self.key, value) if self.format is None else self.format(value)


def rows_table(title: str, rows: list[dict], columns: list[Column | str]) -> Table:
    """One row per mapping; a column given as a plain key shows that key as its header."""
    columns = [Column(c, c) if isinstance(c, str) else c for c in columns]
    table = Table(title=title)
    for column in columns:
        table.add_column(column.header, justify=column.justify)
    for row in rows:
        table.add_row(*[column.cell(row) for column in columns])
    return table


def validation_table(title: str, report: dict) -> Table:
    """Error table for kernel validation (by_op) or the engine check (by_metric), then the worst rows."""
    groups = report.get("by_op") or report.get("by_metric") or {}
    table = Table(title=title)
    for column in ("group", "n", "median |error|", "p90 |error|"):
        table.add_column(column, justify="right" if column != "group" else "left")

    def pct(value) -> str:                          # the report's errors are already percentages
        return units.MISSING if value is None else f"{units.significant(value)}%"

    def add(name: str, stats: dict) -> None:
        table.add_row(name, units.count(stats["n"]), pct(stats["median_abs_pct_error"]),
                      pct(stats["p90_abs_pct_error"]))
    for name, stats in groups.items():
        add(name, stats)
    add("overall", report["overall"])
    for op, num_rows in report.get("unpriced", {}).items():
        table.add_row(f"{op} (not priced)", units.count(num_rows), units.MISSING, units.MISSING)
    for row in report.get("worst_rows", [])[:5]:
        table.add_row(f"worst: {row['op']} {row['shape']}", "", pct(row["abs_pct_error"]),
                      f"{_time(row['measured_s'])} measured / {_time(row['predicted_s'])} predicted")
    return table


def published_table(report) -> Table:
    """`validate --published`: median |error| by group (rows in each), then the worst rows."""
    table = Table(title=f"published measurements: {units.count(report.replayed)} rows replayed, "
                        f"{units.count(sum(report.skipped.values()))} not modelled")
    for column in ("group", "rows", "median |error|"):
        table.add_column(column, justify="left" if column == "group" else "right")

    def pct(value) -> str:
        return units.MISSING if value is None else f"{units.significant(value)}%"
    table.add_row("overall", units.count(report.replayed), pct(report.median_abs_pct_error))
    for group, medians in report.by.items():
        for name, median in medians.items():
            table.add_row(f"{group}: {name}", units.count(report.counts[group][name]), pct(median))
    for p in report.worst:
        table.add_row(f"worst: {p.model} {p.gpu} tp{p.tp} {p.weight_dtype} {p.isl}/{p.osl} {p.metric}"
                      f"{'' if p.rate_per_s is None else f' at {p.rate_per_s:g}/s'}", "",
                      f"{p.pct_error:+.1f}% ({units.significant(p.predicted)} vs {units.significant(p.measured)})")
    return table


def compare_table(result) -> Table:
    table = Table(title=f"{result.scenario}: cost, latency, capacity, quality (seed {result.seed})")
    columns = ["deployment", "kind", "answered", "$/query", "$/month", "GPUs (+nodes)", "TTFT p50/p99 s",
               "E2E p50/p99 s",
               "SLO", "max q/s", "KV peak", "prefix hit", "accuracy", "$/correct"]
    # a serving scenario's rows (ServingComparisonRow) have no API price
    with_api = any(getattr(r, "api_cost_per_query_usd", None) is not None for r in result.deployments)
    if with_api:
        columns.insert(4, "API $/query")
    for column in columns:
        table.add_column(column, justify="left" if column in ("deployment", "kind") else "right")
    for r in result.deployments:
        api = [_usd(getattr(r, "api_cost_per_query_usd", None))] if with_api else []
        nodes = f" (+{r.num_retrieval_nodes})" if r.num_retrieval_nodes else ""
        table.add_row(
            r.name, r.kind, f"{r.num_answered}/{r.num_queries}", _usd(r.cost_per_query_usd), *api,
            _usd(r.cost_per_month_usd), f"{r.num_gpus}{nodes}",
            f"{_num(r.ttft_s.p50)}/{_num(r.ttft_s.p99)}",
            f"{_num(r.e2e_s.p50)}/{_num(r.e2e_s.p99)}",
            _pct(r.slo_attainment), _num(r.max_sustainable_qps), _pct(r.kv_cache_peak_utilization),
            _pct(r.prefix_cache_hit_rate), _pct(r.expected_accuracy), _usd(r.cost_per_correct_answer_usd))
    return table


def crossover_table(result: dict) -> Table:
    names = list(result["rows"][0]["costs"])
    table = Table(title=f"{result['scenario']}: {result['metric']} as {result['variable']} grows")
    table.add_column(result["variable"], justify="right")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("cheapest")
    for row in result["rows"]:
        table.add_row(f"{row['value']:,.0f}" if row["value"] >= 10 else f"{row['value']:.3g}",
                      *[_usd(row["costs"][n]) if row["costs"][n] != float("inf") else "cannot serve" for n in names],
                      row["cheapest"])
    return table
