"""Per-request records and the summary every interface prints.

Records are one row per arrived request (a pandas DataFrame). The summary reduces them together
with engine statistics: latency percentiles, throughput, SLO attainment and goodput, KV-cache
utilisation, prefix-cache hit rate, preemptions, batch sizes, stability, GPU-hours and cost.

Inter-token latency comes from per-request aggregates (mean and max gap of each request), never
from stored per-token times. Cost is all-in: the GPUs of the deployment are paid for the whole
simulated duration (time 0 to the last completion, or to the hard stop), and that cost is divided
by completed queries, by input tokens or by output tokens.
"""

from __future__ import annotations

import math
from collections import Counter
from operator import attrgetter

import numpy as np
import pandas as pd

from simulator.engine.cluster import SimulationOutput
from simulator.engine.request import Status
from simulator.results.types import BatchSizeStats, ClosedLoopWindow, LatencyStats, ServingMetrics

STATUS_NAMES = {Status.WAITING: "unfinished", Status.RUNNING: "unfinished",
                Status.FINISHED: "completed", Status.REJECTED: "rejected"}


FLOAT_FIELDS = ("arrival_time_s", "first_scheduled_s", "first_token_s", "finish_s", "itl_sum_s", "itl_max_s")
INT_FIELDS = ("request_id", "replica", "num_prompt_tokens", "prefix_tokens", "num_cached_tokens",
              "num_output_tokens", "max_output_tokens", "num_preemptions")


def _columns(reqs: list, fields: tuple[str, ...], dtype) -> dict[str, np.ndarray]:
    """The requests' `fields` as arrays, read in one pass (one attrgetter per request, not one lambda per field)."""
    if not reqs:
        return {name: np.empty(0, dtype=dtype) for name in fields}
    table = np.array(list(map(attrgetter(*fields), reqs)), dtype=dtype)
    return {name: np.ascontiguousarray(table[:, i]) for i, name in enumerate(fields)}


def records_frame(output: SimulationOutput) -> pd.DataFrame:
    reqs = output.requests
    nan = math.nan
    f, n = _columns(reqs, FLOAT_FIELDS, float), _columns(reqs, INT_FIELDS, np.int64)

    def when(values: np.ndarray) -> np.ndarray:      # -1 (never happened) -> NaN
        return np.where(values >= 0, values, nan)

    arrival = f["arrival_time_s"]
    first_scheduled, first_token, finish = when(f["first_scheduled_s"]), when(f["first_token_s"]), when(f["finish_s"])
    outputs = n["num_output_tokens"]
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(outputs > 1, (finish - first_token) / (outputs - 1), nan)
        itl_mean = np.where(outputs > 1, f["itl_sum_s"] / (outputs - 1), nan)
    itl_max = np.where(outputs > 1, f["itl_max_s"], nan)
    return pd.DataFrame({
        "request_id": n["request_id"],
        "replica": n["replica"],
        "status": [STATUS_NAMES[r.status] for r in reqs],
        "reject_reason": [r.reject_reason for r in reqs],
        "arrival_time_s": arrival,
        "prompt_tokens": n["num_prompt_tokens"],
        "prefix_tokens": n["prefix_tokens"],
        "cached_tokens": np.maximum(n["num_cached_tokens"], 0),
        "output_tokens": outputs,
        "target_output_tokens": n["max_output_tokens"],
        "first_scheduled_s": first_scheduled,
        "first_token_s": first_token,
        "finish_s": finish,
        "queueing_delay_s": first_scheduled - arrival,
        "ttft_s": first_token - arrival,
        "tpot_s": tpot,
        "itl_mean_s": itl_mean,
        "itl_max_s": itl_max,
        "e2e_s": finish - arrival,
        "num_preemptions": n["num_preemptions"],
    })


def percentile_stats(values: pd.Series | np.ndarray) -> LatencyStats:
    data = np.asarray(values, dtype=float)
    data = data[~np.isnan(data)]
    if data.size == 0:
        return LatencyStats(p50=None, p90=None, p99=None, mean=None)
    p50, p90, p99 = np.percentile(data, [50, 90, 99])
    return LatencyStats(p50=float(p50), p90=float(p90), p99=float(p99), mean=float(data.mean()))


def _batch_stats(counts: Counter) -> BatchSizeStats:
    if not counts:
        return BatchSizeStats(mean=None, p50=None, p99=None, max=None)
    sizes = np.array(sorted(counts), dtype=float)
    weights = np.array([counts[int(s)] for s in sizes], dtype=float)
    cumulative = np.cumsum(weights) / weights.sum()
    return BatchSizeStats(mean=float((sizes * weights).sum() / weights.sum()),
                          p50=float(sizes[np.searchsorted(cumulative, 0.5)]),
                          p99=float(sizes[np.searchsorted(cumulative, 0.99)]),
                          max=float(sizes[-1]))


def meets_slo(frame: pd.DataFrame, slo_ttft_s: float | None, slo_tpot_s: float | None) -> pd.Series:
    """The SLO check, the one place it is written: per row (request or query) of `frame`, TTFT within
    `slo_ttft_s` and TPOT within `slo_tpot_s` (a row with one output token has no TPOT and passes it);
    a target of None is not checked. Callers choose the rows that count (completed, answered)."""
    meets = pd.Series(True, index=frame.index)
    if slo_ttft_s is not None:
        meets &= frame["ttft_s"] <= slo_ttft_s
    if slo_tpot_s is not None:
        meets &= frame["tpot_s"].isna() | (frame["tpot_s"] <= slo_tpot_s)
    return meets


def is_stable(records: pd.DataFrame, stability: dict) -> bool:
    """False when work is left at a hard stop, or the queueing delay grows across the run."""
    if (records["status"] == "unfinished").any():
        return False
    served = records[records["status"] == "completed"].sort_values("arrival_time_s")
    if len(served) < 10:
        return True
    fifths = np.array_split(served["queueing_delay_s"].to_numpy(), 5)
    early, late = float(fifths[1].mean()), float(fifths[-1].mean())
    mean_e2e = float(served["e2e_s"].mean())
    growing = late > stability["growth_ratio"] * early and late > stability["min_delay_fraction_of_e2e"] * mean_e2e
    return not growing


def closed_loop_window(records: pd.DataFrame, users: int, think_time_s: float) -> ClosedLoopWindow:
    """The steady window of a closed loop whose request i belongs to user i mod `users`
    (`workloads.generate.closed_loop_graph`); see `ClosedLoopWindow`."""
    ids = records["request_id"].to_numpy()
    finish = records["finish_s"].to_numpy()
    first, last = ids < users, ids >= len(ids) - users      # each user's first and last request
    start, end = np.max(finish[first]), np.min(finish[last])   # NaN when one of them never finished
    window = (records["status"].to_numpy() == "completed") & ~first & (finish > start) & (finish <= end)
    measured = records[window]
    span = end - start if end > start else math.nan
    count = len(measured)
    throughput = count / span if count and span > 0 else None
    mean_e2e = float(measured["e2e_s"].mean()) if count else None
    return ClosedLoopWindow(
        users=users, think_time_s=think_time_s,
        window_start_s=float(start) if not math.isnan(start) else None,
        window_end_s=float(end) if not math.isnan(end) else None, num_measured=count,
        throughput_requests_per_s=throughput,
        throughput_output_tokens_per_s=float(measured["output_tokens"].sum()) / span if throughput else None,
        ttft_s=percentile_stats(measured["ttft_s"]), tpot_s=percentile_stats(measured["tpot_s"]),
        e2e_s=percentile_stats(measured["e2e_s"]),
        users_by_littles_law=throughput * (mean_e2e + think_time_s) if throughput else None)


def summarize(records: pd.DataFrame, output: SimulationOutput, *, num_gpus: int, price_usd_per_gpu_hour: float,
              slo_ttft_s: float | None, slo_tpot_s: float | None, num_clipped: int,
              stability: dict, closed_loop: ClosedLoopWindow | None = None) -> ServingMetrics:
    completed = records[records["status"] == "completed"]
    num_requests = len(records)
    duration_s = output.end_time_s
    per_s = (lambda x: x / duration_s) if duration_s > 0 else (lambda x: 0.0)
    num_good = int(meets_slo(completed, slo_ttft_s, slo_tpot_s).sum())
    input_tokens = int(completed["prompt_tokens"].sum())
    output_tokens = int(completed["output_tokens"].sum())
    gpu_hours = num_gpus * duration_s / 3600.0
    cost_usd = gpu_hours * price_usd_per_gpu_hour
    stats = output.engine_stats
    busy = sum(s.busy_s for s in stats)
    batch_counts = sum((s.batch_size_counts for s in stats), Counter())
    num_iterations = sum(s.num_iterations for s in stats)
    reasons = Counter(r.split(":", 1)[0] for r in records.loc[records["status"] == "rejected", "reject_reason"])
    return ServingMetrics(
        num_requests=num_requests,
        num_completed=len(completed),
        num_rejected=int((records["status"] == "rejected").sum()),
        num_unfinished=int((records["status"] == "unfinished").sum()),
        num_clipped=num_clipped,
        reject_reasons=dict(sorted(reasons.items())),
        ttft_s=percentile_stats(completed["ttft_s"]),
        tpot_s=percentile_stats(completed["tpot_s"]),
        itl_s=percentile_stats(completed["itl_mean_s"]),
        itl_max_s=percentile_stats(completed["itl_max_s"]),
        e2e_s=percentile_stats(completed["e2e_s"]),
        queueing_delay_s=percentile_stats(completed["queueing_delay_s"]),
        duration_s=duration_s,
        throughput_requests_per_s=per_s(len(completed)),
        throughput_input_tokens_per_s=per_s(input_tokens),
        throughput_output_tokens_per_s=per_s(output_tokens),
        slo_attainment=num_good / num_requests if num_requests else None,
        goodput_requests_per_s=per_s(num_good),
        kv_cache_mean_utilization=(sum(s.kv_usage_time_integral for s in stats) / busy) if busy else 0.0,
        kv_cache_peak_utilization=max((s.kv_usage_peak for s in stats), default=0.0),
        prefix_cache_hit_rate=(output.num_prefix_hit_tokens / output.num_prefix_query_tokens
                               if output.prefix_caching_enabled and output.num_prefix_query_tokens else 0.0),
        num_preemptions=output.num_preemptions,
        num_iterations=num_iterations,
        num_engine_steps=sum(s.num_engine_steps for s in stats),
        batch_size=_batch_stats(batch_counts),
        mean_batched_tokens=(sum(s.num_batched_tokens_sum for s in stats) / num_iterations
                             if num_iterations else 0.0),
        gpu_busy_fraction=busy / (len(stats) * duration_s) if duration_s > 0 else 0.0,
        mean_requests_in_system=(output.requests_in_system_time_integral / duration_s
                                 if duration_s > 0 else 0.0),
        stable=is_stable(records, stability),
        gpu_hours=gpu_hours,
        price_usd_per_gpu_hour=price_usd_per_gpu_hour,
        cost_usd=cost_usd,
        cost_per_query_usd=cost_usd / len(completed) if len(completed) else None,
        cost_per_million_input_tokens_usd=cost_usd / input_tokens * 1e6 if input_tokens else None,
        cost_per_million_output_tokens_usd=cost_usd / output_tokens * 1e6 if output_tokens else None,
        closed_loop=closed_loop,
    )
