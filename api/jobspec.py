"""Validating a job body before it is queued: parse, apply caps, refuse server-side paths."""

from __future__ import annotations

import hashlib
import json

import yaml
from fastapi import HTTPException, Request
from pydantic import BaseModel, ValidationError

from api.settings import Settings
from api.store import Store
from simulator.catalog import hardware_names, model_names, profile_from_mapping
from simulator.comparison_spec import ComparisonSpec
from simulator.errors import InputError, unknown_name_error
from simulator.scenario import ScenarioSpec, TraceArrivals
from simulator.scenario_files import is_comparison

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")


def unprocessable(loc: list, message: str) -> HTTPException:
    return HTTPException(status_code=422, detail=[{"loc": loc, "msg": message, "type": "value_error"}])


async def read_document(request: Request) -> tuple[dict, str]:
    """The body as a mapping (JSON or YAML by Content-Type) and its hash."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    try:
        if content_type in YAML_TYPES:
            data = yaml.safe_load(raw.decode("utf-8"))
        elif content_type in ("application/json", ""):
            data = json.loads(raw.decode("utf-8"))
        else:
            raise HTTPException(status_code=415, detail=f"unsupported Content-Type {content_type!r}; send "
                                                        "application/json or application/yaml")
    except (UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise unprocessable(["body"], f"malformed {'YAML' if content_type in YAML_TYPES else 'JSON'}: "
                                      f"{str(exc).splitlines()[0][:200]}") from None
    if not isinstance(data, dict):
        raise unprocessable(["body"], "the scenario must be a mapping (JSON object)")
    return data, hashlib.sha256(raw).hexdigest()


def _pydantic_422(exc: ValidationError) -> HTTPException:
    return HTTPException(status_code=422, detail=[{"loc": ["body", *err["loc"]], "msg": err["msg"],
                                                   "type": err["type"]} for err in exc.errors()[:20]])


def _check_name(kind: str, value: str, known, loc: list) -> None:
    if "/" in value or "\\" in value or value.endswith((".yaml", ".yml", ".json")):
        raise unprocessable(loc, "server-side file paths are not accepted; use a catalog name or upload a "
                                 "profile with POST /v1/profiles")
    if value.lower() not in known:
        raise unprocessable(loc, str(unknown_name_error(kind, value, known, ".".join(map(str, loc)))))


def _estimated_requests(spec) -> int:
    if isinstance(spec, ScenarioSpec):
        block = spec.workload
    else:
        block = spec.queries or spec.conversations
    if isinstance(block.arrival, TraceArrivals):
        raise unprocessable(["body", "arrival"], "trace files are server-side paths; send lengths inline instead")
    count = getattr(block, "num_requests", None) or getattr(block, "num_sessions", None)
    horizon = getattr(block, "horizon_s", None)
    if horizon is not None:
        by_time = int(block.arrival.rate_per_s * horizon)
        count = min(count, by_time) if count else by_time
    if spec.__class__ is ComparisonSpec and spec.conversations is not None:
        turns = spec.conversations.turns
        count *= getattr(turns, "value", None) or getattr(turns, "high", None) or getattr(turns, "max", None) or 50
    return count * len(spec.deployments)


def parse_job(data: dict, kind: str, settings: Settings, store: Store) -> ScenarioSpec | ComparisonSpec:
    model = ComparisonSpec if kind == "comparison" and is_comparison(data) else ScenarioSpec
    if kind == "simulation" and is_comparison(data):
        raise unprocessable(["body"], "this is a comparison scenario: POST it to /v1/comparisons")
    try:
        spec = model.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_422(exc) from None
    if len(spec.deployments) > settings.max_deployments_per_job:
        raise unprocessable(["body", "deployments"],
                            f"{len(spec.deployments)} deployments exceed the cap max_deployments_per_job="
                            f"{settings.max_deployments_per_job}")
    requests = _estimated_requests(spec)
    if requests > settings.max_requests_per_job:
        raise unprocessable(["body"], f"about {requests} simulated requests exceed the cap max_requests_per_job="
                                      f"{settings.max_requests_per_job}")
    uploaded = set(store.profiles())
    for i, deployment in enumerate(spec.deployments):
        target, prefix = (deployment.llm, ["body", "deployments", i, "llm"]) if hasattr(deployment, "llm") else \
            (deployment, ["body", "deployments", i])
        _check_name("model", target.model, set(model_names()), prefix + ["model"])
        _check_name("hardware", target.hardware, set(hardware_names()) | uploaded, prefix + ["hardware"])
        for stage in ("embedding", "rerank"):
            part = getattr(getattr(deployment, "retrieval", None), stage, None)
            if part is not None:
                _check_name("hardware", part.hardware, set(hardware_names()),
                            ["body", "deployments", i, "retrieval", stage, "hardware"])
    _check_no_paths(data)
    return spec


def _check_no_paths(data) -> None:
    """Empirical length distributions read files: refuse them anywhere in the body."""
    if isinstance(data, dict):
        if data.get("dist") == "empirical":
            raise unprocessable(["body"], "empirical length distributions read server-side files; not accepted")
        for value in data.values():
            _check_no_paths(value)
    elif isinstance(data, list):
        for value in data:
            _check_no_paths(value)


def resolve_uploaded(store: Store, name: str):
    text = store.get_profile(name)
    if text is None:
        return None
    return profile_from_mapping(yaml.safe_load(text), name)


def input_error_422(exc: InputError) -> HTTPException:
    return unprocessable(["body", exc.field] if exc.field else ["body"], str(exc))


def parse_plan_or_sweep(data: dict, kind: str, settings: Settings, store: Store) -> BaseModel:
    """Validate a plan or sweep body: its scenario like any job, then the search size against the caps."""
    import math

    from api.schemas import PlanRequest, SweepRequest
    from simulator.sweep import expand, parse_param
    try:
        body = (PlanRequest if kind == "plan" else SweepRequest).model_validate(data)
    except ValidationError as exc:
        raise _pydantic_422(exc) from None
    scenario = parse_job(body.scenario, "comparison" if kind == "sweep" else "simulation", settings, store)
    runs_requests = _estimated_requests(scenario)
    if kind == "plan":
        template = scenario.deployments[0]
        known = set(hardware_names()) | set(store.profiles())
        for i, name in enumerate(body.hardware or []):
            _check_name("hardware", name, known, ["body", "hardware", i])
        configs = math.prod(len(v or [None]) for v in (body.hardware, body.tensor_parallel, body.max_num_seqs,
                                                        body.chunk_tokens))
        replicas = body.max_gpus // min(body.tensor_parallel or [template.tensor_parallel])
        per_config = (math.ceil(math.log2(max(replicas, 1))) + 1) + (10 if body.capacity else 0)
        simulations = configs * per_config * body.seeds
        per_run = body.requests or runs_requests
    else:
        try:
            points = expand(body.scenario, [parse_param(p) for p in body.params])
        except InputError as exc:
            raise unprocessable(["body", "params"], str(exc)) from None
        for _, point in points:
            _check_no_paths(point)
        simulations, per_run = len(points), runs_requests
    if simulations > settings.max_simulations_per_job:
        raise unprocessable(["body"], f"up to {simulations} simulation runs exceed the cap max_simulations_per_job="
                                      f"{settings.max_simulations_per_job}")
    if per_run > settings.max_requests_per_job:
        raise unprocessable(["body"], f"about {per_run} simulated requests per run exceed the cap "
                                      f"max_requests_per_job={settings.max_requests_per_job}")
    return body
