"""RAG versus long context: cost trends, refusal, map-reduce, hybrid, conversations, crossover."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simulator.engine.cluster import CallGraph, RouterPolicy, simulate
from simulator.comparisons.compare import compare
from simulator.comparisons.deployment_run import run_comparison_deployment
from simulator.specs.comparison import ComparisonSpec
from simulator.comparisons.crossover import crossover, parse_vary
from simulator.errors import InputError
from simulator.comparisons.quality import quality_model
from simulator.engine.request import Request, Status

from conftest import simple_setup

ROOT = Path(__file__).resolve().parent.parent
LLM = {"model": "llama-3.1-8b", "hardware": "h100-sxm"}
NO_CACHE = {**LLM, "engine": {"enable_prefix_caching": False}}
FREE_RETRIEVAL = {"top_k": 16, "embedding": {"api_usd_per_million_tokens": 0.0},
                  "vector_search": {"node_usd_per_hour": 0.0}}


def spec(doc_tokens=30000, num_documents=100000, n=20, rate=0.01, deployments=None, **corpus) -> ComparisonSpec:
    return ComparisonSpec.model_validate({
        "name": "t", "seed": 1,
        "corpus": {"num_documents": num_documents, "document_tokens": {"dist": "constant", "value": doc_tokens},
                   "popularity": "uniform", "chunk_tokens": 512, **corpus},
        "queries": {"num_requests": n, "arrival": {"process": "constant", "rate_per_s": rate},
                    "question_tokens": {"dist": "constant", "value": 50},
                    "output_tokens": {"dist": "constant", "value": 100}},
        "slo": {"ttft_s": 100, "target_attainment": 0.9},
        "deployments": deployments or [{"name": "lc", "kind": "long_context", "llm": NO_CACHE}],
    })


def busy_cost(s, index=0):
    return run_comparison_deployment(s, index).busy_cost_per_query_usd


def test_long_context_cost_grows_faster_than_linear_without_reuse():
    costs = {d: busy_cost(spec(doc_tokens=d)) for d in (30000, 60000, 120000)}
    assert costs[60000] / costs[30000] > 2.0
    assert costs[120000] / costs[60000] > 2.0


def test_reuse_with_prefix_caching_falls_toward_decode_only_cost():
    cached = {"name": "lc", "kind": "long_context", "llm": LLM}
    reused = busy_cost(spec(doc_tokens=60000, num_documents=1, n=200, rate=0.5, deployments=[cached]))
    some_reuse = busy_cost(spec(doc_tokens=60000, num_documents=20, n=200, rate=0.5, deployments=[cached]))
    no_reuse = busy_cost(spec(doc_tokens=60000, num_documents=100000, n=200, rate=0.5, deployments=[cached]))
    decode_only = busy_cost(spec(doc_tokens=16, num_documents=1, n=200, rate=0.5, deployments=[cached]))
    assert no_reuse > some_reuse > reused
    assert reused < 2.0 * decode_only < no_reuse / 2


def test_rag_cost_is_nearly_flat_in_document_length():
    rag = [{"name": "rag", "kind": "rag", "llm": NO_CACHE, "retrieval": FREE_RETRIEVAL}]
    short, long = (busy_cost(spec(doc_tokens=d, num_documents=50, deployments=rag)) for d in (8000, 500000))
    assert long == pytest.approx(short, rel=0.05)


def test_document_past_the_context_is_refused_with_the_reason():
    result = run_comparison_deployment(spec(doc_tokens=200000), 0)
    assert result.num_refused == result.num_queries == 20 and result.num_answered == 0
    assert result.cost_per_query_usd is None and result.expected_accuracy == 0
    mr = spec(doc_tokens=200000, deployments=[{"name": "mr", "kind": "long_context", "on_overflow": "map_reduce",
                                               "llm": NO_CACHE}])
    answered = run_comparison_deployment(mr, 0)
    assert answered.num_answered == 20 and answered.num_refused == 0


def test_refusal_reason_names_the_sizes_and_refused_calls_never_reach_the_engine(tmp_path):
    from simulator.comparisons.deployment_run import _calls
    from simulator.specs.deployment import resolve_deployment
    from simulator.comparisons.queries import generate_queries
    s = spec(doc_tokens=200000, n=3)
    resolved = resolve_deployment(s.deployments[0].llm, "llm")
    calls, _ = _calls(s, s.deployments[0], resolved, generate_queries(s, np.random.default_rng(1)), None)
    assert calls.requests == [] and len(calls.refused) == 3
    assert calls.refused[0].reject_reason == "document_exceeds_context: 200350 tokens > 131072"
    path = tmp_path / "s.yaml"
    path.write_text(s.model_dump_json())
    out = subprocess.run([str(Path(sys.executable).parent / "ctxplan"), "compare", str(path), "--skip-capacity"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "0/3" in out.stdout


def test_hybrid_falls_back_after_the_rag_call():
    hybrid = [{"name": "h", "kind": "hybrid", "llm": NO_CACHE, "retrieval": FREE_RETRIEVAL, "fallback_fraction": 0.5}]
    s = spec(doc_tokens=20000, n=40, deployments=hybrid)
    rag_only = [{"name": "r", "kind": "rag", "llm": NO_CACHE, "retrieval": FREE_RETRIEVAL}]
    h = run_comparison_deployment(s, 0)
    r = run_comparison_deployment(spec(doc_tokens=20000, n=40, deployments=rag_only), 0)
    assert h.fallback_fraction == 0.5
    assert h.e2e_s.p90 > r.e2e_s.p90            # fallback queries wait for both calls
    assert h.busy_cost_per_query_usd > r.busy_cost_per_query_usd


def test_crossover_matches_the_hand_computed_point():
    # Same model, no caching, no retrieval cost: long context costs more than RAG exactly when the
    # document is longer than RAG's retrieved context, top_k x chunk = 16 x 512 = 8192 tokens.
    deployments = [{"name": "lc", "kind": "long_context", "llm": NO_CACHE},
                   {"name": "rag", "kind": "rag", "llm": NO_CACHE, "retrieval": FREE_RETRIEVAL}]
    name, low, high = parse_vary("document_tokens=2k..32k")
    result = crossover(spec(n=6, deployments=deployments), name, low, high, points=5,
                       metric="busy_cost_per_query_usd")       # the device time queries use: the hand computation
    assert [c["from"] for c in result["crossovers"]] == ["lc"] and result["crossovers"][0]["to"] == "rag"
    assert result["crossovers"][0]["value"] == pytest.approx(8192, rel=0.1)


def test_vary_parsing_errors():
    with pytest.raises(InputError, match="--vary"):
        parse_vary("document_tokens=8k-1M")
    with pytest.raises(InputError, match="unknown variable"):
        parse_vary("colour=1..2")


def test_conversations_reuse_history_and_wait_for_think_time():
    s = ComparisonSpec.model_validate({
        "name": "chat", "seed": 3,
        "conversations": {"num_sessions": 20, "arrival": {"process": "poisson", "rate_per_s": 0.2},
                          "turns": {"dist": "constant", "value": 4}, "user_tokens": {"dist": "constant", "value": 200},
                          "output_tokens": {"dist": "constant", "value": 50}, "think_time_s": 10,
                          "system_prompt_tokens": 300},
        "deployments": [{"name": "cached", "kind": "llm", "llm": LLM},
                        {"name": "plain", "kind": "llm", "llm": NO_CACHE}]})
    cached, plain = (run_comparison_deployment(s, i) for i in range(2))
    assert cached.num_queries == 80 and cached.num_answered == 80
    assert cached.prefix_cache_hit_rate > 0.5 and plain.prefix_cache_hit_rate == 0
    assert cached.ttft_s.mean < plain.ttft_s.mean


def test_dependent_call_waits_for_parents_plus_delay_and_inherits_rejection():
    child = Request(request_id=2, arrival_time_s=0.0, num_prompt_tokens=4, max_output_tokens=1)
    parent = Request(request_id=1, arrival_time_s=0.0, num_prompt_tokens=4, max_output_tokens=1)
    graph = CallGraph()
    graph.add(parent, [child])
    graph.set_release(child, delay_s=1.0, latency_from_release=True)
    simulate([parent, child], simple_setup(), 1, RouterPolicy.ROUND_ROBIN, calls=graph)
    assert parent.finish_s == pytest.approx(0.14)
    assert child.ready_time_s == pytest.approx(1.14) and child.arrival_time_s == pytest.approx(1.14)
    assert child.finish_s == pytest.approx(1.28)
    orphan = Request(request_id=4, arrival_time_s=0.0, num_prompt_tokens=4, max_output_tokens=1)
    too_big = Request(request_id=3, arrival_time_s=0.0, num_prompt_tokens=10_000, max_output_tokens=1)
    graph = CallGraph()
    graph.add(too_big, [orphan])
    simulate([too_big, orphan], simple_setup(), 1, RouterPolicy.ROUND_ROBIN, calls=graph)
    assert orphan.status is Status.REJECTED and orphan.reject_reason.startswith("parent_rejected")


def test_quality_prior_shapes_and_overrides():
    q = quality_model("llama-3.1-70b")
    reader = q.reader(np.array([4096, 32768, 131072, 1_000_000]))
    assert list(reader) == sorted(reader, reverse=True) and reader[0] == 1.0
    middle, ends = q.position(np.array([0.5]), 131072)[0], q.position(np.array([0.0, 1.0]), 131072)
    assert middle < ends.min()
    assert q.recall(1) < q.recall(8) < q.recall(50)
    assert quality_model("llama-4-scout").ruler_source == "RULER row default"
    custom = quality_model("llama-3.1-8b", {"recall_at_k": [[1, 0.9], [100, 0.99]], "closed_book_accuracy": 0.1})
    assert custom.recall(1) == pytest.approx(0.9) and custom.closed_book == 0.1


def test_ruler_rows_are_each_models_own_and_effective_lengths_follow():
    mixtral, big = quality_model("mixtral-8x7b"), quality_model("mixtral-8x22b")
    assert mixtral.ruler_source == "RULER row mixtral-8x7b" and mixtral.ruler_scores != big.ruler_scores
    assert quality_model("mistral-7b").effective_length() == 16384        # RULER: Mistral-7B-v0.2 row, 16K
    assert quality_model("llama-3.1-70b").effective_length() == 65536


def test_quality_notes_say_when_the_prior_is_a_stand_in_or_extrapolated():
    from types import SimpleNamespace
    from simulator.comparisons.deployment_run import quality_notes
    answer = SimpleNamespace(num_prompt_tokens=300_000, is_answer=True)
    notes = quality_notes("llama-4-scout", SimpleNamespace(requests=[answer]), quality_model("llama-4-scout"))
    assert any("no row for llama-4-scout" in n for n in notes) and any("extrapolated" in n for n in notes)
    short = SimpleNamespace(requests=[SimpleNamespace(num_prompt_tokens=5_000, is_answer=True)])
    assert quality_notes("llama-3.1-70b", short, quality_model("llama-3.1-70b")) == []


def test_compare_json_contract_and_winners():
    deployments = [{"name": "lc", "kind": "long_context", "llm": LLM},
                   {"name": "rag", "kind": "rag", "llm": LLM, "retrieval": {"top_k": 8}}]
    result = compare(spec(doc_tokens=20000, num_documents=5, n=40, rate=0.2, deployments=deployments))
    data = result.to_json_dict()
    for row in data["deployments"]:
        for key in ("name", "kind", "cost_per_query_usd", "cost_per_month_usd", "num_gpus", "ttft_s", "e2e_s",
                    "slo_attainment", "max_sustainable_qps", "expected_accuracy", "cost_per_correct_answer_usd"):
            assert key in row
        assert row["max_sustainable_qps"] > 0
    assert data["winner_on_cost"] in {"lc", "rag"} and data["winner_on_quality"] in {"lc", "rag"}
    best = min(data["deployments"], key=lambda r: r["cost_per_query_usd"])["name"]
    assert data["winner_on_cost"] == best


def test_crossover_ranks_by_compares_cost_metric_and_names_it():
    from simulator.comparisons.compare import COST_METRIC
    deployments = [{"name": "lc", "kind": "long_context", "llm": NO_CACHE},
                   {"name": "rag", "kind": "rag", "llm": NO_CACHE, "retrieval": FREE_RETRIEVAL}]
    name, low, high = parse_vary("document_tokens=2k..8k")
    result = crossover(spec(n=4, deployments=deployments), name, low, high, points=3)
    assert result["metric"] == COST_METRIC[0] == "cost_per_query_usd"
    assert "all-in" in result["metric_description"]
