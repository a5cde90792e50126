"""Response models against real outputs: every job kind, the estimate, catalog, scenarios, health.

Each output comes from a small run of a bundled scenario through the code the service runs
(`api.worker.execute` for jobs, the app itself for the catalog routes). `conforms` checks that
the model validates it strictly from its JSON, dumps it back key for key in the same order, and
that its JSON schema (what OpenAPI publishes and schemathesis checks) accepts it.
"""

import json
from pathlib import Path

import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter, ValidationError

from api import response_models as responses
from api import result_models as rm
from api.worker import execute
from simulator.catalog import resolve_hardware, resolve_model
from simulator.catalog.rows import ModelRow
from simulator.comparisons.compare import compare
from simulator.specs.comparison import ComparisonSpec
from simulator.results.estimate import estimate
from simulator.specs.files import is_comparison

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"
SERVING = ["quickstart", "long-context", "disaggregated"]
COMPARISONS = ["chat-assistant", "codebase-qa", "legal-case-files", "meeting-transcripts", "support-knowledge-base"]


def tiny(name: str, n: int = 30) -> dict:
    """A bundled scenario with ~n requests (or n/6 conversations) over at most 8 documents."""
    doc = yaml.safe_load((SCENARIOS / f"{name}.yaml").read_text())
    for block in ("workload", "queries"):
        if block in doc:
            doc[block]["num_requests"] = n
            doc[block].pop("horizon_s", None)
    if "conversations" in doc:
        doc["conversations"]["num_sessions"] = max(3, n // 6)
    if "corpus" in doc:
        doc["corpus"]["num_documents"] = min(doc["corpus"]["num_documents"], 8)
    return doc


def key_order(value, path="") -> list[str]:
    if isinstance(value, dict):
        return [k for key, item in value.items() for k in [f"{path}.{key}", *key_order(item, f"{path}.{key}")]]
    if isinstance(value, list):
        return [k for i, item in enumerate(value) for k in key_order(item, f"{path}[{i}]")]
    return []


def conforms(annotation, output):
    """Validate `output` as the API would send it; return the validated object."""
    text = json.dumps(output, allow_nan=False)          # also: no NaN or infinity in these outputs
    adapter = TypeAdapter(annotation)
    parsed = adapter.validate_json(text, strict=True)
    sent = json.loads(adapter.dump_json(parsed))
    assert sent == json.loads(text)
    assert key_order(sent) == key_order(json.loads(text))
    Draft202012Validator(adapter.json_schema(mode="serialization")).validate(json.loads(text))
    return parsed


def job_result(kind: str, output: dict):
    result = conforms(rm.RESULT_MODELS[kind], output)
    assert type(conforms(rm.JobResult, output)) is rm.RESULT_MODELS[kind]   # the union picks the kind's model
    return result


def no_progress(*_):
    pass


@pytest.mark.parametrize("name", SERVING)
def test_simulation_results_of_the_serving_scenarios(name):
    result = job_result("simulation", execute("simulation", tiny(name), None, {}, no_progress))
    assert len(result.deployments) >= 2
    if name == "disaggregated":
        assert all("prefill" in d.layout for d in result.deployments[1:])


@pytest.mark.parametrize("name", COMPARISONS)
def test_comparison_results_of_the_comparison_scenarios(name):
    spec = ComparisonSpec.model_validate(tiny(name))
    result = job_result("comparison", compare(spec, search_capacity=False).to_json_dict())
    assert all(isinstance(d, rm.ComparisonRow) for d in result.deployments)


def test_the_comparison_scenarios_cover_every_deployment_kind_and_overflow_policy():
    docs = [yaml.safe_load((SCENARIOS / f"{name}.yaml").read_text()) for name in COMPARISONS]
    deployments = [d for doc in docs for d in doc["deployments"]]
    assert {d["kind"] for d in deployments} == {"llm", "rag", "long_context", "hybrid"}
    assert {d.get("on_overflow", "refuse") for d in deployments if d["kind"] == "long_context"} == \
        {"refuse", "map_reduce"}
    assert {p.stem for p in SCENARIOS.glob("*.yaml")} == set(SERVING + COMPARISONS)
    assert not any(is_comparison(yaml.safe_load((SCENARIOS / f"{n}.yaml").read_text())) for n in SERVING)


def test_comparison_job_of_a_serving_scenario_with_capacity_search():
    result = job_result("comparison", execute("comparison", tiny("quickstart", 20), None, {}, no_progress))
    assert all(isinstance(d, rm.ServingComparisonRow) for d in result.deployments)
    assert all(d.max_sustainable_qps > 0 for d in result.deployments)


def test_comparison_job_of_a_comparison_scenario_with_capacity_search():
    result = job_result("comparison", execute("comparison", tiny("meeting-transcripts", 20), None, {}, no_progress))
    assert all(d.max_sustainable_qps is not None for d in result.deployments)


def plan_body(**options) -> dict:
    return {"scenario": tiny("quickstart"), "target_qps": 4.0, "max_gpus": 2, "seeds": 1, "requests": 30,
            "min_arrival_s": 5, **options}     # short runs: these tests check shapes, not capacity


def test_plan_result_with_feasible_and_infeasible_configurations():
    body = plan_body(hardware=["h100-sxm", "l4"], tensor_parallel=[1, 2], capacity=False)
    result = job_result("plan", execute("plan", body, None, {}, no_progress))
    kinds = {type(c) for c in result.configurations}
    assert kinds == {rm.FeasibleConfiguration, rm.InfeasibleConfiguration}
    assert result.best is not None and result.best.max_rate_per_s is None


def test_plan_result_with_capacity_search_and_a_configuration_that_does_not_fit():
    body = {**plan_body(capacity=True), "scenario": {**tiny("quickstart"), "slo": {"ttft_s": 0.8, "tpot_s": 0.05},
                                                     "deployments": [{"name": "x", "model": "llama-3.1-70b",
                                                                      "hardware": "h100-sxm"}]},
            "tensor_parallel": [1, 4], "max_gpus": 4}     # the p99 prompt's prefill alone takes 0.35 s at TP 4
    result = job_result("plan", execute("plan", body, None, {}, no_progress))
    first, second = result.configurations
    assert first.reason.startswith("does not fit") and second.max_rate_per_s > 4.0


def test_plan_point_where_no_request_completes_has_no_ttft():
    """A seed that completed no request has no TTFT: the planner writes null (JSON carries no +inf/NaN)."""
    body = plan_body(scenario={**tiny("quickstart"), "max_sim_time_s": 0.001}, max_gpus=1, seeds=2, capacity=False)
    output = execute("plan", body, None, {}, no_progress)
    point = rm.PlanResult.model_validate(output).points[0]
    assert point.ttft_p99_s is None and point.ttft_p99_spread_s is None and not point.meets_slo
    json.dumps(output, allow_nan=False)


@pytest.mark.parametrize("name,param", [("quickstart", "workload.arrival.rate_per_s=2,4"),
                                        ("meeting-transcripts", "deployments.rag.retrieval.top_k=4,8")])
def test_sweep_results_keep_the_swept_columns(name, param):
    result = job_result("sweep", execute("sweep", {"scenario": tiny(name, 20), "params": [param]}, None, {},
                                         no_progress))
    path = param.split("=")[0]
    assert [row.model_extra for row in result.rows[:1]] == [{path: 2 if name == "quickstart" else 4}]
    assert {row.point for row in result.rows} == {0, 1}


ESTIMATES = {
    "default": dict(model="llama-3.1-8b", hardware="h100-sxm", prompt_tokens=2000, output_tokens=200),
    "tp and a layout it needs": dict(model="llama-3.1-70b", hardware="h100-sxm", prompt_tokens=131072,
                                     output_tokens=1, tp=2),
    "context parallel": dict(model="llama-3.1-8b", hardware="h100-sxm", prompt_tokens=100_000, output_tokens=50,
                             context_parallel=4),
    "pipeline and fp8": dict(model="llama-3.1-70b", hardware="h200", prompt_tokens=8000, output_tokens=100,
                             tp=2, pipeline_parallel=2, weight_dtype="fp8", kv_dtype="fp8"),
    "expert parallel": dict(model="mixtral-8x7b", hardware="h100-sxm", prompt_tokens=4000, output_tokens=100,
                            tp=2, expert_parallel=2),
    "naive attention that does not fit": dict(model="llama-3.1-8b", hardware="l4", prompt_tokens=120_000,
                                              output_tokens=10, attention_impl="naive"),
    "past the context": dict(model="llama-3.1-8b", hardware="h100-sxm", prompt_tokens=131_000, output_tokens=2000),
}


@pytest.mark.parametrize("case", list(ESTIMATES))
def test_estimates_of_every_option_family(case):
    options = dict(ESTIMATES[case])
    model, hardware = resolve_model(options.pop("model")), resolve_hardware(options.pop("hardware"))
    prompt, output = options.pop("prompt_tokens"), options.pop("output_tokens")
    result = conforms(responses.EstimateResponse, estimate(model, hardware, prompt, output, **options).to_json_dict())
    expected = {"tp and a layout it needs": lambda r: not r.fits and r.needs is not None,
                "naive attention that does not fit": lambda r: not r.fits and not r.attention.naive.fits,
                "past the context": lambda r: r.exceeds_context}
    assert expected.get(case, lambda r: r.fits and r.needs is None)(result)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from api.main import create_app      # imported here: the job-result tests need only the worker
    from api.settings import Settings
    database = tmp_path_factory.mktemp("result-models") / "api.db"
    with TestClient(create_app(Settings(database_url=f"sqlite:///{database}", log_level="WARNING"))) as c:
        yield c


def test_catalog_scenario_and_health_responses(client):
    profile = {"base": "h100-sxm", "memory_bandwidth_tb_s": 3.0, "efficiency": {"matmul_efficiency_max": 0.5}}
    uploaded = client.post("/v1/profiles", json={"name": "my-h100", "profile": profile})
    assert uploaded.status_code == 201
    conforms(responses.ResolvedProfile, uploaded.json()["resolved"])
    conforms(list[ModelRow], client.get("/v1/models").json())
    rows = conforms(list[responses.HardwareListItem], client.get("/v1/hardware").json())
    assert {type(r) for r in rows} == {responses.CatalogHardwareRow, responses.UploadedHardwareRow}
    listed = conforms(list[responses.ScenarioSummary], client.get("/v1/scenarios").json())
    for item in listed:
        conforms(responses.ScenarioDocument, client.get(f"/v1/scenarios/{item.name}").json())
    conforms(responses.Health, client.get("/healthz").json())
    body = {"model": "llama-3.1-8b", "hardware": "my-h100", "prompt_tokens": 1000, "output_tokens": 10}
    conforms(responses.EstimateResponse, client.post("/v1/estimate", json=body).json())


def test_a_key_the_model_does_not_know_is_refused():
    output = execute("simulation", tiny("quickstart", 10), None, {}, no_progress)
    output["deployments"][0]["metrics"]["new_metric"] = 1.0
    with pytest.raises(ValidationError, match="new_metric"):
        rm.SimulationResult.model_validate(output)
    with pytest.raises(ValidationError):
        TypeAdapter(rm.JobResult).validate_python(output)


RESPONSES = [rm.SimulationResult, rm.ComparisonResult, rm.PlanResult, rm.SweepResult, responses.EstimateResponse,
             responses.ResolvedProfile, responses.ScenarioDocument, responses.Health, list[ModelRow], list[responses.HardwareListItem],
             list[responses.ScenarioSummary], rm.JobResult | None]


@pytest.mark.parametrize("annotation", RESPONSES, ids=lambda a: getattr(a, "__name__", None) or str(a)[:40])
def test_json_schemas_build(annotation):
    for mode in ("validation", "serialization"):
        Draft202012Validator.check_schema(TypeAdapter(annotation).json_schema(mode=mode))


def test_every_model_works_as_a_response_model_in_openapi():
    app = FastAPI()
    for index, annotation in enumerate(RESPONSES):
        app.get(f"/r{index}", response_model=annotation)(lambda: None)
    schemas = app.openapi()["components"]["schemas"]
    assert {"SimulationResult", "ComparisonResult", "PlanResult", "SweepRow", "Estimate"} <= \
        {name.removesuffix("-Output") for name in schemas}
