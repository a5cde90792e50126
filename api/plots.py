"""Figures for sweeps and plans (matplotlib, headless) and a self-contained HTML report.

Every figure has axis labels with units, one colour per deployment, and the reference lines a
reader looks for: SLO targets, the saturation point, the crossover, the Pareto front.
"""

from __future__ import annotations

import base64
import functools
import io

import numpy as np
import pandas as pd
from markupsafe import Markup


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3, "font.size": 10})
    return plt


def png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    _plt().close(fig)
    return buffer.getvalue()


def _log_if_wide(ax, values) -> None:
    values = [v for v in values if v is not None and v > 0]
    if values and max(values) / min(values) > 20:
        ax.set_xscale("log")


def latency_vs_load(table: pd.DataFrame, rate: str, slo_ttft_s: float | None, slo_tpot_s: float | None):
    """TTFT and TPOT percentiles against offered load, SLO lines, the first unstable load marked."""
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for index, (name, rows) in enumerate(table.sort_values(rate).groupby("deployment", sort=False)):
        colour = f"C{index}"
        for ax, metric, scale in ((left, "ttft", 1.0), (right, "tpot", 1000.0)):
            ax.plot(rows[rate], rows[f"{metric}_p99_s"] * scale, "-o", color=colour, label=f"{name} p99")
            ax.plot(rows[rate], rows[f"{metric}_p50_s"] * scale, "--", color=colour, alpha=0.6, label=f"{name} p50")
        unstable = rows.loc[~rows["stable"].astype(bool), rate]
        if len(unstable):
            for ax in (left, right):
                ax.axvline(unstable.min(), color=colour, linestyle=":", alpha=0.8)
            left.annotate(f"saturates at {unstable.min():g}/s", (unstable.min(), left.get_ylim()[1]),
                          color=colour, fontsize=8, rotation=90, va="top", ha="right")
    for ax, slo, scale, label in ((left, slo_ttft_s, 1.0, "TTFT (s)"), (right, slo_tpot_s, 1000.0, "TPOT (ms)")):
        if slo is not None:
            ax.axhline(slo * scale, color="red", linewidth=1, label="SLO")
        ax.set_xlabel("offered load (requests/s)")
        ax.set_ylabel(label)
    left.set_yscale("log")
    right.set_ylim(bottom=0)
    for ax in (left, right):
        ax.legend(fontsize=7)
    left.set_title("time to first token against load")
    right.set_title("time per output token against load")
    return fig


def metric_vs_param(table: pd.DataFrame, param: str, column: str, ylabel: str, title: str, lower_is_better=True):
    """One line per deployment; where the best deployment changes between two points, the crossover is marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4))
    pivot = table.pivot_table(index=param, columns="deployment", values=column, aggfunc="mean").sort_index()
    for index, name in enumerate(pivot.columns):
        ax.plot(pivot.index, pivot[name], "-o", color=f"C{index}", label=name)
    valid = pivot.dropna(how="all")
    if len(pivot.columns) > 1 and len(valid) > 1:
        best = (valid.idxmin if lower_is_better else valid.idxmax)(axis=1)
        for (x0, b0), (x1, b1) in zip(best.items(), list(best.items())[1:]):
            if b0 != b1 and isinstance(x0, (int, float)) and isinstance(x1, (int, float)):
                d0 = valid.loc[x0, b0] - valid.loc[x0, b1]      # where the two lines meet, interpolated
                d1 = valid.loc[x1, b0] - valid.loc[x1, b1]
                f = d0 / (d0 - d1) if d0 != d1 else 0.5
                cross = x0 * (x1 / x0) ** f if x0 > 0 and x1 > 0 else x0 + (x1 - x0) * f
                ax.axvline(cross, color="black", linestyle=":")
                ax.annotate(f"crossover ~{cross:,.0f}: {b0} -> {b1}", (cross, ax.get_ylim()[1]), fontsize=8,
                            rotation=90, va="top", ha="right")
    if pivot.index.dtype.kind in "if":
        _log_if_wide(ax, list(pivot.index))
    values = pivot.to_numpy(dtype=float)
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size and positive.max() / positive.min() > 50:
        ax.set_yscale("log")
    ax.set_xlabel(param)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def kv_timeline(timeline: pd.DataFrame, title: str):
    """KV-cache use and queue length over time, summed over replicas (usage averaged)."""
    plt = _plt()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4.8), sharex=True)
    if len(timeline):
        end = float(timeline["time_s"].max()) or 1.0
        bins = np.linspace(0.0, end, 301)
        timeline = timeline.assign(bin=np.clip(np.digitize(timeline["time_s"], bins) - 1, 0, 299))
        per_replica = timeline.groupby(["bin", "replica"]).last().reset_index()
        grouped = per_replica.groupby("bin").agg(kv=("kv_usage", "mean"), waiting=("waiting", "sum"),
                                                  running=("running", "sum"))
        x = bins[grouped.index]
        top.plot(x, grouped["kv"] * 100, color="C0")
        bottom.plot(x, grouped["waiting"], color="C3", label="waiting")
        bottom.plot(x, grouped["running"], color="C2", label="running")
        bottom.legend(fontsize=8)
    top.set_ylabel("KV cache used (%)")
    top.set_ylim(0, 100)
    bottom.set_ylabel("requests")
    bottom.set_xlabel("simulated time (s)")
    top.set_title(title)
    return fig


def ttft_cdf(samples: dict[str, np.ndarray], slo_ttft_s: float | None):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4))
    for index, (name, values) in enumerate(samples.items()):
        values = np.sort(np.asarray(values, dtype=float)[~np.isnan(values)])
        if values.size:
            ax.plot(values, np.arange(1, values.size + 1) / values.size, color=f"C{index}", label=name)
    if slo_ttft_s is not None:
        ax.axvline(slo_ttft_s, color="red", linewidth=1, label="TTFT SLO")
    ax.set_xscale("log")
    ax.set_xlabel("time to first token (s)")
    ax.set_ylabel("fraction of requests")
    ax.set_title("TTFT distribution per deployment")
    ax.legend(fontsize=8)
    return fig


def pareto(points: list, front: list, best, slo_ttft_s: float | None):
    """Cost against p99 TTFT of a plan's points (`PlanPoint`s), its Pareto front and its best configuration."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for index, hardware in enumerate(sorted({p.hardware for p in points})):
        mine = [p for p in points if p.hardware == hardware and p.ttft_p99_s is not None]
        ax.scatter([p.cost_per_hour_usd for p in mine], [p.ttft_p99_s for p in mine], color=f"C{index}",
                   alpha=0.6, label=hardware)
    if front:
        ax.plot([p.cost_per_hour_usd for p in front], [p.ttft_p99_s for p in front], "k--", label="Pareto front")
    if best:
        ax.scatter([best.cost_per_hour_usd], [best.ttft_p99_s], marker="*", s=250, color="gold",
                   edgecolor="black", zorder=5, label="cheapest within SLO")
    if slo_ttft_s is not None:
        ax.axhline(slo_ttft_s, color="red", linewidth=1, label="TTFT SLO")
    ax.set_xlabel("cost ($ per hour)")
    ax.set_ylabel("p99 TTFT (s)")
    ax.set_yscale("log")
    ax.set_title("cost against p99 latency at the target load")
    ax.legend(fontsize=8)
    return fig


def report_html(title: str, summary: str, figures: list[tuple[str, str, bytes]], tables: list[tuple[str, pd.DataFrame]]) -> str:
    """One self-contained page (api/templates/report.html): figures inlined as base64 PNG, tables as HTML."""
    return _templates().get_template("report.html").render(
        title=title, summary=summary,
        figures=[{"heading": heading, "caption": caption, "png_base64": base64.b64encode(image).decode("ascii")}
                 for heading, caption, image in figures],
        tables=[{"heading": heading, "html": Markup(frame.to_html(index=False, float_format=lambda v: f"{v:.4g}",
                                                                na_rep="-", border=0))}
                for heading, frame in tables])


@functools.cache
def _templates():
    import jinja2
    return jinja2.Environment(loader=jinja2.PackageLoader("api", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=False)
