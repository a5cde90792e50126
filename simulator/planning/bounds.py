"""Work bounds: how much a scenario can make the simulator build, counted before anything is built.

Every count is an upper bound read off the validated spec, with each length distribution taken
at its upper tail:

    constant -> value      uniform -> high      any dist with `max` -> min(max, that)
    normal / lognormal without `max` -> MAX_TOKENS (the clip `sample_lengths` applies), and the
    field is listed in `unbounded_fields` (so is an empirical CSV or a trace without a cap: their
    tail is only known once the file is read)

    requests_per_run  num_requests, or arrivals within horizon_s sized as `workload.arrival_times`
                      draws them (rate*T + 10*sqrt(rate*T) + 10, x (1 + cv) for gamma), the smaller
                      when both are set; conversations: sessions x turns (every turn is a request);
                      queries x the most LLM calls one query makes (`calls_per_query`: map-reduce
                      splits the longest document into parts of at least MIN_MAP_PART_TOKENS)
    runs              deployments (each simulates the whole workload once)
    turns             total conversation turns (sessions x turns' upper tail), 0 without conversations
    documents         corpus documents; corpus_tokens = documents x document_tokens' upper tail
    simulated_seconds max_sim_time_s when set, else horizon_s, else None (until the queue drains)

    probe_requests    with `capacity_search` (the service's comparisons): every probe of
                      `compare.max_sustainable_qps`, MAX_PROBES per deployment of at most
                      max(the scenario's count, PROBE_CAP) queries or sessions; counted in total_requests
`bound_of_sweep` takes every point of a sweep (validated, at most MAX_POINTS) and reports the
largest per-run figures and the summed runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from simulator.specs.comparison import ComparisonSpec
from simulator.specs.scenario import MAX_REQUESTS, MAX_TOKENS, ConstantLength, ScenarioSpec, TraceArrivals, UniformLength


@dataclass(frozen=True, slots=True)
class WorkBound:
    requests_per_run: int
    runs: int
    turns: int
    documents: int
    corpus_tokens: int
    simulated_seconds: float | None
    unbounded_fields: tuple[str, ...]
    probe_requests: int = 0

    @property
    def total_requests(self) -> int:
        return self.requests_per_run * self.runs + self.probe_requests


def length_upper(dist) -> int | None:
    """The largest value `sample_lengths` can return for `dist`, or None when only MAX_TOKENS bounds it."""
    if isinstance(dist, ConstantLength):
        tail = dist.value
    elif isinstance(dist, UniformLength):
        tail = dist.high
    else:
        tail = None
    if dist.max is not None:
        tail = dist.max if tail is None else min(tail, dist.max)
    return None if tail is None else max(min(tail, MAX_TOKENS), dist.min)


def _tail(dist, field: str, unbounded: list[str]) -> int:
    tail = length_upper(dist)
    if tail is None:
        unbounded.append(field)
        return MAX_TOKENS
    return tail


def _arrivals(arrival, num: int | None, horizon_s: float | None, field: str, unbounded: list[str]) -> int:
    if isinstance(arrival, TraceArrivals):
        if num is None:
            unbounded.append(f"{field}.path")
            return MAX_REQUESTS
        return num
    if not hasattr(arrival, "rate_per_s"):          # all_at_once, concurrency: num_requests is required
        return num or 0
    from simulator.workloads.generate import arrivals_to_draw
    by_time = arrivals_to_draw(arrival, horizon_s) if horizon_s is not None else None
    counts = [c for c in (num, by_time) if c is not None]
    return min(counts) if counts else 0


def calls_per_query(spec: ComparisonSpec, document_tail: int, question_tail: int) -> int:
    """Most LLM calls one query makes on any deployment: 1, or for map-reduce one map call per part of
    the longest document plus the reduce (parts are as small as the model's context leaves room for,
    never under MIN_MAP_PART_TOKENS); a hybrid adds its retrieval call."""
    from simulator.catalog import resolve_model
    from simulator.errors import InputError
    from simulator.comparisons.queries import MIN_MAP_PART_TOKENS
    most = 1
    for deployment in spec.deployments:
        calls = 1
        if getattr(deployment, "on_overflow", "refuse") == "map_reduce":
            try:
                context = resolve_model(deployment.llm.model).max_context_tokens
            except InputError:        # a model file the bound cannot read: the smallest parts
                context = 0
            budget = context - deployment.system_prompt_tokens - question_tail - deployment.map_output_tokens
            calls = -(-document_tail // max(budget, MIN_MAP_PART_TOKENS)) + 1
        most = max(most, calls + (deployment.kind == "hybrid"))
    return most


def _probe_requests(spec, units: int, requests_per_unit: int) -> int:
    """Requests of every capacity probe; a unit is a query, a session or a serving request."""
    from simulator.comparisons.compare import MAX_PROBES, PROBE_CAP
    per_probe = max(units, PROBE_CAP)
    return len(spec.deployments) * MAX_PROBES * per_probe * requests_per_unit


def bound_of(spec: ScenarioSpec | ComparisonSpec, capacity_search: bool = False) -> WorkBound:
    """Upper bounds of the work `spec` makes (see the module docstring)."""
    unbounded: list[str] = []
    turns = documents = corpus_tokens = 0
    per_unit = per_query = 1
    if isinstance(spec, ScenarioSpec):
        w = spec.workload
        requests = units = _arrivals(w.arrival, w.num_requests, w.horizon_s, "workload.arrival", unbounded)
        for name in ("prompt_tokens", "output_tokens"):
            dist = getattr(w, name)
            if dist is not None:
                _tail(dist, f"workload.{name}", unbounded)
        horizon = w.horizon_s
    else:
        horizon = None
        if spec.corpus is not None:
            documents = spec.corpus.num_documents
            document_tail = _tail(spec.corpus.document_tokens, "corpus.document_tokens", unbounded)
            corpus_tokens = documents * document_tail
        if spec.queries is not None:
            q = spec.queries
            if spec.corpus is not None:
                per_query = calls_per_query(spec, document_tail, _tail(q.question_tokens, "", []))
            per_unit = per_query
            units = _arrivals(q.arrival, q.num_requests, q.horizon_s, "queries.arrival", unbounded)
            requests = per_query * units
            for name in ("question_tokens", "output_tokens"):
                _tail(getattr(q, name), f"queries.{name}", unbounded)
            horizon = q.horizon_s
        else:
            c = spec.conversations
            sessions = units = _arrivals(c.arrival, c.num_sessions, None, "conversations.arrival", unbounded)
            per_unit = _tail(c.turns, "conversations.turns", unbounded)
            turns = sessions * per_unit
            for name in ("user_tokens", "output_tokens"):
                _tail(getattr(c, name), f"conversations.{name}", unbounded)
            requests = turns
    seconds = spec.max_sim_time_s if spec.max_sim_time_s is not None else horizon
    probes = _probe_requests(spec, units, per_unit) if capacity_search else 0
    return WorkBound(requests_per_run=int(requests), runs=len(spec.deployments), turns=int(turns),
                     documents=int(documents), corpus_tokens=int(corpus_tokens), simulated_seconds=seconds,
                     unbounded_fields=tuple(dict.fromkeys(unbounded)), probe_requests=int(probes))


def merge_bounds(bounds: Sequence[WorkBound]) -> WorkBound:
    """Several jobs' bounds as one: the largest per-run figures, runs summed, unbounded fields joined."""
    if not bounds:
        return WorkBound(0, 0, 0, 0, 0, None, ())
    seconds = [b.simulated_seconds for b in bounds]
    return WorkBound(requests_per_run=max(b.requests_per_run for b in bounds), runs=sum(b.runs for b in bounds),
                     turns=max(b.turns for b in bounds), documents=max(b.documents for b in bounds),
                     corpus_tokens=max(b.corpus_tokens for b in bounds),
                     simulated_seconds=None if None in seconds else max(seconds),
                     unbounded_fields=tuple(dict.fromkeys(f for b in bounds for f in b.unbounded_fields)),
                     probe_requests=sum(b.probe_requests for b in bounds))


def bound_of_sweep(doc: dict, params: list[tuple[str, Sequence]]) -> WorkBound:
    """The bound of every point of a sweep (each validated; the point count is checked first)."""
    from simulator.planning.sweep import iter_points
    return merge_bounds([bound_of(spec) for _, _, spec in iter_points(doc, params)])
