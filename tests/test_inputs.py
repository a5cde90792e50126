"""Hostile inputs give one-line InputErrors: non-finite numbers, extreme distributions, deep or exploding YAML."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.errors import InputError
from simulator.specs.scenario import MAX_TOKENS, LognormalLength, NormalLength, ScenarioSpec, load_scenario
from simulator.specs.files import load_any_scenario
from simulator.workloads.generate import generate, sample_lengths
from simulator.specs.yamlio import check_nesting_depth, load_yaml_text, max_nesting_depth

SCENARIO = """name: hostile
workload:
  num_requests: 5
  horizon_s: {horizon}
  arrival: {{process: poisson, rate_per_s: {rate}}}
  prompt_tokens: {prompt}
  output_tokens: {{dist: constant, value: 10}}
deployments:
  - {{name: d, model: llama-3.1-8b, hardware: h100-sxm, price_per_gpu_hour_usd: {price}}}
"""
OK = dict(horizon=100, rate=1, prompt="{dist: constant, value: 10}", price=2.0)


def _write(tmp_path, **changes):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(**{**OK, **changes}))
    return path


def test_the_template_is_valid(tmp_path):
    spec, _ = load_scenario(_write(tmp_path))
    assert spec.workload.horizon_s == 100


@pytest.mark.parametrize("changes,field", [
    (dict(horizon=".inf"), "workload.horizon_s"),
    (dict(horizon=".nan"), "workload.horizon_s"),
    (dict(horizon="1e12"), "workload.horizon_s"),
    (dict(price=".inf"), "deployments[0].price_per_gpu_hour_usd"),
    (dict(price="-.inf"), "deployments[0].price_per_gpu_hour_usd"),
    (dict(rate=".nan"), "workload.arrival.poisson.rate_per_s"),
    (dict(prompt="{dist: lognormal, median: 1e300, sigma: 1}"), "median"),
    (dict(prompt="{dist: lognormal, median: .inf, sigma: 1}"), "median"),
    (dict(prompt="{dist: normal, mean: 100, std: 1e300}"), "std"),
    (dict(prompt="{dist: uniform, low: 1, high: 1000000000000000000000}"), "high"),
    (dict(prompt="{dist: constant, value: 100000001}"), "value"),
    (dict(prompt="{dist: lognormal, median: 10, sigma: 1, max: 1e20}"), "max"),
])
def test_hostile_numbers_are_one_line_errors(tmp_path, changes, field):
    with pytest.raises(InputError) as info:
        load_scenario(_write(tmp_path, **changes))
    message = str(info.value)
    assert field in message and "s.yaml" in message and "\n" not in message


def test_comparison_specs_refuse_non_finite_numbers(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: c\nconversations: {num_sessions: 2, arrival: {process: poisson, rate_per_s: 1}, "
                    "turns: {dist: constant, value: 2}, user_tokens: {dist: constant, value: 5}, "
                    "output_tokens: {dist: constant, value: 5}, think_time_s: .inf}\n"
                    "deployments: [{name: l, kind: llm, llm: {model: llama-3.1-8b, hardware: h100-sxm}}]\n")
    with pytest.raises(InputError, match="think_time_s"):
        load_any_scenario(path)


@pytest.mark.parametrize("dist", [
    LognormalLength(dist="lognormal", median=MAX_TOKENS, sigma=5),
    NormalLength(dist="normal", mean=MAX_TOKENS, std=MAX_TOKENS),
    NormalLength(dist="normal", mean=1, std=MAX_TOKENS),
])
def test_extreme_distributions_cannot_overflow(dist):
    values = sample_lengths(dist, np.random.default_rng(0), 10_000, None)
    assert values.dtype == np.int64
    assert values.min() >= 1 and values.max() <= MAX_TOKENS


def test_rate_times_horizon_cannot_make_billions_of_requests_silently():
    spec = ScenarioSpec.model_validate({
        "name": "big", "workload": {"horizon_s": 1e7, "arrival": {"process": "poisson", "rate_per_s": 1e6},
                                    "prompt_tokens": {"dist": "constant", "value": 5},
                                    "output_tokens": {"dist": "constant", "value": 5}},
        "deployments": [{"name": "d", "model": "llama-3.1-8b", "hardware": "h100-sxm"}]})
    with pytest.raises(InputError, match="horizon_s"):
        generate(spec.workload, np.random.default_rng(0))


# ----- YAML ---------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [100, 900, 5000, 100_000])
def test_deep_yaml_is_an_input_error_not_a_recursion_error(tmp_path, depth):
    path = tmp_path / "deep.yaml"
    path.write_text("name: " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(InputError) as info:
        load_scenario(path)
    assert "deep.yaml" in str(info.value) and "nest" in str(info.value)


def test_nesting_within_the_limit_loads():
    assert load_yaml_text("a: " + "[" * 60 + "1" + "]" * 60) is not None
    with pytest.raises(InputError, match="nested deeper than 64 levels"):
        load_yaml_text("a: " + "[" * 64 + "1" + "]" * 64, "x.yaml")
    deep_mapping = "".join(f"{'  ' * i}k:\n" for i in range(80))
    with pytest.raises(InputError, match="line 6.*nested deeper than 5 levels"):
        load_yaml_text(deep_mapping, "m.yaml", max_depth=5)


def test_alias_bombs_and_recursive_aliases_are_refused():
    laughs = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        laughs.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    with pytest.raises(InputError, match="nodes"):
        load_yaml_text("\n".join(laughs))
    with pytest.raises(InputError, match="recursive alias"):
        load_yaml_text("a: &a [1, *a]")
    assert load_yaml_text("base: &b {x: 1}\nother: {<<: *b, y: 2}") == {"base": {"x": 1}, "other": {"x": 1, "y": 2}}


def test_oversized_yaml_is_refused():
    with pytest.raises(InputError, match="larger than 10 bytes"):
        load_yaml_text("a: 12345678901", "big.yaml", max_bytes=10)


def test_max_nesting_depth_is_iterative():
    data: list = []
    node = data
    for _ in range(100_000):
        node.append([])
        node = node[0]
    assert max_nesting_depth(data) == 100_001
    assert max_nesting_depth(data, limit=64) == 65
    assert max_nesting_depth({"a": [1, {"b": 2}]}) == 3 and max_nesting_depth(5) == 0
    with pytest.raises(InputError, match="nested deeper than 64"):
        check_nesting_depth(data, "body")


def test_yaml_errors_do_not_quote_the_text():
    with pytest.raises(InputError) as info:
        load_yaml_text("key: 'root:x:0:0:root:/root:/bin/bash\n", "f.yaml")
    assert "root:x" not in str(info.value) and "f.yaml" in str(info.value)
    with pytest.raises(InputError) as info:
        load_yaml_text("a: *undefined_secret_alias", "f.yaml")
    assert "undefined_secret_alias" not in str(info.value)
