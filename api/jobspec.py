"""Validating a job body before it is queued: parse, refuse server-side paths, bound the work.

These functions are pure (no FastAPI, no store): `api.validation` runs them in a process pool, off
the event loop, with a time limit. A refusal is a `Refusal` (status, location, message); the
route turns it into the HTTP reply. Every cap is checked on the fully expanded job (every sweep
point, every plan candidate at the highest rate its capacity probe may try) before it is accepted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import yaml
from pydantic import BaseModel, ValidationError

from api.schemas import PlanRequest, SweepRequest
from simulator.planning.bounds import bound_of, bound_of_sweep
from simulator.specs.comparison import ComparisonSpec
from simulator.specs.deployment import resolve_deployment
from simulator.errors import InputError
from simulator.specs.paths import check_service_paths, check_service_value
from simulator.planning.planner import Config, design_rate, max_requests_per_run, max_simulations, point_doc
from simulator.specs.scenario import ScenarioSpec, TraceArrivals
from simulator.specs.files import is_comparison
from simulator.specs.yamlio import load_yaml_text

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
JSON_TYPES = ("application/json", "")
MAX_NODES = 2_000_000        # values in one body (YAML aliases can make a small text a huge tree)


@dataclass(frozen=True, slots=True)
class Limits:
    """The caps a job is checked against (from `Settings`; picklable for the validation pool)."""
    max_nesting_depth: int
    max_requests_per_job: int
    max_deployments_per_job: int
    max_simulations_per_job: int
    max_turns_per_job: int
    max_documents_per_job: int
    max_corpus_tokens_per_job: int
    max_simulated_seconds: float

    @classmethod
    def from_settings(cls, settings) -> "Limits":
        return cls(**{name: getattr(settings, name) for name in cls.__slots__})


class Refusal(Exception):
    """A body the service will not accept: HTTP `status` with a FastAPI-style detail list."""

    def __init__(self, loc: list, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status
        self.detail = [{"loc": [str(p) if not isinstance(p, int) else p for p in loc], "msg": message,
                        "type": "value_error"}]

    def __reduce__(self):   # picklable across the pool
        return (_refusal, (self.status, self.detail))


def _refusal(status: int, detail: list) -> Refusal:
    refusal = Refusal([], "", status)
    refusal.detail = detail
    return refusal


@dataclass(frozen=True, slots=True)
class Accepted:
    spec: dict          # the validated body as the job stores it
    body_hash: str


def shape_problem(data, max_depth: int, max_nodes: int = MAX_NODES) -> str | None:
    """Why a parsed body is too deep, too large or not valid Unicode (walked without recursion).

    JSON's `\\ud800` escapes decode to lone surrogates, which no response or database can encode:
    they are refused here, once, rather than failing wherever the text is echoed later."""
    stack, seen = [(data, 1)], 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > max_nodes:
            return f"more than {max_nodes:,} values (YAML aliases expand)"
        if isinstance(node, str) and not _is_unicode(node):
            return "a string holds a lone surrogate (\\ud800-\\udfff): not valid Unicode text"
        if isinstance(node, dict):
            stack.extend((key, depth) for key in node if isinstance(key, str))
        if isinstance(node, (dict, list)):
            if depth > max_depth:
                return f"nested deeper than {max_depth} levels"
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return None


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _no_constant(name: str):
    raise ValueError(f"{name} is not a finite number")


def parse_document(raw: bytes, content_type: str, max_depth: int) -> dict:
    """The body as a mapping (JSON or YAML by Content-Type), bounded in depth and size."""
    is_yaml = content_type in YAML_TYPES
    try:
        text = raw.decode("utf-8")
        data = load_yaml_text(text, None, max_depth=max_depth) if is_yaml else \
            json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise Refusal(["body"], f"nested deeper than {max_depth} levels") from None
    except InputError as exc:
        raise Refusal(["body"], exc.detail if "YAML" in exc.detail else f"malformed YAML: {exc.detail}") from None
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        first = (str(exc).splitlines() or ["?"])[0][:200]
        raise Refusal(["body"], f"malformed {'YAML' if is_yaml else 'JSON'}: {first}") from None
    problem = shape_problem(data, max_depth)
    if problem is not None:
        raise Refusal(["body"], problem)
    if not isinstance(data, dict):
        raise Refusal(["body"], "the body must be a mapping (JSON object)")
    return data


def _pydantic_refusal(exc: ValidationError, prefix: tuple = ()) -> Refusal:
    refusal = Refusal([], "")
    refusal.detail = [{"loc": ["body", *prefix, *err["loc"]], "msg": err["msg"], "type": err["type"]}
                      for err in exc.errors(include_url=False, include_input=False)[:20]]
    return refusal


def field_loc(field: str | None) -> list:
    """`deployments[0].llm.hardware` -> ["deployments", "0", "llm", "hardware"] (a FastAPI-style location)."""
    return [part for part in (field or "").replace("[", ".").replace("]", "").split(".") if part]


def _input_refusal(exc: InputError, prefix: list) -> Refusal:
    return Refusal([*prefix, *field_loc(exc.field)], exc.detail if exc.field else str(exc))


def check_bound(bound, limits: Limits, where: list, per_run: bool = False) -> None:
    """Refuse work whose upper bound passes a cap (see `simulator.planning.bounds.WorkBound`): a scenario's
    requests over all its deployments, or with `per_run` (sweeps, plans) one run's requests."""
    if bound.unbounded_fields:
        raise Refusal([*where, *bound.unbounded_fields[0].split(".")],
                      "this length distribution has no upper tail: set its max (tokens)")
    checks = (("requests_per_run" if per_run else "total_requests", limits.max_requests_per_job,
               "max_requests_per_job"),
              ("turns", limits.max_turns_per_job, "max_turns_per_job"),
              ("documents", limits.max_documents_per_job, "max_documents_per_job"),
              ("corpus_tokens", limits.max_corpus_tokens_per_job, "max_corpus_tokens_per_job"),
              ("simulated_seconds", limits.max_simulated_seconds, "max_simulated_seconds"))
    for name, cap, setting in checks:
        value = getattr(bound, name)
        if value is not None and value > cap:
            what = name.replace("_per_run", " in one run").replace("total_", "").replace("_", " ")
            raise Refusal(where, f"up to {value:,.0f} {what} exceed the cap {setting}={cap:,}")


def check_scenario(data: dict, kind: str, limits: Limits, uploaded: frozenset[str],
                   where: tuple = ()) -> ScenarioSpec | ComparisonSpec:
    """Validate a serving or comparison scenario mapping: schema, paths, names, caps."""
    if kind == "simulation" and is_comparison(data):
        raise Refusal(["body", *where], "this is a comparison scenario: POST it to /v1/comparisons")
    model = ComparisonSpec if kind == "comparison" and is_comparison(data) else ScenarioSpec
    try:
        spec = model.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_refusal(exc, where) from None
    if len(spec.deployments) > limits.max_deployments_per_job:
        raise Refusal(["body", *where, "deployments"], f"{len(spec.deployments)} deployments exceed the cap "
                                                       f"max_deployments_per_job={limits.max_deployments_per_job}")
    block_name = "workload" if isinstance(spec, ScenarioSpec) else ("queries" if spec.queries else "conversations")
    if isinstance(getattr(spec, block_name).arrival, TraceArrivals):
        raise Refusal(["body", *where, block_name, "arrival", "path"],
                      "trace files are server-side paths; not accepted by the service (run traces with the CLI)")
    try:
        check_service_paths(spec, extra_hardware=uploaded)
    except InputError as exc:
        raise _input_refusal(exc, ["body", *where]) from None
    check_bound(bound_of(spec, capacity_search=kind == "comparison" and not where), limits, ["body", *where])
    if not where:                 # a plan or sweep explores configurations that may not fit; a run may not
        _check_deployments_fit(spec, uploaded)
    return spec


def _check_deployments_fit(spec: ScenarioSpec | ComparisonSpec, uploaded: frozenset[str]) -> None:
    """Resolve each deployment on catalog hardware now (TP that does not divide the heads, weights that do
    not fit, ...), so the job cannot fail on it later; uploaded profiles resolve in the job."""
    for i, deployment in enumerate(spec.deployments):
        serving, field = (deployment.llm, f"deployments[{i}].llm") if hasattr(deployment, "llm") else \
            (deployment, f"deployments[{i}]")
        pool = serving.prefill_pool.hardware if serving.prefill_pool is not None else None
        if serving.hardware in uploaded or pool in uploaded:
            continue
        try:
            resolve_deployment(serving, field)
        except InputError as exc:
            raise _input_refusal(exc, ["body"]) from None


def _plan_requests(body, scenario: ScenarioSpec, limits: Limits) -> int:
    """Simulation runs of the plan, after checking every candidate at the highest rate it may be run at."""
    doc = scenario.model_dump(mode="json")
    grid = body.grid(scenario.deployments[0])          # PlanOptions: the planner's own defaults
    hardware, tps = grid.hardware, grid.tensor_parallel
    configs = [Config(h, t, s, c) for h in hardware for t in tps for s in grid.max_num_seqs for c in grid.chunk_tokens]
    runs = max_simulations(len(configs), body.max_gpus, min(tps), body.seeds, body.capacity)
    if runs > limits.max_simulations_per_job:
        raise Refusal(["body"], f"up to {runs:,} simulation runs exceed the cap max_simulations_per_job="
                                f"{limits.max_simulations_per_job:,}")
    unknown = sorted(set(body.prices or {}) - set(hardware))
    if unknown:
        raise Refusal(["body", "prices", unknown[0]], f"names a hardware the plan does not try ({', '.join(hardware)})")
    design = design_rate(body.target_qps, body.headroom)   # capacity probes stay under max_requests_per_job themselves
    design_requests = max_requests_per_run(doc, body.target_qps, body.requests, body.headroom, body.min_arrival_s)
    for config in configs:
        point = point_doc(doc, config, max(1, body.max_gpus // config.tensor_parallel), design,
                          scenario.seed, design_requests)
        try:
            spec = ScenarioSpec.model_validate(point)
        except ValidationError as exc:
            raise _pydantic_refusal(exc, ("scenario",)) from None
        check_bound(bound_of(spec), limits, ["body", "scenario"], per_run=True)
    return runs


def _sweep_runs(body, limits: Limits, uploaded: frozenset[str]) -> int:
    """Runs of the sweep, after checking every point's bound and every swept text value's paths."""
    from simulator.planning.sweep import parse_param, validate_point   # pandas: kept out of the server process
    from simulator.specs.edit import edit
    try:
        params = [parse_param(p) for p in body.params]
        for path, values in params:     # numbers never name files: only swept texts can
            for value in (v for v in values if isinstance(v, str)):
                check_service_paths(validate_point(edit(body.scenario, path, value)), extra_hardware=uploaded)
        bound = bound_of_sweep(body.scenario, params)
    except InputError as exc:
        raise _input_refusal(exc, ["body", "params"]) from None
    check_bound(bound, limits, ["body", "params"], per_run=True)
    if bound.runs > limits.max_simulations_per_job:
        raise Refusal(["body", "params"], f"{bound.runs:,} simulation runs exceed the cap max_simulations_per_job="
                                          f"{limits.max_simulations_per_job:,}")
    return bound.runs


def check_job(kind: str, raw: bytes, content_type: str, uploaded: frozenset[str], limits: Limits) -> Accepted:
    """Everything the service checks before it queues a job; raises `Refusal`."""
    data = parse_document(raw, content_type, limits.max_nesting_depth)
    body_hash = hashlib.sha256(raw).hexdigest()
    if kind in ("simulation", "comparison"):
        spec = check_scenario(data, kind, limits, uploaded)
        return Accepted(spec=spec.model_dump(mode="json"), body_hash=body_hash)
    model: type[BaseModel] = PlanRequest if kind == "plan" else SweepRequest
    try:
        body = model.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_refusal(exc) from None
    scenario = check_scenario(body.scenario, "comparison" if kind == "sweep" else "simulation", limits, uploaded,
                              ("scenario",))
    if kind == "plan":
        if not (body.slo_ttft_p99_s or body.slo_tpot_p99_s or scenario.slo.ttft_s or scenario.slo.tpot_s):
            raise Refusal(["body", "slo_ttft_p99_s"], "a plan needs a target: slo_ttft_p99_s and/or slo_tpot_p99_s "
                                                      "(or slo: in the scenario)")
        for i, name in enumerate(body.hardware or []):
            try:
                check_service_value(name, f"hardware[{i}]", "hardware", uploaded)
            except InputError as exc:
                raise _input_refusal(exc, ["body"]) from None
        _plan_requests(body, scenario, limits)
    else:
        _sweep_runs(body, limits, uploaded)
    return Accepted(spec=body.model_dump(mode="json"), body_hash=body_hash)


def validate_submission(kind: str, raw: bytes, content_type: str, uploaded: frozenset[str],
                        limits: Limits) -> Accepted | Refusal:
    """Pool entry point: the accepted body, or the refusal (returned, not raised, so it pickles plainly)."""
    try:
        return check_job(kind, raw, content_type, uploaded, limits)
    except Refusal as refusal:
        return refusal
    except InputError as exc:
        return _input_refusal(exc, ["body"])


def warm() -> bool:
    """Import what validation needs (sweeps: pandas), so the first real body does not pay for it."""
    import simulator.planning.sweep  # noqa: F401
    from simulator.catalog import hardware_names, model_names
    return bool(hardware_names() and model_names())
