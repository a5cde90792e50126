"""Work is bounded before it is built: lazy sweep ranges, work bounds of specs and sweeps, the planner's count."""

from __future__ import annotations

import math
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from simulator.planning.bounds import bound_of, bound_of_sweep, length_upper
from simulator.specs.comparison import ComparisonSpec
from simulator.errors import InputError
from simulator.planning.planner import Targets, max_simulations, plan, rate_search_runs, replica_search_runs
from simulator.specs.scenario import MAX_TOKENS, ScenarioSpec
from simulator.specs.files import load_any_scenario
from simulator.planning.sweep import MAX_POINTS, check_points, expand, parse_param, parse_values

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = sorted((ROOT / "scenarios").glob("*.yaml"))


# ----- sweep ranges -------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["1..1000000000000000", "1..1e308:1e-300", "0..1:1e-300", "log:1..10:1e20",
                                  "1..10001", "-1e308..1e308"])
def test_huge_ranges_are_refused_without_allocating(text):
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="at most 10,000 points"):
            parse_param(f"seed={text}")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000


def test_a_grid_is_counted_before_any_point_exists():
    params = [parse_param("seed=1..5000"), parse_param("workload.num_requests=1..5000")]
    assert [len(v) for _, v in params] == [5000, 5000]
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="25,000,000 points"):
            expand({"name": "x"}, params)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000


@pytest.mark.parametrize("text", ["1..inf", "nan..2", "1..1e400", "1..2:nan", "1..3:inf"])
def test_non_finite_range_numbers_are_refused(text):
    with pytest.raises(InputError, match="finite"):
        parse_values(text, "x")


def _old_parse(text: str) -> list:
    """The list-building parser this replaced, as the reference for the values."""
    log = text.startswith("log:")
    body = text[4:] if log else text
    span, _, step = body.partition(":")
    low_text, _, high_text = span.partition("..")
    low, high = float(low_text), float(high_text)
    step_value = float(step) if step else None
    integral = all("." not in t and "e" not in t.lower() for t in (low_text, high_text))
    if log:
        count = int(step_value or 5)
        values = [low * (high / low) ** (i / (count - 1)) for i in range(count)]
    else:
        step_value = step_value or 1.0
        count = int(math.floor((high - low) / step_value + 1e-9)) + 1
        values = [low + i * step_value for i in range(count)]
        integral = integral and float(step_value).is_integer()
    return [int(round(v)) for v in values] if integral else values


@pytest.mark.parametrize("text", ["1..4", "4..32:4", "0.5..1.5:0.5", "log:1000..64000:7", "log:8000..1000000:6",
                                  "0..1:0.1", "1..1", "2..9:3", "log:0.1..10:3", "1..10000"])
def test_lazy_ranges_hold_the_same_values(text):
    values = parse_values(text, "x")
    assert list(values) == _old_parse(text)
    assert values == _old_parse(text)
    assert len(values) == len(_old_parse(text))
    assert values[-1] == _old_parse(text)[-1]
    with pytest.raises(IndexError):
        values[len(values)]


def test_lists_keep_yaml_scalars_and_refuse_deep_or_infinite_ones():
    assert parse_values("2,4.5,abc,true", "x") == [2, 4.5, "abc", True]
    with pytest.raises(InputError, match="finite"):
        parse_values("1,.inf", "x")
    with pytest.raises(InputError, match="nested deeper"):
        parse_values("[" * 100 + "]" * 100, "x")


# ----- bounds of specs ----------------------------------------------------------------------

@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.name)
def test_every_bundled_scenario_is_bounded(path):
    spec, _ = load_any_scenario(path)
    bound = bound_of(spec)
    assert bound.unbounded_fields == ()
    assert bound.runs == len(spec.deployments)
    assert 1 <= bound.requests_per_run <= 10_000
    searched = bound_of(spec, capacity_search=True)
    assert searched.total_requests > bound.total_requests and searched.probe_requests > 0


def test_bundled_scenario_bounds_are_exact():
    bounds = {p.stem: bound_of(load_any_scenario(p)[0]) for p in BUNDLED}
    assert bounds["quickstart"].requests_per_run == 2000
    assert bounds["chat-assistant"].turns == 150 * 20 == bounds["chat-assistant"].requests_per_run
    assert bounds["support-knowledge-base"].documents == 25_000
    assert bounds["support-knowledge-base"].corpus_tokens == 25_000 * 12_000
    assert bounds["meeting-transcripts"].corpus_tokens == 8 * 60_000


BASE_WORKLOAD = {"arrival": {"process": "poisson", "rate_per_s": 10},
                 "prompt_tokens": {"dist": "constant", "value": 100},
                 "output_tokens": {"dist": "uniform", "low": 1, "high": 50}}
DEPLOYMENT = {"name": "d", "model": "llama-3.1-8b", "hardware": "h100-sxm"}


def _serving(**workload) -> ScenarioSpec:
    return ScenarioSpec.model_validate({"name": "b", "workload": {**BASE_WORKLOAD, **workload},
                                        "deployments": [DEPLOYMENT, {**DEPLOYMENT, "name": "e"}]})


def test_horizon_bounds_requests_the_way_arrivals_are_drawn():
    bound = _serving(horizon_s=100)
    assert bound_of(bound).requests_per_run == int(1000 + 10 * math.sqrt(1000) + 10)
    assert bound_of(bound).runs == 2 and bound_of(bound).total_requests == 2 * 1326
    assert bound_of(_serving(horizon_s=100, num_requests=500)).requests_per_run == 500
    gamma = _serving(horizon_s=100, arrival={"process": "gamma", "rate_per_s": 10, "cv": 1.0})
    assert bound_of(gamma).requests_per_run == int(2 * (1000 + 10 * math.sqrt(1000) + 10))
    assert bound_of(_serving(horizon_s=100)).simulated_seconds == 100
    huge = _serving(horizon_s=1e7, arrival={"process": "poisson", "rate_per_s": 1e6})
    assert bound_of(huge).requests_per_run > 1e13


def test_max_sim_time_bounds_simulated_seconds():
    spec = ScenarioSpec.model_validate({"name": "b", "max_sim_time_s": 30,
                                        "workload": {**BASE_WORKLOAD, "num_requests": 5}, "deployments": [DEPLOYMENT]})
    assert bound_of(spec).simulated_seconds == 30


def test_unbounded_lengths_are_listed():
    spec = _serving(num_requests=10, prompt_tokens={"dist": "lognormal", "median": 100, "sigma": 1},
                    output_tokens={"dist": "normal", "mean": 100, "std": 10, "max": 500})
    assert bound_of(spec).unbounded_fields == ("workload.prompt_tokens",)


def _chat(turns: dict) -> ComparisonSpec:
    return ComparisonSpec.model_validate({
        "name": "c", "conversations": {"num_sessions": 100, "arrival": {"process": "poisson", "rate_per_s": 1},
                                       "turns": turns, "user_tokens": {"dist": "constant", "value": 50},
                                       "output_tokens": {"dist": "lognormal", "median": 100, "sigma": 0.5,
                                                         "max": 400}},
        "deployments": [{"name": "l", "kind": "llm", "llm": {"model": "llama-3.1-8b", "hardware": "h100-sxm"}}]})


def test_conversation_turns_use_the_upper_tail():
    bound = bound_of(_chat({"dist": "lognormal", "median": 5, "sigma": 1, "max": 40}))
    assert (bound.turns, bound.requests_per_run, bound.unbounded_fields) == (4000, 4000, ())
    unbounded = bound_of(_chat({"dist": "lognormal", "median": 5, "sigma": 1}))
    assert unbounded.unbounded_fields == ("conversations.turns",)
    assert unbounded.turns == 100 * MAX_TOKENS
    assert bound_of(_chat({"dist": "uniform", "low": 2, "high": 9, "max": 6})).turns == 600


def test_corpus_documents_and_tokens_are_counted():
    spec = ComparisonSpec.model_validate({
        "name": "r", "corpus": {"num_documents": 1_000_000, "document_tokens": {"dist": "uniform", "low": 100,
                                                                                 "high": 2000}},
        "queries": {"num_requests": 50, "arrival": {"process": "poisson", "rate_per_s": 1},
                    "question_tokens": {"dist": "constant", "value": 20}, "output_tokens": {"dist": "constant",
                                                                                             "value": 20}},
        "deployments": [{"name": "r", "kind": "rag", "llm": {"model": "llama-3.1-8b", "hardware": "h100-sxm"}}]})
    bound = bound_of(spec)
    assert (bound.documents, bound.corpus_tokens, bound.requests_per_run) == (1_000_000, 2_000_000_000, 50)


def test_map_reduce_calls_are_counted_and_bound_the_real_calls():
    spec, base_dir = load_any_scenario(ROOT / "scenarios" / "codebase-qa.yaml")
    bound = bound_of(spec)
    # 200K-token tail, 128K context: two map parts and the reduce per query
    assert bound.requests_per_run == 150 * 3
    from simulator.comparisons.deployment_run import _calls
    from simulator.specs.deployment import resolve_deployment
    from simulator.comparisons.queries import generate_queries
    index = next(i for i, d in enumerate(spec.deployments) if getattr(d, "on_overflow", "") == "map_reduce")
    dep = spec.deployments[index]
    data = generate_queries(spec, np.random.default_rng(spec.seed), base_dir)
    calls, _ = _calls(spec, dep, resolve_deployment(dep.llm, "llm", base_dir), data, base_dir)
    made = len(calls.requests) + len(calls.refused)
    assert made > len(data) and made <= bound.requests_per_run


@pytest.mark.parametrize("passing_factor", [0.0, 0.01, 0.3, 1.0, 1.7, 5.0, 1e9])
@pytest.mark.parametrize("e2e_p99_s", [0.1, 1e3])
def test_capacity_probes_are_bounded(monkeypatch, passing_factor, e2e_p99_s):
    """Every probe `compare` may run is counted: fake runs pass below a rate, whatever that rate is,
    and (with a long p99 e2e) every probe is repeated longer."""
    import simulator.comparisons.compare as compare_module
    spec = _serving(num_requests=50)
    runs: list[tuple[float, int]] = []

    def fake_run(probe, index, base_dir):
        runs.append((probe.workload.arrival.rate_per_s, probe.workload.num_requests))
        ok = probe.workload.arrival.rate_per_s <= passing_factor * spec.workload.arrival.rate_per_s
        return SimpleNamespace(stable=True, slo_attainment=1.0 if ok else 0.0,
                               e2e_s=SimpleNamespace(p99=e2e_p99_s))

    monkeypatch.setattr(compare_module, "_run_one", fake_run)
    rate, count = compare_module.max_sustainable_qps(spec, 0)
    assert len({r for r, _ in runs}) <= compare_module.MAX_PROBES
    assert sum(n for _, n in runs) * len(spec.deployments) <= bound_of(spec, capacity_search=True).probe_requests
    assert (rate == 0.0) == (passing_factor < 1 / 4 ** compare_module.MAX_BRACKET_STEPS)
    if rate:   # the reported length is the one the passing probe ran with
        assert (rate, count) in runs or count == 50


def test_length_upper_tails():
    from simulator.specs.scenario import ConstantLength, LognormalLength, UniformLength
    assert length_upper(ConstantLength(dist="constant", value=7)) == 7
    assert length_upper(UniformLength(dist="uniform", low=1, high=9, max=5)) == 5
    assert length_upper(LognormalLength(dist="lognormal", median=9, sigma=1)) is None
    assert length_upper(LognormalLength(dist="lognormal", median=9, sigma=1, max=90)) == 90


def test_sweep_bounds_take_every_point():
    doc = {"name": "s", "workload": {**BASE_WORKLOAD, "num_requests": 10},
           "deployments": [DEPLOYMENT, {**DEPLOYMENT, "name": "e"}]}
    bound = bound_of_sweep(doc, [parse_param("workload.num_requests=10,100000"), parse_param("seed=1..3")])
    assert bound.requests_per_run == 100000 and bound.runs == 2 * 2 * 3
    with pytest.raises(InputError, match="points per sweep"):
        bound_of_sweep(doc, [parse_param("seed=1..200"), parse_param("workload.num_requests=1..200")])
    with pytest.raises(InputError, match="num_requests"):
        bound_of_sweep(doc, [parse_param("workload.num_requests=10,1000000000")])
    assert check_points([parse_param("seed=1..100"), parse_param("workload.num_requests=1..100")]) == MAX_POINTS


# ----- the planner's count ------------------------------------------------------------------

def test_replica_and_rate_search_counts():
    assert [replica_search_runs(r, False) for r in (0, 1, 2, 3, 4, 8, 64)] == [0, 1, 2, 3, 3, 4, 7]
    assert replica_search_runs(5, True) == 5
    assert rate_search_runs() == 9
    # each evaluated point: one run per seed, and its first seed again when the run is extended
    assert max_simulations(num_configs=3, max_gpus=8, min_tp=2, seeds=2, capacity=False) == 3 * 3 * (2 + 1)
    assert max_simulations(3, 8, 2, 2, capacity=True) == 3 * (3 + 9) * (2 + 1)
    assert max_simulations(1, 8, 16, 1, capacity=True) == 9 * 2


PLAN_DOC = {"name": "plan-tiny", "seed": 1,
            "workload": {"num_requests": 40, "arrival": {"process": "poisson", "rate_per_s": 5},
                         "prompt_tokens": {"dist": "constant", "value": 200},
                         "output_tokens": {"dist": "constant", "value": 20}},
            "deployments": [{"name": "t", "model": "llama-3.1-8b", "hardware": "h100-sxm"}]}


@pytest.mark.parametrize("exhaustive", [False, True])
def test_max_simulations_bounds_a_real_plan(exhaustive):
    result = plan(PLAN_DOC, None, 5.0, Targets(5.0, None), ["h100-sxm"], [1, 2], [64], [2048], max_gpus=4,
                  seeds=1, exhaustive=exhaustive, capacity=False, workers=1)
    bound = max_simulations(num_configs=2, max_gpus=4, min_tp=1, seeds=1, capacity=False, exhaustive=exhaustive)
    assert result["num_simulations"] <= bound
    if exhaustive:
        assert result["num_simulations"] == 4 + 2      # every replica count of tp1 (4) and tp2 (2)


@pytest.mark.parametrize("field,value", [("tensor_parallel", [0]), ("max_num_seqs", [-1]), ("chunk_tokens", []),
                                         ("hardware", [])])
def test_plan_refuses_bad_grids_before_searching(field, value):
    grid = dict(hardware=["h100-sxm"], tensor_parallel=[1], max_num_seqs=[64], chunk_tokens=[2048])
    grid[field] = value
    with pytest.raises(InputError, match=field):
        plan(PLAN_DOC, None, 5.0, Targets(5.0, None), max_gpus=4, seeds=1, capacity=False, workers=1, **grid)


def test_a_zero_step_is_refused_not_read_as_one():
    with pytest.raises(InputError, match="STEP > 0"):
        parse_values("1..3:0", "seed")
    with pytest.raises(InputError, match="COUNT >= 2"):
        parse_values("log:1..3:0", "seed")


def test_plan_refuses_requests_past_the_schema_before_searching():
    with pytest.raises(InputError, match=r"requests: .*10000000"):       # PlanOptions.requests' bound
        plan(PLAN_DOC, None, 5.0, Targets(5.0, None), ["h100-sxm"], [1], [64], [2048], max_gpus=1, seeds=1,
             requests=10 ** 12, capacity=False, workers=1)
