"""Time outside the GPU (catalog/serving_overhead.yaml): per request, per step, and CUDA-graph padding."""

from __future__ import annotations

import dataclasses

import pytest

from simulator.catalog import resolve_hardware, resolve_model
from simulator.costs import costmodel
from simulator.results.estimate import estimate
from simulator.results.runner import run
from simulator.specs.engine_time import graph_sizes, overlapped, request_overhead, serving_overhead, with_engine_time
from simulator.specs.scenario import ScenarioSpec
from simulator.specs.engine_spec import EngineSpec


def _one_request(prompt: int, engine: dict | None = None) -> ScenarioSpec:
    return ScenarioSpec.model_validate({
        "name": "one", "seed": 0,
        "workload": {"num_requests": 1, "arrival": {"process": "all_at_once"},
                     "prompt_tokens": {"dist": "constant", "value": prompt},
                     "output_tokens": {"dist": "constant", "value": 2}},
        "deployments": [{"name": "d", "model": "llama-3.1-8b", "hardware": "h100-sxm", "engine": engine or {}}]})


@pytest.mark.parametrize("prompt", [500, 20_000])
def test_ttft_on_an_idle_replica_is_the_serving_overhead_plus_the_prefill(prompt):
    """The simulator and the closed-form estimate agree, and both count the server's part: a fixed time per
    request and the tokenizer's time per prompt token, before the engine's first step."""
    record = run(_one_request(prompt)).deployments[0].records.iloc[0]
    engine = EngineSpec()
    per_request, per_token = request_overhead(engine)
    expected = estimate(resolve_model("llama-3.1-8b"), resolve_hardware("h100-sxm"), prompt, 2, engine=engine)
    assert expected.serving_overhead_s == pytest.approx(per_request + per_token * prompt)
    assert expected.ttft_s == pytest.approx(expected.serving_overhead_s + expected.prefill_time_s)
    assert record["ttft_s"] == pytest.approx(expected.ttft_s, rel=1e-9)
    assert record["first_scheduled_s"] - record["arrival_time_s"] == pytest.approx(expected.serving_overhead_s)


def test_host_time_per_step_shows_only_where_the_engine_does_not_overlap_it():
    """vLLM's async scheduling is on by default from 0.14: before it, each step pays its host work."""
    cost = costmodel.iteration_cost_params(resolve_model("llama-3.1-8b"), resolve_hardware("h100-sxm"), 1, "bf16",
                                           "bf16")
    old, new = EngineSpec(version="0.13"), EngineSpec(version="0.19")
    assert not overlapped(old) and overlapped(new) and overlapped(EngineSpec(policy="trtllm"))
    terms = serving_overhead()["vllm"]
    for batch in (1, 64):
        exposed = costmodel.iteration_time_s(with_engine_time(cost, old), [], batch, batch * 1000, batch)
        hidden = costmodel.iteration_time_s(with_engine_time(cost, new), [], batch, batch * 1000, batch)
        assert exposed - hidden == pytest.approx(terms["step_s"] + terms["step_s_per_sequence"] * batch)
    slow = run(_one_request(500, {"version": "0.13"})).deployments[0].records.iloc[0]
    fast = run(_one_request(500, {"version": "0.19"})).deployments[0].records.iloc[0]
    assert slow["e2e_s"] > fast["e2e_s"]


def test_overlapped_host_work_is_the_floor_of_a_step():
    """An overlapping engine's step takes the longer of its GPU work and its host work: TensorRT-LLM's PyTorch
    backend (34 us per sequence) is host-bound on a large decode batch of a small model, its TensorRT
    engine flow (10 us, assumed) is not."""
    cost = costmodel.iteration_cost_params(resolve_model("llama-3.1-8b"), resolve_hardware("h100-sxm"), 1, "bf16",
                                           "bf16")
    pytorch, tensorrt = EngineSpec(policy="trtllm"), EngineSpec(policy="trtllm", backend="tensorrt")
    assert pytorch.backend == "pytorch" and overlapped(pytorch) and overlapped(tensorrt)
    terms = serving_overhead()["trtllm"]["backends"]["pytorch"]
    per_sequence = terms["step_s_per_sequence"]
    gpu_s = costmodel.iteration_time_s(cost, [], 1024, 1024 * 300, 1024)
    host_s = terms["step_s"] + per_sequence * 1024
    assert host_s > gpu_s
    assert costmodel.iteration_time_s(with_engine_time(cost, pytorch), [], 1024, 1024 * 300, 1024) == \
        pytest.approx(host_s)
    assert costmodel.iteration_time_s(with_engine_time(cost, tensorrt), [], 1024, 1024 * 300, 1024) == \
        pytest.approx(gpu_s)
    # a prefilling sequence counts as one sequence of the step
    assert costmodel.iteration_time_s(with_engine_time(cost, pytorch), [(0, 8)], 1023, 1023 * 300, 1024) == \
        pytest.approx(max(host_s, costmodel.iteration_time_s(cost, [(0, 8)], 1023, 1023 * 300, 1024)))
    # one sequence: the GPU's step is the longer, the host work hides behind it
    assert costmodel.iteration_time_s(with_engine_time(cost, pytorch), [], 1, 300, 1) == \
        costmodel.iteration_time_s(cost, [], 1, 300, 1)
    with pytest.raises(ValueError, match="TensorRT-LLM knob"):
        EngineSpec(policy="vllm", backend="pytorch")


def test_decode_steps_run_the_next_captured_graph_size():
    sizes = graph_sizes(EngineSpec())
    assert sizes[:4] == (1, 2, 4, 8) and 24 in sizes and 20 not in sizes and sizes[-1] == 512    # min(2 x 256, 512)
    assert graph_sizes(EngineSpec(max_num_seqs=64))[-1] == 128
    assert graph_sizes(EngineSpec(policy="trtllm"))[-1] == 128 and 31 in graph_sizes(EngineSpec(policy="trtllm"))
    base = costmodel.iteration_cost_params(resolve_model("llama-3.1-8b"), resolve_hardware("h100-sxm"), 1, "bf16",
                                           "bf16")
    graphed = dataclasses.replace(base, graph_sizes=(8, 16, 32))
    for batch, padded in ((9, 16), (16, 16), (17, 32)):
        linear = costmodel.linear_time_s(base, padded, batch) - costmodel.linear_time_s(base, batch, batch)
        gap = (costmodel.iteration_time_s(graphed, [], batch, batch * 100, batch)
               - costmodel.iteration_time_s(base, [], batch, batch * 100, batch))
        assert gap == pytest.approx(linear) and gap >= 0
    # above the largest graph, and in steps with a prefill, nothing is padded
    assert (costmodel.iteration_time_s(graphed, [], 40, 4000, 40) == costmodel.iteration_time_s(base, [], 40, 4000, 40))
    assert (costmodel.iteration_time_s(graphed, [(0, 100)], 9, 900, 10)
            == costmodel.iteration_time_s(base, [(0, 100)], 9, 900, 10))
