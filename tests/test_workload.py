"""Workload generation: arrival rates and burstiness, lengths, traces, prefixes, clipping."""

import numpy as np
import pytest

from simulator.errors import InputError
from simulator.specs.scenario import WorkloadSpec
from simulator.workloads.generate import generate, read_trace, requests_for_model


def gen(data: dict, seed: int = 0, base_dir=None):
    return generate(WorkloadSpec.model_validate(data), np.random.default_rng(seed), base_dir)


LENGTHS = {"prompt_tokens": {"dist": "constant", "value": 100}, "output_tokens": {"dist": "constant", "value": 10}}


@pytest.mark.parametrize("process,cv", [("poisson", 1.0), ("gamma", 3.0), ("constant", 0.0)])
def test_arrival_rate_and_burstiness(process, cv):
    arrival = {"process": process, "rate_per_s": 5.0}
    if process == "gamma":
        arrival["cv"] = cv
    w = gen({"num_requests": 20000, "arrival": arrival, **LENGTHS})
    gaps = np.diff(w.arrival_time_s)
    assert w.arrival_time_s[0] == 0
    assert gaps.mean() == pytest.approx(0.2, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(cv, abs=0.1 * max(cv, 1))


def test_horizon_stops_arrivals():
    w = gen({"horizon_s": 100, "arrival": {"process": "poisson", "rate_per_s": 10}, **LENGTHS})
    assert w.arrival_time_s.max() <= 100
    assert len(w) == pytest.approx(1000, rel=0.1)


def test_length_distributions_respect_bounds():
    data = {"num_requests": 5000, "arrival": {"process": "constant", "rate_per_s": 1},
            "prompt_tokens": {"dist": "lognormal", "median": 1000, "sigma": 1.0, "max": 4000, "min": 10},
            "output_tokens": {"dist": "normal", "mean": 50, "std": 100}}
    w = gen(data)
    assert w.prompt_tokens.min() >= 10 and w.prompt_tokens.max() == 4000
    assert np.median(w.prompt_tokens) == pytest.approx(1000, rel=0.1)
    assert w.output_tokens.min() >= 1


def test_empirical_lengths_sample_the_column(tmp_path):
    (tmp_path / "lens.csv").write_text("n\n10\n20\n30\n")
    data = {"num_requests": 300, "arrival": {"process": "constant", "rate_per_s": 1},
            "prompt_tokens": {"dist": "empirical", "path": "lens.csv", "column": "n"},
            "output_tokens": {"dist": "uniform", "low": 3, "high": 5}}
    w = gen(data, base_dir=tmp_path)
    assert set(w.prompt_tokens.tolist()) == {10, 20, 30}
    assert set(w.output_tokens.tolist()) == {3, 4, 5}


def test_shared_prefix_probabilities_and_seed_determinism():
    data = {"num_requests": 10000, "arrival": {"process": "poisson", "rate_per_s": 1}, **LENGTHS,
            "shared_prefixes": [{"id": "a", "tokens": 50, "probability": 0.3},
                                {"id": "b", "tokens": 70, "probability": 0.2}]}
    w = gen(data, seed=3)
    share = np.bincount(w.prefix_index + 1, minlength=3) / len(w)
    assert share == pytest.approx([0.5, 0.3, 0.2], abs=0.02)
    again = gen(data, seed=3)
    assert np.array_equal(w.arrival_time_s, again.arrival_time_s)
    assert np.array_equal(w.prefix_index, again.prefix_index)
    requests, _ = requests_for_model(w, 10_000)
    with_b = next(r for r in requests if r.prefix_id == 1)
    assert with_b.num_prompt_tokens == 170 and with_b.prefix_tokens == 70


def test_clipping_to_context_is_counted():
    data = {"num_requests": 4, "arrival": {"process": "constant", "rate_per_s": 1},
            "prompt_tokens": {"dist": "uniform", "low": 10, "high": 5000}, "output_tokens": {"dist": "constant",
                                                                                          "value": 100}}
    w = gen(data, seed=1)
    requests, clipped = requests_for_model(w, 1000)
    expected = int(((w.prompt_tokens + 100) > 1000).sum())
    assert clipped == expected > 0
    assert all(r.num_prompt_tokens + r.max_output_tokens <= 1000 for r in requests)
    assert all(r.max_output_tokens >= 1 for r in requests)


def test_native_and_azure_traces(tmp_path):
    native = tmp_path / "native.csv"
    native.write_text("arrival_time_s,prompt_tokens,output_tokens\n5.0,100,10\n3.0,200,20\n")
    frame = read_trace(native)
    assert frame["arrival_time_s"].tolist() == [0.0, 2.0]
    assert frame["prompt_tokens"].tolist() == [200, 100]
    azure = tmp_path / "azure.csv"
    azure.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n"
                     "2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.9951690,396,109\n")
    frame = read_trace(azure)
    assert frame["arrival_time_s"].tolist() == pytest.approx([0.0, 4.314579])
    assert frame["output_tokens"].tolist() == [44, 109]
    w = gen({"arrival": {"process": "trace", "path": str(azure), "time_scale": 2.0}})
    assert w.arrival_time_s.tolist() == pytest.approx([0.0, 2.1572895])


@pytest.mark.parametrize("body,fragment", [
    ("arrival_time_s,prompt_tokens,output_tokens\n0,100,-1\n", "output_tokens: bad value on line 2"),
    ("arrival_time_s,prompt_tokens,output_tokens\n0,1.5,3\n", "prompt_tokens: bad value on line 2"),
    ("time,a,b\n0,1,2\n", "missing columns"),
    ("TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,5,5\n", "TIMESTAMP: bad value on line 2"),
])
def test_malformed_traces_name_file_field_and_line(tmp_path, body, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(InputError) as info:
        read_trace(path)
    assert fragment in str(info.value) and "bad.csv" in str(info.value)
