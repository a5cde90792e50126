"""One `PlanOptions` for the CLI, the API body, the worker and the planner; repeatable list options that
still take today's comma-separated form; typed results with one builder each."""

import pytest
import yaml
from pydantic import ValidationError

from api.cli_common import comma_list
from api.schemas import PlanRequest
from cli_runner import ctxplan, small_scenario
from simulator.errors import InputError
from simulator.planning import planner
from simulator.planning.options import MAX_SEEDS, PlanOptions, plan_options
from simulator.results.types import ServingComparisonRow


def test_comma_list_flattens_repeats_and_commas():
    assert comma_list(["a,b", "c", " d , ,e "]) == ["a", "b", "c", "d", "e"]
    assert comma_list(None) == [] and comma_list([]) == []


@pytest.fixture
def captured(monkeypatch):
    """The options `ctxplan plan` hands the planner (the plan itself is not run)."""
    seen = []

    def fake(doc, base_dir, options, **kwargs):
        seen.append(options)
        raise InputError("stop here", field="test")
    monkeypatch.setattr(planner, "plan_result", fake)
    return seen


def _plan(tmp_path, *args):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(small_scenario("s")))
    return ctxplan("plan", path, "--target-qps", "2", *args)


def test_repeated_and_comma_separated_lists_give_the_same_options(tmp_path, captured):
    _plan(tmp_path, "--hardware", "h100-sxm,l40s", "--tp", "1,2", "--max-num-seqs", "64,128",
          "--price", "h100-sxm=2,l40s=1")
    _plan(tmp_path, "--hardware", "h100-sxm", "--hardware", "l40s", "--tp", "1", "--tp", "2",
          "--max-num-seqs", "64", "--max-num-seqs", "128", "--price", "h100-sxm=2", "--price", "l40s=1")
    comma, repeated = captured
    assert comma == repeated
    assert comma.hardware == ["h100-sxm", "l40s"] and comma.tensor_parallel == [1, 2]
    assert comma.max_num_seqs == [64, 128] and comma.prices == {"h100-sxm": 2.0, "l40s": 1.0}
    assert comma.chunk_tokens is None and comma.seeds == PlanOptions.model_fields["seeds"].default


def test_a_bad_list_value_is_one_line_exit_2(tmp_path, captured):
    outcome = _plan(tmp_path, "--tp", "1", "--tp", "two")
    assert outcome.code == 2 and outcome.stderr.strip().splitlines() == [
        "error: tp: expected integers separated by commas (got '1,two')"]
    assert not captured


def test_one_seed_limit_for_cli_api_and_planner(tmp_path, captured):
    outcome = _plan(tmp_path, "--seeds", str(MAX_SEEDS + 1))
    assert outcome.code == 2 and f"seeds: Input should be less than or equal to {MAX_SEEDS}" in outcome.stderr
    with pytest.raises(ValidationError, match="seeds"):
        PlanRequest.model_validate({"scenario": small_scenario("s"), "target_qps": 2, "seeds": MAX_SEEDS + 1})
    with pytest.raises(InputError, match="seeds"):
        plan_options(target_qps=2, seeds=MAX_SEEDS + 1)
    assert issubclass(PlanRequest, PlanOptions) and not captured
    assert plan_options(target_qps=2, seeds=MAX_SEEDS).seeds == MAX_SEEDS


def test_options_fill_targets_and_grid_from_the_template():
    from simulator.specs.scenario import ScenarioSpec
    spec = ScenarioSpec.model_validate(small_scenario("s"))
    options = plan_options(target_qps=2, slo_tpot_p99_s=0.05, tensor_parallel=[2])
    targets, grid = options.targets(spec.slo), options.grid(spec.deployments[0])
    assert (targets.ttft_p99_s, targets.tpot_p99_s) == (1.0, 0.05)
    assert grid.hardware == ["h100-sxm"] and grid.tensor_parallel == [2]
    assert grid.max_num_seqs == [spec.deployments[0].engine.max_num_seqs]


def test_results_are_frozen():
    from simulator.comparisons.compare import compare
    from simulator.specs.scenario import ScenarioSpec
    result = compare(ScenarioSpec.model_validate(small_scenario("s")), search_capacity=False)
    row = result.deployments[0]
    assert isinstance(row, ServingComparisonRow) and row.max_sustainable_qps is None
    with pytest.raises(ValidationError):
        row.cost_usd = 0.0
    assert list(result.to_json_dict()["deployments"][0])[:3] == ["name", "kind", "model"]
