"""Rich tables for CLI output. Rendering only: every number comes from `simulator`."""

from __future__ import annotations

from rich.table import Table

from api import units

from simulator.runner import Result


def _num(value, fmt: str | None = None) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if value is None:
        return "-"
    return fmt.format(value) if fmt else units.rate(value)


_ms = units.ms
_pct = units.share
_usd = units.usd


ROWS = [
    ("GPUs (replicas x GPUs each)", lambda d, m: f"{d['num_gpus']} ({d.get('layout') or d['replicas']})"),
    ("model / hardware", lambda d, m: f"{d['model']} / {d['hardware']}"),
    ("requests done / rejected / unfinished",
     lambda d, m: f"{m['num_completed']} / {m['num_rejected']} / {m['num_unfinished']}"),
    ("TTFT p50 / p99 (ms)", lambda d, m: f"{_ms(m['ttft_s']['p50'])} / {_ms(m['ttft_s']['p99'])}"),
    ("TPOT p50 / p99 (ms)", lambda d, m: f"{_ms(m['tpot_s']['p50'])} / {_ms(m['tpot_s']['p99'])}"),
    ("E2E p50 / p99 (s)", lambda d, m: f"{_num(m['e2e_s']['p50'])} / {_num(m['e2e_s']['p99'])}"),
    ("queueing p99 (ms)", lambda d, m: _ms(m["queueing_delay_s"]["p99"])),
    ("throughput (req/s)", lambda d, m: _num(m["throughput_requests_per_s"])),
    ("output tokens/s", lambda d, m: _num(m["throughput_output_tokens_per_s"], "{:,.0f}")),
    ("SLO attainment", lambda d, m: _pct(m["slo_attainment"])),
    ("goodput (req/s)", lambda d, m: _num(m["goodput_requests_per_s"])),
    ("KV cache mean / peak", lambda d, m: f"{_pct(m['kv_cache_mean_utilization'])} / "
                                          f"{_pct(m['kv_cache_peak_utilization'])}"),
    ("prefix-cache hit rate", lambda d, m: _pct(m["prefix_cache_hit_rate"])),
    ("preemptions", lambda d, m: str(m["num_preemptions"])),
    ("batch size mean / max", lambda d, m: f"{_num(m['batch_size']['mean'])} / {_num(m['batch_size']['max'])}"),
    ("stable", lambda d, m: _num(m["stable"])),
    ("GPU-hours", lambda d, m: _num(m["gpu_hours"])),
    ("cost", lambda d, m: _usd(m["cost_usd"])),
    ("$ per query", lambda d, m: _usd(m["cost_per_query_usd"])),
    ("$ per 1M output tokens", lambda d, m: _usd(m["cost_per_million_output_tokens_usd"])),
]


def run_table(result: Result) -> Table:
    data = result.to_json_dict()
    table = Table(title=f"{result.scenario}  (seed {result.seed}, {result.num_requests} requests)")
    table.add_column("metric", style="bold")
    for deployment in data["deployments"]:
        table.add_column(deployment["name"], justify="right")
    for label, cell in ROWS:
        table.add_row(label, *[cell(d, d["metrics"]) for d in data["deployments"]])
    return table


def key_value_table(title: str, values: dict) -> Table:
    table = Table(title=title)
    table.add_column("field", style="bold")
    table.add_column("value", justify="right")
    for key, value in _flatten(values):
        if isinstance(value, float):
            text = f"{value:.4g}"
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000:
            text = f"{value:,}"
        else:
            text = str(value)
        table.add_row(key, text)
    return table


def _flatten(values: dict, prefix: str = ""):
    """Nested mappings as dotted keys (`attention.naive.fits`)."""
    for key, value in values.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def rows_table(title: str, rows: list[dict], columns: list[str]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*["-" if row.get(c) is None else str(row.get(c)) for c in columns])
    return table


def validation_table(title: str, report: dict) -> Table:
    """Error table for kernel validation (by_op) or the engine check (by_metric), then the worst rows."""
    groups = report.get("by_op") or report.get("by_metric") or {}
    table = Table(title=title)
    for column in ("group", "n", "median |error|", "p90 |error|"):
        table.add_column(column, justify="right" if column != "group" else "left")

    def add(name: str, stats: dict) -> None:
        pct = (lambda v: "-" if v is None else f"{v:.1f}%")
        table.add_row(name, str(stats["n"]), pct(stats["median_abs_pct_error"]), pct(stats["p90_abs_pct_error"]))
    for name, stats in groups.items():
        add(name, stats)
    add("overall", report["overall"])
    for op, count in report.get("unpriced", {}).items():
        table.add_row(f"{op} (not priced)", str(count), "-", "-")
    for row in report.get("worst_rows", [])[:5]:
        table.add_row(f"worst: {row['op']} {row['shape']}", "", f"{row['abs_pct_error']:.1f}%",
                      f"{row['measured_s'] * 1e3:.3g} ms meas / {row['predicted_s'] * 1e3:.3g} ms pred")
    return table


def compare_table(result) -> Table:
    table = Table(title=f"{result.scenario}: cost, latency, capacity, quality (seed {result.seed})")
    columns = ["deployment", "kind", "answered", "$/query", "$/month", "GPUs (+nodes)", "TTFT p50/p99 s",
               "E2E p50/p99 s",
               "SLO", "max q/s", "KV peak", "prefix hit", "accuracy", "$/correct"]
    with_api = any(r.get("api_cost_per_query_usd") is not None for r in result.deployments)
    if with_api:
        columns.insert(4, "API $/query")
    for column in columns:
        table.add_column(column, justify="left" if column in ("deployment", "kind") else "right")
    for r in result.deployments:
        api = [_usd(r.get("api_cost_per_query_usd"))] if with_api else []
        nodes = f" (+{r['num_retrieval_nodes']})" if r.get("num_retrieval_nodes") else ""
        table.add_row(
            r["name"], r["kind"], f"{r['num_answered']}/{r['num_queries']}", _usd(r["cost_per_query_usd"]), *api, _usd(r["cost_per_month_usd"]),
            f"{r['num_gpus']}{nodes}",
            f"{_num(r['ttft_s']['p50'])}/{_num(r['ttft_s']['p99'])}",
            f"{_num(r['e2e_s']['p50'])}/{_num(r['e2e_s']['p99'])}",
            _pct(r["slo_attainment"]), _num(r["max_sustainable_qps"]), _pct(r["kv_cache_peak_utilization"]),
            _pct(r["prefix_cache_hit_rate"]), _pct(r["expected_accuracy"]), _usd(r["cost_per_correct_answer_usd"]))
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
