"""Whole runs: Little's law, saturation, determinism, conservation of requests."""

import json

import pytest

from simulator.results.runner import run
from simulator.specs.scenario import ScenarioSpec


def spec_of(data: dict) -> ScenarioSpec:
    return ScenarioSpec.model_validate(data)


def test_same_seed_same_summary_and_other_seed_differs(chat_scenario):
    spec = spec_of(chat_scenario)
    first = json.dumps(run(spec).to_json_dict())
    again = json.dumps(run(spec).to_json_dict())
    other = json.dumps(run(spec, seed=8).to_json_dict())
    assert first == again
    assert first != other


@pytest.mark.slow
def test_littles_law_on_a_stable_run(chat_scenario):
    chat_scenario["workload"]["num_requests"] = 3000
    chat_scenario["workload"]["arrival"]["rate_per_s"] = 6.0
    result = run(spec_of(chat_scenario)).deployments[0]
    m = result.summary
    assert m.stable and m.num_completed == 3000
    rate = 6.0
    little = rate * m.e2e_s.mean
    assert m.mean_requests_in_system == pytest.approx(little, rel=0.05)


def test_overload_grows_the_queue_and_is_reported_unstable(chat_scenario):
    chat_scenario["workload"]["num_requests"] = 1500
    chat_scenario["workload"]["arrival"]["rate_per_s"] = 200.0        # far past one replica's capacity
    records = run(spec_of(chat_scenario)).deployments[0]
    m = records.summary
    assert m.stable is False
    served = records.records.sort_values("arrival_time_s")
    fifths = [chunk["queueing_delay_s"].mean() for chunk in
              (served.iloc[i * 300:(i + 1) * 300] for i in range(5))]
    assert fifths[0] < fifths[1] < fifths[2] < fifths[3] < fifths[4]   # grows throughout, no plateau
    steps = [later - earlier for earlier, later in zip(fifths[1:], fifths[2:])]
    assert min(steps) > 0.5 * max(steps)          # linear growth: queue never catches up


def test_light_load_is_stable(chat_scenario):
    chat_scenario["workload"]["num_requests"] = 300
    chat_scenario["workload"]["arrival"]["rate_per_s"] = 1.0
    m = run(spec_of(chat_scenario)).deployments[0].summary
    assert m.stable is True


def test_conservation_with_rejections_and_hard_stop(chat_scenario):
    chat_scenario["workload"]["prompt_tokens"] = {"dist": "uniform", "low": 100, "high": 120000}
    chat_scenario["workload"]["num_requests"] = 60
    chat_scenario["workload"]["arrival"]["rate_per_s"] = 2.0
    chat_scenario["deployments"][0]["engine"] = {"gpu_memory_utilization": 0.3}   # tiny KV pool
    chat_scenario["max_sim_time_s"] = 20.0
    result = run(spec_of(chat_scenario)).deployments[0]
    m = result.summary
    assert m.num_rejected > 0 and set(m.reject_reasons) == {"kv_cache_too_small"}
    assert m.num_unfinished > 0 and m.stable is False
    assert m.num_completed + m.num_rejected + m.num_unfinished == m.num_requests == 60
    assert len(result.records) == 60


def test_two_deployments_see_identical_requests(chat_scenario):
    chat_scenario["deployments"].append({"name": "two", "model": "llama-3.1-8b", "hardware": "h100-sxm",
                                         "replicas": 2})
    result = run(spec_of(chat_scenario))
    one, two = (d.records for d in result.deployments)
    assert one["arrival_time_s"].tolist() == two["arrival_time_s"].tolist()
    assert one["prompt_tokens"].tolist() == two["prompt_tokens"].tolist()
    assert result.deployments[1].summary.ttft_s.p99 <= result.deployments[0].summary.ttft_s.p99
    assert result.deployments[1].summary.gpu_hours > result.deployments[0].summary.gpu_hours


def test_prefix_caching_raises_hit_rate_and_cuts_ttft(chat_scenario):
    chat_scenario["workload"]["shared_prefixes"] = [{"id": "doc", "tokens": 6000, "probability": 0.9}]
    chat_scenario["deployments"].append({"name": "nocache", "model": "llama-3.1-8b", "hardware": "h100-sxm",
                                         "engine": {"enable_prefix_caching": False}})
    cached, uncached = run(spec_of(chat_scenario)).deployments
    assert cached.summary.prefix_cache_hit_rate > 0.5
    assert uncached.summary.prefix_cache_hit_rate == 0
    assert cached.summary.ttft_s.mean < uncached.summary.ttft_s.mean


def test_slo_attainment_and_cost_fields(chat_scenario):
    chat_scenario["slo"] = {"ttft_s": 1e-6}
    m = run(spec_of(chat_scenario)).deployments[0].summary
    assert m.slo_attainment == 0 and m.goodput_requests_per_s == 0
    assert m.cost_usd == pytest.approx(m.gpu_hours * 3.00)
    assert m.cost_per_query_usd == pytest.approx(m.cost_usd / m.num_completed)
