"""Property-based: malformed and hostile bodies at every POST endpoint never produce a 5xx."""

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from api.settings import Settings
from runners import inline_client

VALID = {
    "/v1/estimate": {"model": "llama-3.1-8b", "hardware": "h100-sxm", "prompt_tokens": 100, "output_tokens": 10},
    "/v1/simulations": {"name": "h", "workload": {"num_requests": 5, "arrival": {"process": "poisson",
                                                                                  "rate_per_s": 1},
                                                   "prompt_tokens": {"dist": "constant", "value": 10},
                                                   "output_tokens": {"dist": "constant", "value": 2}},
                        "deployments": [{"name": "a", "model": "llama-3.1-8b", "hardware": "h100-sxm"}]},
    "/v1/profiles": {"name": "p", "profile": {"base": "h100-sxm"}},
}
VALID["/v1/comparisons"] = VALID["/v1/simulations"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12)


def mutate(body, path, value):
    body = json.loads(json.dumps(body))
    node = body
    for key in path[:-1]:
        if isinstance(node, dict) and key in node:
            node = node[key]
        else:
            return body
    if isinstance(node, dict):
        node[path[-1]] = value
    return body


def leaf_paths(body, prefix=()):
    if isinstance(body, dict):
        for key, value in body.items():
            yield prefix + (key,)
            yield from leaf_paths(value, prefix + (key,))
    elif isinstance(body, list):
        for value in body:
            yield from leaf_paths(value, prefix)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    db = tmp_path_factory.mktemp("hostile") / "h.db"
    with inline_client(Settings(database_url=f"sqlite:///{db}", log_level="ERROR", max_requests_per_job=50,
                                max_queued_jobs=1000, max_body_bytes=32 * 1024)) as (c, _runner):
        yield c         # accepted bodies stay queued: what is under test is the answer, not the job


def check(response):
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        detail = response.json()["detail"]
        assert detail, "a rejection names the problem"


@pytest.mark.parametrize("endpoint", sorted(VALID))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300), content_type=st.sampled_from(
    ["application/json", "application/yaml", "text/yaml", "text/plain", "application/x-www-form-urlencoded"]))
def test_raw_bytes(client, endpoint, raw, content_type):
    check(client.post(endpoint, content=raw, headers={"content-type": content_type}))


@pytest.mark.parametrize("endpoint", sorted(VALID))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), value=json_values)
def test_mutated_valid_bodies(client, endpoint, data, value):
    paths = list(leaf_paths(VALID[endpoint]))
    path = data.draw(st.sampled_from(paths))
    check(client.post(endpoint, json=mutate(VALID[endpoint], path, value)))


@pytest.mark.parametrize("endpoint", sorted(VALID))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=json_values)
def test_arbitrary_json(client, endpoint, body):
    check(client.post(endpoint, json=body))


def test_yaml_bombs_and_python_tags_are_rejected(client):
    bomb = "a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b]\n"
    check(client.post("/v1/simulations", content=bomb, headers={"content-type": "application/yaml"}))
    tagged = client.post("/v1/simulations", content="!!python/object/apply:os.system ['echo pwned']",
                         headers={"content-type": "application/yaml"})
    assert tagged.status_code == 422
