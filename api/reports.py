"""Figures and HTML reports for `ctxplan sweep` and `ctxplan plan` (presentation over simulator results)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from api import plots
from simulator.planning.sweep import validate_point
from simulator.results.plan_types import PlanResult


def traced_run(doc: dict, base_dir: Path | None) -> dict[str, dict]:
    """One run of a scenario mapping with engine timelines: {deployment: {timeline, ttft_s}}."""
    spec = validate_point(doc)
    if "workload" in doc:
        from simulator.results.runner import run
        result = run(spec, base_dir=base_dir, trace=True)
        return {d.name: {"timeline": d.timeline, "ttft_s": d.records["ttft_s"].to_numpy()} for d in result.deployments}
    from simulator.comparisons.deployment_run import trace_deployment
    out = {}
    for index, deployment in enumerate(spec.deployments):
        traced = trace_deployment(spec, index, base_dir)
        out[deployment.name] = {"timeline": traced.timeline, "ttft_s": traced.answered_ttft_s}
    return out


def _slo(doc: dict) -> tuple[float | None, float | None]:
    slo = doc.get("slo") or {}
    return slo.get("ttft_s"), slo.get("tpot_s")


def run_figures(doc: dict, base_dir: Path | None, label: str) -> list[tuple[str, str, bytes]]:
    traced = traced_run(doc, base_dir)
    slo_ttft, _ = _slo(doc)
    first_name, first = next(iter(traced.items()))
    return [
        ("TTFT distribution", f"Cumulative distribution of time to first token per deployment ({label}).",
         plots.png(plots.ttft_cdf({name: t["ttft_s"] for name, t in traced.items()}, slo_ttft))),
        ("KV cache and queue over time", f"KV-cache use (mean over replicas) and requests waiting/running "
         f"(summed over replicas) for {first_name} ({label}).",
         plots.png(plots.kv_timeline(first["timeline"], f"{first_name}: KV cache and queue over time"))),
    ]


def sweep_figures(table: pd.DataFrame, params: list[tuple[str, list]], doc: dict, base_dir: Path | None,
                  first_point: dict) -> list[tuple[str, str, bytes]]:
    figures = []
    slo_ttft, slo_tpot = _slo(doc)
    param = params[0][0]
    view = table
    others = [p for p, values in params[1:] if len(values) > 1]
    if others:                                 # plot against the first param, one line per other combination
        label = view[others].astype(str).agg(", ".join, axis=1)
        view = view.assign(deployment=view["deployment"] + " [" + label + "]")
    if param.endswith("rate_per_s"):
        figures.append(("Latency against offered load",
                        "p50 (dashed) and p99 (solid) TTFT and TPOT per deployment; red: SLO; dotted: first load "
                        "at which the run is unstable (the saturation point).",
                        plots.png(plots.latency_vs_load(view, param, slo_ttft, slo_tpot))))
    figures.append((f"Cost per query against {param}",
                    "Dollars per answered query (GPU time, plus retrieval and API where the scenario has them); "
                    "dotted: where the cheapest deployment changes.",
                    plots.png(plots.metric_vs_param(view, param, "cost_per_query_usd", "cost per query (USD)",
                                                    f"cost per query against {param}"))))
    if view["expected_accuracy"].notna().any():
        figures.append((f"Expected accuracy against {param}", "Expected accuracy from the quality priors.",
                        plots.png(plots.metric_vs_param(view, param, "expected_accuracy", "expected accuracy",
                                                        f"expected accuracy against {param}", lower_is_better=False))))
    figures.append((f"p99 TTFT against {param}", "p99 time to first token per deployment.",
                    plots.png(plots.metric_vs_param(view, param, "ttft_p99_s", "p99 TTFT (s)",
                                                    f"p99 TTFT against {param}"))))
    figures.extend(run_figures(first_point, base_dir, "first point of the sweep"))
    return figures


def plan_figures(result: PlanResult, doc: dict, base_dir: Path | None, best_doc: dict | None) -> list:
    figures = [("Cost against p99 TTFT", "Every configuration and replica count tried at the target load; the "
                "dashed line is the Pareto front, the star the cheapest configuration within the SLOs.",
                plots.png(plots.pareto(result.points, result.pareto_front, result.best,
                                       result.targets.ttft_p99_s)))]
    if best_doc is not None:
        figures.extend(run_figures(best_doc, base_dir, "the best configuration at the target load"))
    return figures


def write_report(path: Path, title: str, summary: str, figures, tables) -> None:
    """The HTML report (api/templates/report.html) at `path`, written whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(plots.report_html(title, summary, figures, tables))
    tmp.replace(path)

