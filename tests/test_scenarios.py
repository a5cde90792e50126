"""One test per file in scenarios/: it runs, shows its qualitative result, and reproduces with its seed."""

import json
from pathlib import Path

import pytest

from simulator.comparisons.compare import compare
from simulator.results.runner import run
from simulator.specs.scenario import load_scenario
from simulator.specs.files import load_any_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def check_quickstart(result):
    one, two = (d.summary for d in result.deployments)
    assert one.num_completed == two.num_completed == result.num_requests
    assert one.stable and two.stable
    assert two.ttft_s.p99 < one.ttft_s.p99               # a second replica cuts tail latency
    assert two.cost_usd > one.cost_usd                         # and costs more
    assert one.prefix_cache_hit_rate > 0.1                        # the shared system prompt is reused


def check_long_context(result):
    h100, h200, no_cache = (d.summary for d in result.deployments)
    assert h100.prefix_cache_hit_rate > 0.9 and no_cache.prefix_cache_hit_rate == 0
    assert no_cache.ttft_s.p50 > 10 * h100.ttft_s.p50     # re-prefilling 30K-token documents
    assert no_cache.cost_per_query_usd > h100.cost_per_query_usd
    assert h200.cost_per_query_usd < h100.cost_per_query_usd   # half the GPUs, more memory each


def check_disaggregated(result):
    colocated, split, lopsided = (d.summary for d in result.deployments)
    assert all(d.resolved.num_gpus == 4 for d in result.deployments)
    assert split.tpot_s.p99 < 0.7 * colocated.tpot_s.p99     # no prefill chunks among the decodes
    assert split.ttft_s.p50 > colocated.ttft_s.p50           # transfer + a pool of its own
    assert split.stable and not lopsided.stable                    # one prefill GPU cannot keep up


def by_name(comparison):
    return {r.name: r.to_json_dict() for r in comparison.deployments}     # rows as their JSON


def check_legal(c):
    rows = by_name(c)
    assert rows["lc-70b"]["num_refused"] > rows["lc-70b"]["num_answered"]          # 128K context vs 100K-500K files
    assert rows["lc-scout"]["num_refused"] == 0 and rows["rag-70b"]["num_refused"] == 0
    assert rows["rag-70b"]["ttft_s"]["p99"] < rows["lc-scout"]["ttft_s"]["p99"]
    assert c.winner_on_cost == "rag-70b"


def check_codebase(c):
    rows = by_name(c)
    assert rows["lc-70b-map-reduce"]["num_answered"] == rows["lc-70b-map-reduce"]["num_queries"]
    assert rows["lc-70b-refuse"]["num_refused"] > 0
    assert rows["lc-70b-refuse"]["prefix_cache_hit_rate"] > 0.3                      # repositories are reused


def check_support(c):
    rows = by_name(c)
    assert rows["rag-8b"]["num_retrieval_nodes"] == 2 and rows["rag-8b"]["api_cost_per_query_usd"] > 0
    assert all(r.slo_attainment >= 0.95 for r in c.deployments)


def check_meetings(c):
    rows = by_name(c)
    assert rows["lc-cached"]["prefix_cache_hit_rate"] > 0.9
    assert rows["lc-no-cache"]["cost_per_query_usd"] > 2 * rows["lc-cached"]["cost_per_query_usd"]
    assert c.winner_on_cost == "lc-cached"


def check_chat(c):
    rows = by_name(c)
    assert rows["h100-cached"]["ttft_s"]["p50"] < rows["h100-no-cache"]["ttft_s"]["p50"]
    assert rows["h100-cached"]["prefix_cache_hit_rate"] > 0.3


CHECKS = {"quickstart.yaml": check_quickstart, "long-context.yaml": check_long_context,
          "legal-case-files.yaml": check_legal, "codebase-qa.yaml": check_codebase,
          "support-knowledge-base.yaml": check_support, "meeting-transcripts.yaml": check_meetings,
          "chat-assistant.yaml": check_chat, "disaggregated.yaml": check_disaggregated}
SERVING = {"quickstart.yaml", "long-context.yaml", "disaggregated.yaml"}


def test_every_scenario_file_has_a_check():
    assert {p.name for p in SCENARIOS.glob("*.yaml")} == set(CHECKS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SERVING))
def test_scenario(name):
    spec, base_dir = load_scenario(SCENARIOS / name)
    result = run(spec, base_dir=base_dir)
    CHECKS[name](result)
    again = run(spec, base_dir=base_dir)
    assert json.dumps(result.to_json_dict()) == json.dumps(again.to_json_dict())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(CHECKS)))
def test_compare_runs_every_scenario(name):
    """Every scenario compares, capacity search included (wall time, goal < 1 min: benchmarks/suite_timings.py)."""
    spec, base_dir = load_any_scenario(SCENARIOS / name)
    result = compare(spec, base_dir)
    assert all(r.max_sustainable_qps is not None for r in result.deployments)
    if name not in SERVING:
        CHECKS[name](result)
        again = compare(spec, base_dir, search_capacity=False)
        assert [r.cost_per_query_usd for r in again.deployments] == [r.cost_per_query_usd for r in result.deployments]
