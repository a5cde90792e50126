"""The HTTP API through the real app (TestClient): contracts, errors, limits, jobs.

Jobs run in this process when a test says so (`InlineRunner`, swapped in with
`app.dependency_overrides`); real job processes are tested in test_api_e2e.py."""

import json
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from runners import finished, inline_client

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"name": "api-small", "seed": 4,
         "workload": {"num_requests": 40, "arrival": {"process": "poisson", "rate_per_s": 5},
                      "prompt_tokens": {"dist": "constant", "value": 300},
                      "output_tokens": {"dist": "constant", "value": 20}},
         "deployments": [{"name": "a", "model": "llama-3.1-8b", "hardware": "h100-sxm"}]}


@pytest.fixture
def served(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'api.db'}", log_level="WARNING", max_queued_jobs=2,
                        max_body_bytes=64 * 1024)
    with inline_client(settings) as (client, runner):
        yield client, runner


@pytest.fixture
def client(served):
    return served[0]


def test_estimate_matches_the_cli_contract(client):
    body = {"model": "llama-3.1-70b", "hardware": "h100-sxm", "prompt_tokens": 131072, "output_tokens": 1}
    data = client.post("/v1/estimate", json=body).json()
    assert data["kv_cache_bytes"] == 42949672960 and data["fits"] is False and data["min_num_gpus"] > 1
    assert client.post("/v1/estimate", json={**body, "tp": 4}).json()["fits_in_memory"] is True   # past the context
    assert client.post("/v1/estimate", json={**body, "kv_dtype": "fp8"}).json()["kv_cache_bytes"] == 42949672960 // 2


@pytest.mark.parametrize("body,fragment", [
    ({"model": "llama-3-8b", "hardware": "h100-sxm", "prompt_tokens": 1, "output_tokens": 1}, "did you mean"),
    ({"model": "llama-3.1-8b", "hardware": "h100-sxm", "prompt_tokens": 0, "output_tokens": 1}, "greater than"),
    ({"model": "llama-3.1-8b", "hardware": "/etc/passwd", "prompt_tokens": 1, "output_tokens": 1}, "paths"),
    ({"model": "llama-3.1-8b", "hardware": "h100-sxm", "prompt_tokens": 1, "output_tokens": 1, "x": 1}, "Extra"),
])
def test_estimate_rejections_are_422_and_name_the_problem(client, body, fragment):
    response = client.post("/v1/estimate", json=body)
    assert response.status_code == 422 and fragment in json.dumps(response.json())


def test_simulation_job_lifecycle_and_identical_result(served):
    client, runner = served
    created = client.post("/v1/simulations?seed=9", json=SMALL)
    assert created.status_code == 202 and created.json()["status"] == "queued"
    location = created.headers["location"]
    assert location == f"/v1/simulations/{created.json()['id']}" and client.get(location).json()["status"] == "queued"
    job = finished(client, runner, location)
    assert job["status"] == "succeeded" and job["progress"] == 1.0
    from simulator.results.runner import run
    from simulator.specs.scenario import ScenarioSpec
    expected = run(ScenarioSpec.model_validate(SMALL), seed=9).to_json_dict()
    assert job["result"] == json.loads(json.dumps(expected))
    page = client.get("/v1/simulations?limit=1").json()
    assert page["total"] == 1 and page["items"][0]["id"] == job["id"] and page["items"][0]["result"] is None


def test_yaml_bodies_idempotency_and_cancel(served):
    client, runner = served
    text = yaml.safe_dump(SMALL)
    first = client.post("/v1/simulations", content=text, headers={"content-type": "application/yaml",
                                                                 "idempotency-key": "k1"})
    again = client.post("/v1/simulations", content=text, headers={"content-type": "text/yaml",
                                                                 "idempotency-key": "k1"})
    assert first.json()["id"] == again.json()["id"]
    other = client.post("/v1/simulations", content=text + "\n# changed\n",
                        headers={"content-type": "application/yaml", "idempotency-key": "k1"})
    assert other.status_code == 409
    runner.run_queued()
    job_id = client.post("/v1/simulations", json={**SMALL, "name": "to-cancel"}).json()["id"]
    cancelled = client.delete(f"/v1/simulations/{job_id}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert runner.run_queued() == []                                      # a job cancelled while queued never runs
    assert client.get(f"/v1/simulations/{job_id}").json()["status"] == "cancelled"
    again = client.delete(f"/v1/simulations/{job_id}")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]
    done = client.delete(f"/v1/simulations/{first.json()['id']}")
    assert done.status_code == 409 and "already succeeded" in done.json()["detail"]


@pytest.mark.parametrize("mutate,status,fragment", [
    (lambda s: s["workload"].update(num_requests=10**8), 422, "max_requests_per_job"),
    (lambda s: s["deployments"][0].update(hardware="../../etc/x.yaml"), 422, "paths"),
    (lambda s: s["workload"].update(arrival={"process": "trace", "path": "/etc/passwd"}), 422, "trace"),
    (lambda s: s["workload"]["arrival"].update(rate_per_s=-1), 422, "rate_per_s"),
    (lambda s: s.update(deployments=[]), 422, "deployments"),
])
def test_bad_scenarios_are_422(client, mutate, status, fragment):
    scenario = json.loads(json.dumps(SMALL))
    mutate(scenario)
    response = client.post("/v1/simulations", json=scenario)
    assert response.status_code == status and fragment in json.dumps(response.json())


def test_body_limit_and_malformed_documents(client):
    assert client.post("/v1/simulations", content=b"x" * 70_000,
                       headers={"content-type": "application/json"}).status_code == 413
    assert client.post("/v1/simulations", content=b"name: [", headers={"content-type": "application/yaml"}
                       ).status_code == 422
    assert client.post("/v1/simulations", content=b"[1, 2]").status_code == 422
    assert client.post("/v1/simulations", content=b"!!python/object:os.system {}",
                       headers={"content-type": "application/yaml"}).status_code == 422


def test_queue_full_is_429_with_retry_after(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'q.db'}", log_level="WARNING", max_queued_jobs=1,
                        job_workers=1)
    with inline_client(settings) as (c, runner):
        responses = [c.post("/v1/simulations", json={**SMALL, "name": f"n{i}"}) for i in range(3)]
        assert [r.status_code for r in responses] == [202, 429, 429]
        assert responses[1].headers["retry-after"] == "10" and "queue is full (1 queued)" in responses[1].text
        assert c.get("/v1/simulations").json()["total"] == 1                 # refused jobs are not kept
        runner.run_queued()                                                   # the queue drains: room again
        assert c.post("/v1/simulations", json={**SMALL, "name": "later"}).status_code == 202


def test_api_keys(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'k.db'}", log_level="WARNING", api_keys="s3cret,other")
    with TestClient(create_app(settings)) as c:
        assert c.get("/v1/models").status_code == 401
        assert c.get("/v1/models", headers={"x-api-key": "s3cret"}).status_code == 200
        assert c.get("/v1/models", headers={"authorization": "Bearer other"}).status_code == 200
        assert c.get("/healthz").status_code == 200


def test_profiles_catalog_scenarios_and_metrics(served):
    client, runner = served
    profile = {"base": "h100-sxm", "memory_bandwidth_tb_s": 3.0, "efficiency": {"matmul_efficiency_max": 0.5}}
    assert client.post("/v1/profiles", json={"name": "my-h100", "profile": profile}).status_code == 201
    assert client.post("/v1/profiles", json={"name": "h100-sxm", "profile": profile}).status_code == 409
    bad = client.post("/v1/profiles", json={"name": "bad", "profile": {"base": "h100-sxm", "memory_gb": -1}})
    assert bad.status_code == 422 and "memory_gb" in json.dumps(bad.json())
    got = client.get("/v1/profiles/my-h100").json()
    assert got["resolved"]["efficiency"]["matmul_efficiency_max"] == 0.5
    assert "my-h100" in {h["name"] for h in client.get("/v1/hardware").json()}
    estimate = client.post("/v1/estimate", json={"model": "llama-3.1-8b", "hardware": "my-h100",
                                                 "prompt_tokens": 1000, "output_tokens": 10}).json()
    assert estimate["hardware"] == "my-h100"
    job = client.post("/v1/simulations", json={**SMALL, "deployments": [
        {"name": "u", "model": "llama-3.1-8b", "hardware": "my-h100"}]}).json()
    done = finished(client, runner, f"/v1/simulations/{job['id']}")
    assert done["status"] == "succeeded", done["error"]
    names = {s["name"] for s in client.get("/v1/scenarios").json()}
    assert {"quickstart", "legal-case-files"} <= names
    assert "deployments" in client.get("/v1/scenarios/quickstart").json()["scenario"]
    assert client.get("/v1/scenarios/../../etc").status_code == 404
    metrics = client.get("/metrics").text
    assert 'ctxplan_http_requests_total{method="POST",route="/v1/estimate",status="200"}' in metrics
    assert "ctxplan_job_queue_depth 0.0" in metrics and "ctxplan_jobs_running 0.0" in metrics
    assert 'ctxplan_job_duration_seconds_count{kind="simulation",status="succeeded"} 1.0' in metrics


def test_comparison_job(served):
    client, runner = served
    scenario = yaml.safe_load((ROOT / "scenarios" / "support-knowledge-base.yaml").read_text())
    scenario["queries"]["num_requests"] = 100
    created = client.post("/v1/comparisons", json=scenario)
    assert created.status_code == 202
    job = finished(client, runner, created.headers["location"])
    assert job["status"] == "succeeded", job["error"]
    assert {"deployments", "winner_on_cost", "winner_on_quality"} <= set(job["result"])
    assert client.post("/v1/simulations", json=scenario).status_code == 422   # comparisons go to /v1/comparisons


def test_default_caps_accept_every_builtin_scenario():
    """Every bundled scenario passes the service's checks (paths, caps, bounded distributions) as is."""
    from api.jobspec import Limits, check_scenario
    from simulator.specs.files import is_comparison
    limits = Limits.from_settings(Settings())
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        check_scenario(data, "comparison" if is_comparison(data) else "simulation", limits, frozenset())
