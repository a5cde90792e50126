"""The comparison row, built in one place for both kinds of scenario.

A comparison scenario's deployment (`simulator.comparisons.deployment_run`) is measured per query
(its calls, retrieval and API charges included); a serving scenario's deployment compared side by
side (`simulator.comparisons.compare`) is measured per request. Both hand their totals to
`comparison_row`, which derives the per-query and per-month figures the same way:

    cost_per_query_usd           cost_usd / answered queries
    busy_cost_per_query_usd      busy_cost_usd (device time the queries kept busy) / answered queries
    cost_per_month_usd           cost_usd / duration_s x SECONDS_PER_MONTH (+ re-indexing per month)
    cost_per_correct_answer_usd  cost_per_query_usd / expected accuracy

`QueryCosts` carries what only a comparison scenario has (indexing, API prices, hybrid fallback);
without it the row is a `ServingComparisonRow`. Capacity (`max_sustainable_qps`) is added by
`compare.deployment_row`.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.results.types import ComparisonRow, LatencyStats, ServingComparisonRow, ServingMetrics

SECONDS_PER_MONTH = 2_628_000


@dataclass(frozen=True, slots=True)
class QueryCosts:
    """The comparison scenario's own cost terms."""
    indexing_one_off_usd: float
    indexing_per_month_usd: float
    api_cost_per_query_usd: float | None
    fallback_fraction: float | None


@dataclass(frozen=True, slots=True)
class Answered:
    """Counts and latencies over the answered queries (or completed requests) of one run."""
    num_queries: int
    num_answered: int
    num_refused: int
    ttft_s: LatencyStats
    e2e_s: LatencyStats
    tpot_s: LatencyStats
    slo_attainment: float | None


def comparison_row(*, name: str, kind: str, model: str, hardware: str, hardware_provenance: str,
                   answered: Answered, num_gpus: int,
                   num_retrieval_nodes: int, cost_usd: float, busy_cost_usd: float, duration_s: float,
                   llm: ServingMetrics, expected_accuracy: float | None, accuracy_source: str | None,
                   notes: list[str], query_costs: QueryCosts | None = None) -> ComparisonRow | ServingComparisonRow:
    """One deployment's row, its capacity not yet searched (`max_sustainable_qps` None)."""
    n = answered.num_answered
    per_query = cost_usd / n if n else None
    per_month = cost_usd / duration_s * SECONDS_PER_MONTH if duration_s > 0 else 0.0
    fields = dict(
        name=name, kind=kind, model=model, hardware=hardware, hardware_provenance=hardware_provenance,
        num_queries=answered.num_queries, num_answered=n,
        num_refused=answered.num_refused, num_gpus=num_gpus, num_retrieval_nodes=num_retrieval_nodes,
        cost_usd=cost_usd, cost_per_query_usd=per_query, busy_cost_per_query_usd=busy_cost_usd / n if n else None,
        cost_per_month_usd=per_month + query_costs.indexing_per_month_usd if query_costs else per_month,
        ttft_s=answered.ttft_s, e2e_s=answered.e2e_s, tpot_s=answered.tpot_s,
        slo_attainment=answered.slo_attainment, stable=llm.stable,
        kv_cache_peak_utilization=llm.kv_cache_peak_utilization, prefix_cache_hit_rate=llm.prefix_cache_hit_rate,
        num_preemptions=llm.num_preemptions, expected_accuracy=expected_accuracy, accuracy_source=accuracy_source,
        cost_per_correct_answer_usd=(per_query / expected_accuracy) if per_query and expected_accuracy else None,
        duration_s=duration_s, notes=notes, max_sustainable_qps=None, capacity_num_queries=None)
    if query_costs is None:
        return ServingComparisonRow(**fields)
    return ComparisonRow(**fields, indexing_one_off_usd=query_costs.indexing_one_off_usd,
                         api_cost_per_query_usd=query_costs.api_cost_per_query_usd,
                         fallback_fraction=query_costs.fallback_fraction)
