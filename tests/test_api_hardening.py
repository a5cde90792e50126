"""The service against an attacker and a careless client (issue 13's reproductions), through the real app.

Jobs run in this process when a test says so (`InlineRunner`); the memory-limit test runs real job
processes."""

import json

import pytest
import yaml
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from runners import finished, inline_client
from servers import wait_for

SMALL = {"name": "h", "seed": 1,
         "workload": {"num_requests": 20, "arrival": {"process": "poisson", "rate_per_s": 5},
                      "prompt_tokens": {"dist": "constant", "value": 100},
                      "output_tokens": {"dist": "constant", "value": 5}},
         "deployments": [{"name": "a", "model": "llama-3.1-8b", "hardware": "h100-sxm"}]}
CHAT = {"name": "c", "corpus": None,
        "conversations": {"num_sessions": 10, "arrival": {"process": "poisson", "rate_per_s": 1},
                          "turns": {"dist": "lognormal", "median": 4, "sigma": 1.0},
                          "user_tokens": {"dist": "constant", "value": 50},
                          "output_tokens": {"dist": "constant", "value": 20}},
        "deployments": [{"name": "l", "kind": "llm", "llm": {"model": "llama-3.1-8b", "hardware": "h100-sxm"}}]}


def _settings(tmp_path, **overrides) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'h.db'}", log_level="ERROR", **overrides)


@pytest.fixture
def client(tmp_path):
    with inline_client(_settings(tmp_path)) as (c, _runner):
        yield c


def wait(client, url, headers=None, timeout=60):
    jobs = []

    def done() -> bool:
        jobs.append(client.get(url, headers=headers).json())
        return jobs[-1]["status"] in ("succeeded", "failed", "cancelled")
    wait_for(done, f"{url} to finish", guard_s=timeout, poll_s=0.2)
    return jobs[-1]


def _detail(response) -> str:
    return json.dumps(response.json())


@pytest.mark.parametrize("param", ["deployments.0.model=/etc/passwd", "deployments.0.hardware=/etc/passwd",
                                   "deployments.0.hardware=h100-sxm,secrets/x.yaml"])
def test_sweep_values_cannot_name_server_files(client, param):
    response = client.post("/v1/sweeps", json={"scenario": SMALL, "params": [param]})
    assert response.status_code == 422, response.text
    assert "root:" not in response.text and "path" in _detail(response)


@pytest.mark.parametrize("mutate", [
    lambda s: s["deployments"][0].update(prefill_pool={"hardware": "/etc/passwd"}),
    lambda s: s["deployments"][0].update(model="/etc/passwd"),
    lambda s: s["deployments"][0].update(model="config.json"),
    lambda s: s["workload"].update(prompt_tokens={"dist": "empirical", "path": "/etc/passwd", "column": "x"}),
    lambda s: s["workload"].update(arrival={"process": "trace", "path": "/etc/passwd"}),
])
def test_scenario_paths_are_refused_naming_the_field(client, mutate):
    scenario = json.loads(json.dumps(SMALL))
    mutate(scenario)
    response = client.post("/v1/simulations", json=scenario)
    assert response.status_code == 422 and "root:" not in response.text
    assert response.json()["detail"][0]["loc"][1] in ("deployments", "workload"), response.text


def test_a_huge_sweep_range_is_refused_without_building_it(client):
    response = client.post("/v1/sweeps", json={"scenario": SMALL, "params": ["seed=1..1000000000000000"]})
    assert response.status_code == 422 and "1,000,000,000,000,000" in _detail(response)
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("body,fragment", [
    ({"scenario": SMALL, "params": ["workload.num_requests=100000000"]}, "max_requests_per_job"),
    ({"scenario": SMALL, "params": ["workload.num_requests=10,20"], "x": 1}, "Extra"),
])
def test_sweep_caps_apply_to_every_point(client, body, fragment):
    response = client.post("/v1/sweeps", json=body)
    assert response.status_code == 422 and fragment in _detail(response)


def test_unbounded_turns_and_huge_corpora_are_refused(client):
    response = client.post("/v1/comparisons", json=CHAT)
    assert response.status_code == 422 and "max" in _detail(response) and "turns" in _detail(response)
    bounded = json.loads(json.dumps(CHAT))
    bounded["conversations"]["turns"]["max"] = 12
    assert client.post("/v1/comparisons", json=bounded).status_code == 202
    corpus = yaml.safe_load(open("scenarios/legal-case-files.yaml"))
    corpus["corpus"]["num_documents"] = 100_000_000
    response = client.post("/v1/comparisons", json=corpus)
    assert response.status_code == 422 and "documents" in _detail(response)


def test_capacity_probes_and_map_reduce_calls_count_against_the_request_cap(tmp_path):
    codebase = yaml.safe_load(open("scenarios/codebase-qa.yaml"))
    # 3 deployments: main runs 3 x 450 requests; probes up to 3 x MAX_PROBES x 1,000 x 3 calls
    with inline_client(_settings(tmp_path, max_requests_per_job=50_000)) as (client, _runner):
        response = client.post("/v1/comparisons", json=codebase)
        assert response.status_code == 422 and "max_requests_per_job=50,000" in _detail(response)
        assert client.post("/v1/simulations", json={**SMALL, "name": "x" * 201}).status_code == 422
    with inline_client(_settings(tmp_path, max_requests_per_job=200_000)) as (client, _runner):
        assert client.post("/v1/comparisons", json=codebase).status_code == 202


@pytest.mark.parametrize("method,url,kwargs", [
    ("get", "/v1/simulations?offset=9223372036854775808", {}),
    ("get", "/v1/plans?limit=99999999999999999999", {}),
    ("post", "/v1/simulations", {"content": b'{"name": NaN}', "headers": {"content-type": "application/json"}}),
    ("post", "/v1/estimate", {"content": b'{"model": "llama-3.1-8b", "hardware": "h100-sxm", "prompt_tokens": NaN,'
                                         b' "output_tokens": Infinity}', "headers": {"content-type": "application/json"}}),
    ("post", "/v1/estimate", {"content": b'{"model": "\\ud800", "hardware": "h100-sxm", "prompt_tokens": 1, '
                                         b'"output_tokens": 1}', "headers": {"content-type": "application/json"}}),
    ("post", "/v1/simulations", {"content": b'{"name": "\\ud800", "workload": 1}',
                                 "headers": {"content-type": "application/json"}}),
    ("post", "/v1/simulations", {"content": b"[" * 100_000 + b"]" * 100_000,
                                 "headers": {"content-type": "application/json"}}),
    ("post", "/v1/estimate", {"content": b"[" * 100_000 + b"]" * 100_000,
                              "headers": {"content-type": "application/json"}}),
    ("post", "/v1/simulations", {"content": ("a:\n" + "".join("  " * i + "- \n" for i in range(1, 900))).encode(),
                                 "headers": {"content-type": "application/yaml"}}),
    ("post", "/v1/simulations", {"content": ("[" * 900 + "]" * 900).encode(),
                                 "headers": {"content-type": "application/yaml"}}),
    ("post", "/v1/plans", {"json": {"scenario": SMALL, "target_qps": 1, "slo_ttft_p99_s": 1,
                                    "tensor_parallel": [0]}}),
    ("post", "/v1/profiles", {"json": {"name": "p", "profile": {"hardware": "abc"}}}),
    ("post", "/v1/profiles", {"content": b'{"name": "p", "profile": {"base": "h100-sxm", "memory_gb": "\\ud800"}}',
                              "headers": {"content-type": "application/json"}}),
])
def test_hostile_inputs_get_4xx(client, method, url, kwargs):
    response = getattr(client, method)(url, **kwargs)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["detail"]


@pytest.mark.parametrize("url,body", [
    ("/v1/profiles", b'{"name": "p", "profile": {"base": "h100-sxm", "source": "\\ud800"}}'),
    ("/v1/simulations", json.dumps({**SMALL, "name": "x"}).replace('"x"', '"\\udfff"').encode()),
    ("/v1/sweeps", json.dumps({"scenario": SMALL, "params": ["name=a,b"]}).replace("name=a,b", "name=\\ud800,b").encode()),
])
def test_lone_surrogates_are_refused_once_at_the_door(client, url, body):
    response = client.post(url, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422 and "surrogate" in response.text


def test_non_finite_horizon_and_plan_inputs_are_refused_at_submit(client):
    infinite = json.loads(json.dumps(SMALL))
    infinite["workload"]["horizon_s"] = 1e400                     # json.dumps writes Infinity
    response = client.post("/v1/simulations", content=json.dumps(infinite), headers={"content-type": "application/json"})
    assert response.status_code == 422
    for body in ({"scenario": SMALL, "target_qps": 1, "slo_ttft_p99_s": 1, "requests": 0},
                 {"scenario": SMALL, "target_qps": 1, "slo_ttft_p99_s": 1, "hardware": ["h100-sxm", "nope"]},
                 {"scenario": SMALL, "target_qps": 1, "slo_ttft_p99_s": 1, "max_num_seqs": [0]},
                 {"scenario": {**SMALL, "workload": {**SMALL["workload"], "num_requests": None,
                                                     "horizon_s": 100000.0}},
                  "target_qps": 1000, "slo_ttft_p99_s": 1}):
        response = client.post("/v1/plans", json=body)
        assert response.status_code == 422, (body, response.text)


def test_non_ascii_api_key_is_401(tmp_path):
    with inline_client(_settings(tmp_path, api_keys="k1")) as (c, _runner):
        response = c.get("/v1/models", headers={"x-api-key": "ключ".encode()})
        assert response.status_code == 401


def test_tenants_see_only_their_own_jobs_and_profiles(tmp_path):
    settings = _settings(tmp_path, api_keys="key-a,key-b", admin_api_key="root-key")
    a, b, admin = ({"x-api-key": k} for k in ("key-a", "key-b", "root-key"))
    with inline_client(settings) as (c, runner):
        created = c.post("/v1/simulations", json=SMALL, headers={**a, "idempotency-key": "same"})
        assert created.status_code == 202
        url = created.headers["location"]
        assert c.get(url, headers=b).status_code == 404
        assert c.delete(url, headers=b).status_code == 404
        assert c.get("/v1/simulations", headers=b).json()["total"] == 0
        other = c.post("/v1/simulations", json=SMALL, headers={**b, "idempotency-key": "same"})
        assert other.status_code == 202 and other.json()["id"] != created.json()["id"]
        assert c.get("/v1/simulations", headers=admin).json()["total"] == 2
        assert finished(c, runner, url, headers=a)["status"] == "succeeded"
        assert c.get(url, headers=b).status_code == 404 and c.get(url, headers=admin).status_code == 200
        profile_a = {"base": "h100-sxm", "memory_bandwidth_tb_s": 3.0}
        assert c.post("/v1/profiles", json={"name": "mine", "profile": profile_a}, headers=a).status_code == 201
        assert c.get("/v1/profiles/mine", headers=b).status_code == 404
        assert c.post("/v1/profiles", json={"name": "mine", "profile": {"base": "a100-80gb"}},
                      headers=b).status_code == 201
        assert c.get("/v1/profiles/mine", headers=a).json()["profile"] == {**profile_a, "name": "mine"}
        uses_a = {**SMALL, "deployments": [{"name": "u", "model": "llama-3.1-8b", "hardware": "mine"}]}
        assert "mine" not in {h["name"] for h in c.get("/v1/hardware", headers={"x-api-key": "root-key"}).json()}
        assert c.post("/v1/simulations", json=uses_a, headers=admin).status_code == 422   # not admin's profile


def test_docs_and_metrics_follow_the_public_docs_setting(tmp_path):
    with inline_client(_settings(tmp_path, api_keys="k")) as (c, _runner):
        for path in ("/docs", "/openapi.json", "/metrics", "/redoc"):
            assert c.get(path).status_code == 401, path
            assert c.get(path, headers={"x-api-key": "k"}).status_code == 200, path
        assert c.get("/docs-assets/swagger-ui-bundle.js", headers={"x-api-key": "k"}).status_code == 200
    with inline_client(_settings(tmp_path, api_keys="k", public_docs=True)) as (c, _runner):
        page = c.get("/docs")
        assert page.status_code == 200 and "/docs-assets/swagger-ui-bundle.js" in page.text and "cdn" not in page.text
        assert c.get("/openapi.json").status_code == 200


def test_security_headers_and_no_cors_by_default(client):
    response = client.get("/healthz", headers={"origin": "https://evil.example"})
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "access-control-allow-origin" not in response.headers


def test_retry_after_429_with_the_same_key_submits_anew(tmp_path):
    settings = _settings(tmp_path, max_queued_jobs=1, job_workers=1)
    with inline_client(settings) as (c, runner):
        queued = c.post("/v1/simulations", json={**SMALL, "name": "s0"})
        refused = c.post("/v1/simulations", json={**SMALL, "name": "retry"}, headers={"idempotency-key": "r"})
        assert (queued.status_code, refused.status_code) == (202, 429) and refused.headers["retry-after"] == "10"
        assert c.delete(queued.headers["location"]).json()["status"] == "cancelled"   # frees the slot at once
        retry = c.post("/v1/simulations", json={**SMALL, "name": "retry"}, headers={"idempotency-key": "r"})
        assert retry.status_code == 202 and retry.json()["status"] == "queued"
        assert retry.json()["id"] != queued.json()["id"]
        again = c.post("/v1/simulations", json={**SMALL, "name": "retry"}, headers={"idempotency-key": "r"})
        assert again.status_code == 202 and again.json()["id"] == retry.json()["id"]
        assert runner.run_queued() == [retry.json()["id"]]


def test_openapi_documents_bodies_results_and_errors(client):
    document = client.get("/openapi.json").json()
    create = document["paths"]["/v1/sweeps"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SweepRequest"}
    assert "application/yaml" in create["requestBody"]["content"]
    assert {"401", "409", "413", "415", "422", "429", "503"} <= set(create["responses"])
    assert "ScenarioSpec" in document["components"]["schemas"]
    job = document["components"]["schemas"]["Job"]["properties"]["result"]
    assert "object" != job.get("type"), job


def test_a_job_past_its_memory_limit_fails_alone_with_the_reason(tmp_path):
    with TestClient(create_app(_settings(tmp_path, job_memory_limit_mb=600))) as c:
        big = {**SMALL, "workload": {**SMALL["workload"], "num_requests": 1_000_000,
                                     "arrival": {"process": "poisson", "rate_per_s": 50}}}
        job = wait(c, c.post("/v1/simulations", json=big).headers["location"], timeout=120)
        assert job["status"] == "failed" and "job_memory_limit_mb=600" in job["error"], job["error"]
        small = wait(c, c.post("/v1/simulations", json=SMALL).headers["location"])
        assert small["status"] == "succeeded"


def test_inputs_that_used_to_fail_inside_the_job_are_refused_at_submit(client):
    no_fit = json.loads(json.dumps(SMALL))
    no_fit["deployments"][0].update(model="llama-3.1-70b", hardware="l4")
    response = client.post("/v1/simulations", json=no_fit)
    assert response.status_code == 422 and "does not fit" in _detail(response)
    bad_tp = json.loads(json.dumps(SMALL))
    bad_tp["deployments"][0]["tensor_parallel"] = 3
    response = client.post("/v1/simulations", json=bad_tp)
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "tensor_parallel"
    response = client.post("/v1/plans", json={"scenario": SMALL, "target_qps": 1})
    assert response.status_code == 422 and "target" in _detail(response)
