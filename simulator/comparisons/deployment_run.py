"""One deployment of a comparison scenario on the scenario's queries (`run_comparison_deployment`):
its calls, its simulation and its row of cost, latency and expected accuracy. `simulator.comparisons.compare`
runs every deployment, searches capacity and picks the winners.

Cost of a run is all-in over the simulated duration: LLM GPUs, embedding and reranking GPUs (or
the embedding API's per-token price), vector-search nodes. Two per-query figures follow:

    cost_per_query_usd       all-in cost / answered queries, at the scenario's query rate
    busy_cost_per_query_usd  only the device time the queries kept busy (a right-sized fleet)

`cost_per_month_usd` is the all-in cost rate times a month (2,628,000 s) plus re-indexing.
Queries are timed from their arrival (retrieval stages and any earlier calls included) to the
answering call's first token (TTFT) and to the end of their last call (end-to-end).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.results import metrics
from simulator.catalog import resolve_hardware
from simulator.engine.cluster import simulate
from simulator.specs.comparison import ComparisonSpec, LongContextDeployment, RagDeployment
from simulator.specs.deployment import ResolvedDeployment, resolve_deployment
from simulator.comparisons.queries import (Calls, QuerySet, id_counter, chat_calls, generate_queries, generate_sessions,
                               long_context_calls, rag_calls)
from simulator.comparisons.quality import kv_quality_penalty, quality_model, quality_priors
from simulator.workloads.rag import encoder_time_s, pipeline_ready_times, retrieval_defaults, search_time_s
from simulator.comparisons.rows import Answered, QueryCosts, comparison_row
from simulator.results.types import ComparisonRow, LatencyStats, ServingMetrics
from simulator.specs.engine_spec import engine_defaults

API_ROUND_TRIP_S = 0.05      # embedding API latency per query (assumption: one network round trip)


def _retrieval(spec: ComparisonSpec, dep, queries: QuerySet, base_dir):
    """Pipeline ready times, infra $/s, busy device-seconds, GPUs, nodes and indexing cost of a RAG path."""
    r, corpus = dep.retrieval, spec.corpus
    n = len(queries)
    num_chunks = int(np.ceil(queries.document_tokens / corpus.chunk_tokens).sum())
    stages, rate_usd_per_s, busy_usd, api_usd, gpus = [], 0.0, 0.0, 0.0, 0
    emb = r.embedding
    emb_hw = resolve_hardware(emb.hardware, field=f"{dep.name}.retrieval.embedding.hardware", base_dir=base_dir)
    corpus_tokens = float(queries.document_tokens.sum())
    if emb.api_usd_per_million_tokens is not None:
        stages.append((np.full(n, API_ROUND_TRIP_S), n))      # an API scales out: no queueing
        api_usd += float(queries.question_tokens.sum()) * emb.api_usd_per_million_tokens / 1e6
        busy_usd += api_usd
        indexing = corpus_tokens * emb.api_usd_per_million_tokens / 1e6
    else:
        emb_service = np.array([encoder_time_s(emb.params_m * 1e6, t, emb_hw, "embedding")
                                for t in queries.question_tokens.tolist()])
        stages.append((emb_service, emb.replicas))
        price = emb_hw.on_demand_usd_per_gpu_hour / 3600
        rate_usd_per_s += emb.replicas * price
        busy_usd += float(emb_service.sum()) * price
        gpus += emb.replicas
        indexing = encoder_time_s(emb.params_m * 1e6, corpus_tokens, emb_hw, "embedding") * price
    vs = r.vector_search
    search = search_time_s(vs.index, num_chunks, vs.dim, vs.recall_target)
    concurrency = retrieval_defaults()["vector_search"]["concurrent_queries_per_node"]
    stages.append((np.full(n, search), vs.nodes * concurrency))
    rate_usd_per_s += vs.nodes * vs.node_usd_per_hour / 3600
    busy_usd += n * search / concurrency * vs.node_usd_per_hour / 3600
    if r.rerank is not None:
        rr = r.rerank
        rr_hw = resolve_hardware(rr.hardware, field=f"{dep.name}.retrieval.rerank.hardware", base_dir=base_dir)
        tokens = rr.candidates * (rr.candidate_tokens or corpus.chunk_tokens)
        service = encoder_time_s(rr.params_m * 1e6, tokens, rr_hw, "rerank")
        stages.append((np.full(n, service), rr.replicas))
        price = rr_hw.on_demand_usd_per_gpu_hour / 3600
        rate_usd_per_s += rr.replicas * price
        busy_usd += n * service * price
        gpus += rr.replicas
    ready = pipeline_ready_times(queries.arrival_s, stages)
    return ready, {"rate_usd_per_s": rate_usd_per_s, "busy_usd": busy_usd, "api_usd": api_usd, "gpus": gpus,
                   "nodes": vs.nodes, "indexing_usd": indexing}


def _fallback_mask(spec: ComparisonSpec, n: int, fraction: float) -> np.ndarray:
    rng = np.random.default_rng([spec.seed, 7919])            # its own stream: same choice for every rerun
    return rng.random(n) < fraction


def _calls(spec, dep, resolved: ResolvedDeployment, data, base_dir) -> tuple[Calls, dict]:
    quality = quality_model(resolved.model.name, spec.quality.model_dump(exclude_none=True) if spec.quality else None)
    calls, extra = _calls_unpenalised(spec, dep, resolved, data, base_dir, quality)
    penalty = kv_quality_penalty(dep.llm.kv_cache_dtype, dep.llm.kv_quality_penalty)
    if penalty and calls.accuracy is not None:
        calls.accuracy = np.maximum(0.0, np.asarray(calls.accuracy, dtype=float) - penalty)
    extra["kv_quality_penalty"] = penalty
    if calls.accuracy is not None:
        extra["quality_notes"] = quality_notes(resolved.model.name, calls, quality)
    return calls, extra


def quality_notes(model: str, calls: Calls, quality) -> list[str]:
    """Where the accuracy prior leaves what RULER measured: the default row, or prompts past its last length."""
    notes = []
    if quality.uses_default_row:
        notes.append(f"expected accuracy: RULER has no row for {model}; the median row of its table stands in")
    longest = max((r.num_prompt_tokens for r in calls.requests if r.is_answer), default=0)
    if longest > quality.ruler_lengths[-1]:
        notes.append(f"expected accuracy extrapolated: prompts up to {longest:,} tokens, past the "
                     f"{quality.ruler_lengths[-1]:,} tokens RULER measured ({quality.ruler_source})")
    return notes


def _calls_unpenalised(spec, dep, resolved: ResolvedDeployment, data, base_dir, quality) -> tuple[Calls, dict]:
    context = resolved.model.max_context_tokens
    calls, extra = Calls(), {"rate_usd_per_s": 0.0, "busy_usd": 0.0, "api_usd": 0.0, "gpus": 0, "nodes": 0,
                             "indexing_usd": 0.0, "quality_source": quality.ruler_source}
    if dep.kind == "llm":
        c = spec.conversations
        chat_calls(data, c.system_prompt_tokens, c.think_time_s, context, calls)
        return calls, extra
    ids, n = id_counter(), len(data)
    calls.num_queries = n
    if isinstance(dep, LongContextDeployment):
        calls.accuracy = long_context_calls(data, dep, context, quality, ids, calls)
        return calls, extra
    ready, retrieval = _retrieval(spec, dep, data, base_dir)
    extra.update(retrieval)
    recall = quality.recall(dep.retrieval.top_k)
    rag_context = dep.system_prompt_tokens + dep.retrieval.top_k * spec.corpus.chunk_tokens + data.question_tokens
    if isinstance(dep, RagDeployment):
        rag_calls(data, dep, spec.corpus.chunk_tokens, context, ids, calls, ready)
        calls.accuracy = quality.accuracy(recall, rag_context, 0.0)
        return calls, extra
    fraction = dep.fallback_fraction if dep.fallback_fraction is not None else 1.0 - recall
    declined = _fallback_mask(spec, n, fraction)
    parents = rag_calls(data, dep, spec.corpus.chunk_tokens, context, ids, calls, ready, declined)
    perfect = min(1.0, recall / max(1e-9, 1.0 - fraction))
    routing = dep.routing_quality if dep.routing_quality is not None else quality_priors()["routing_quality"]
    kept_evidence = recall + routing * (perfect - recall)
    accuracy = quality.accuracy(kept_evidence, rag_context, 0.0)
    fallback = np.flatnonzero(declined)
    accuracy[fallback] = long_context_calls(data, dep, context, quality, ids, calls, fallback, parents)
    calls.accuracy = accuracy
    extra["fallback_fraction"] = fraction
    return calls, extra


def query_table(requests, num_queries: int) -> pd.DataFrame:
    """One row per query: arrival, answer's first token and TPOT, last finish, outcome."""
    arrival = np.full(num_queries, np.nan)
    first_token = np.full(num_queries, np.nan)
    finish = np.full(num_queries, np.nan)
    tpot = np.full(num_queries, np.nan)
    outcome = np.array(["unfinished"] * num_queries, dtype=object)
    for r in sorted(requests, key=lambda r: r.is_answer):        # answering calls last: they decide
        q = r.query_id
        arrival[q] = r.arrival_time_s if np.isnan(arrival[q]) else min(arrival[q], r.arrival_time_s)
        if r.status.name == "REJECTED":
            outcome[q] = "refused" if r.reject_reason.startswith(("document_exceeds", "parent_rejected: document")) \
                else "rejected"
        if r.finish_s >= 0:
            finish[q] = max(finish[q], r.finish_s) if not np.isnan(finish[q]) else r.finish_s
        if r.is_answer and r.first_token_s >= 0:
            first_token[q] = r.first_token_s
            if r.status.name == "FINISHED":
                outcome[q] = "answered"
                if r.num_output_tokens > 1:
                    tpot[q] = (r.finish_s - r.first_token_s) / (r.num_output_tokens - 1)
    return pd.DataFrame({"query_id": np.arange(num_queries), "arrival_time_s": arrival, "outcome": outcome,
                         "ttft_s": first_token - arrival, "tpot_s": tpot, "e2e_s": finish - arrival})


def run_comparison_deployment(spec: ComparisonSpec, index: int, base_dir: Path | None = None,
                              data=None) -> ComparisonRow:
    """One deployment's row; `trace_deployment` also returns its engine timeline and per-query TTFTs."""
    return _run(spec, index, base_dir, data, False)[0]


@dataclass(frozen=True, slots=True)
class TracedDeployment:
    row: ComparisonRow
    timeline: pd.DataFrame           # engine steps of every replica (runner.timeline_frame)
    answered_ttft_s: np.ndarray      # TTFT of each answered query


def trace_deployment(spec: ComparisonSpec, index: int, base_dir: Path | None = None, data=None) -> TracedDeployment:
    from simulator.results.runner import timeline_frame
    row, output, queries = _run(spec, index, base_dir, data, True)
    return TracedDeployment(row, timeline_frame(output.timeline),
                            queries.loc[queries["outcome"] == "answered", "ttft_s"].to_numpy())


def _run(spec: ComparisonSpec, index: int, base_dir: Path | None, data, trace: bool):
    dep = spec.deployments[index]
    resolved = resolve_deployment(dep.llm, f"deployments[{index}].llm", base_dir)
    if data is None:
        rng = np.random.default_rng(spec.seed)
        data = generate_queries(spec, rng, base_dir) if spec.queries else generate_sessions(spec, rng, base_dir)
    calls, extra = _calls(spec, dep, resolved, data, base_dir)
    output = simulate(calls.requests, resolved.setup, dep.llm.replicas, dep.llm.router, spec.max_sim_time_s,
                      prefill=resolved.prefill, trace=trace, calls=calls.graph)
    everything = calls.requests + calls.refused
    queries = query_table(everything, calls.num_queries)
    records = metrics.records_frame(dataclasses.replace(output, requests=everything))
    llm = metrics.summarize(records, output, num_gpus=resolved.num_gpus,
                            price_usd_per_gpu_hour=resolved.price_usd_per_gpu_hour, slo_ttft_s=spec.slo.ttft_s,
                            slo_tpot_s=spec.slo.tpot_s, num_clipped=calls.num_clipped_turns,
                            stability=engine_defaults()["stability"])
    return _summary(spec, dep, resolved, calls, extra, output, queries, llm), output, queries


def _summary(spec, dep, resolved, calls, extra, output, queries, llm: ServingMetrics) -> ComparisonRow:
    duration = output.end_time_s
    answered = queries["outcome"] == "answered"
    meets = answered & metrics.meets_slo(queries, spec.slo.ttft_s, spec.slo.tpot_s)
    cost = llm.cost_usd + extra["rate_usd_per_s"] * duration + extra["api_usd"]
    gpus_per_engine = resolved.num_gpus / len(output.engine_stats)
    busy_llm = sum(s.busy_s for s in output.engine_stats) * gpus_per_engine * resolved.price_usd_per_gpu_hour / 3600
    accuracy = float(np.mean(calls.accuracy)) if calls.accuracy is not None and len(calls.accuracy) else None

    def stats(column: str) -> LatencyStats:
        return metrics.percentile_stats(queries.loc[answered, column])
    counts = Answered(num_queries=calls.num_queries, num_answered=int(answered.sum()),
                      num_refused=int((queries["outcome"] == "refused").sum()), ttft_s=stats("ttft_s"),
                      e2e_s=stats("e2e_s"), tpot_s=stats("tpot_s"),
                      slo_attainment=float(meets.sum() / len(queries)) if len(queries) else None)
    costs = QueryCosts(indexing_one_off_usd=extra["indexing_usd"],
                       indexing_per_month_usd=extra["indexing_usd"] * (spec.corpus.updates_per_month_fraction
                                                                       if spec.corpus else 0.0),
                       api_cost_per_query_usd=_api_cost(dep, calls) if dep.api_pricing else None,
                       fallback_fraction=extra.get("fallback_fraction"))
    return comparison_row(
        name=dep.name, kind=dep.kind, model=resolved.model.name, hardware=resolved.hardware.name,
        hardware_provenance=resolved.hardware.provenance, answered=counts,
        num_gpus=resolved.num_gpus + extra["gpus"], num_retrieval_nodes=extra["nodes"], cost_usd=cost,
        busy_cost_usd=busy_llm + extra["busy_usd"], duration_s=duration, llm=llm, expected_accuracy=accuracy,
        accuracy_source=(f"prior: {extra['quality_source']}, Lost-in-the-Middle position curve, recall@k "
                         "(catalog/quality.yaml)") if accuracy is not None else None,
        notes=list(resolved.notes) + extra.get("quality_notes", []), query_costs=costs)


def _api_cost(dep, calls: Calls) -> float | None:
    pricing = dep.api_pricing
    cached_price = pricing.cached_input_usd_per_million if pricing.cached_input_usd_per_million is not None \
        else pricing.input_usd_per_million
    total = 0.0
    for r in calls.requests:
        cached = max(r.num_cached_tokens, 0)
        total += ((r.num_prompt_tokens - cached) * pricing.input_usd_per_million + cached * cached_price
                  + r.max_output_tokens * pricing.output_usd_per_million) / 1e6
    return total / calls.num_queries if calls.num_queries else None
