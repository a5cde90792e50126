"""One test per file in scenarios/: it runs, shows its qualitative result, and reproduces with its seed."""

import json
from pathlib import Path

import pytest

from simulator.runner import run
from simulator.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def check_quickstart(result):
    one, two = (d.metrics for d in result.deployments)
    assert one["num_completed"] == two["num_completed"] == result.num_requests
    assert one["stable"] and two["stable"]
    assert two["ttft_s"]["p99"] < one["ttft_s"]["p99"]               # a second replica cuts tail latency
    assert two["cost_usd"] > one["cost_usd"]                         # and costs more
    assert one["prefix_cache_hit_rate"] > 0.1                        # the shared system prompt is reused


def check_long_context(result):
    h100, h200, no_cache = (d.metrics for d in result.deployments)
    assert h100["prefix_cache_hit_rate"] > 0.9 and no_cache["prefix_cache_hit_rate"] == 0
    assert no_cache["ttft_s"]["p50"] > 10 * h100["ttft_s"]["p50"]     # re-prefilling 30K-token documents
    assert no_cache["cost_per_query_usd"] > h100["cost_per_query_usd"]
    assert h200["cost_per_query_usd"] < h100["cost_per_query_usd"]   # half the GPUs, more memory each


CHECKS = {"quickstart.yaml": check_quickstart, "long-context.yaml": check_long_context}


def test_every_scenario_file_has_a_check():
    assert {p.name for p in SCENARIOS.glob("*.yaml")} == set(CHECKS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_scenario(name):
    spec, base_dir = load_scenario(SCENARIOS / name)
    result = run(spec, base_dir=base_dir)
    CHECKS[name](result)
    again = run(spec, base_dir=base_dir)
    assert json.dumps(result.to_json_dict()) == json.dumps(again.to_json_dict())
