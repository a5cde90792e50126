"""Work bounds: how much a scenario can make the simulator build, counted before anything is built.

Every count is an upper bound read off the validated spec, with each length distribution taken
at its upper tail:

    constant -> value      uniform -> high      any dist with `max` -> min(max, that)
    normal / lognormal without `max` -> MAX_TOKENS (the clip `sample_lengths` applies), and the
    field is listed in `unbounded_fields` (so is an empirical CSV or a trace without a cap: their
    tail is only known once the file is read)

    requests_per_run  num_requests, or arrivals within horizon_s sized as `workload.arrival_times`
                      draws them (rate*T + 10*sqrt(rate*T) + 10, x (1 + cv) for gamma), the smaller
                      when both are set; conversations: sessions x turns (every turn is a request)
    runs              deployments (each simulates the whole workload once)
    turns             total conversation turns (sessions x turns' upper tail), 0 without conversations
    documents         corpus documents; corpus_tokens = documents x document_tokens' upper tail
    simulated_seconds max_sim_time_s when set, else horizon_s, else None (until the queue drains)

Not counted: the extra runs of `compare`'s capacity search and map-reduce calls per query.
`bound_of_sweep` takes every point of a sweep (validated, at most MAX_POINTS) and reports the
largest per-run figures and the summed runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from simulator.comparison_spec import ComparisonSpec
from simulator.scenario import MAX_REQUESTS, MAX_TOKENS, ConstantLength, ScenarioSpec, TraceArrivals, UniformLength


@dataclass(frozen=True, slots=True)
class WorkBound:
    requests_per_run: int
    runs: int
    turns: int
    documents: int
    corpus_tokens: int
    simulated_seconds: float | None
    unbounded_fields: tuple[str, ...]

    @property
    def total_requests(self) -> int:
        return self.requests_per_run * self.runs


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
    from simulator.workload import arrivals_to_draw
    by_time = arrivals_to_draw(arrival, horizon_s) if horizon_s is not None else None
    counts = [c for c in (num, by_time) if c is not None]
    return min(counts) if counts else 0


def bound_of(spec: ScenarioSpec | ComparisonSpec) -> WorkBound:
    """Upper bounds of the work `spec` makes (see the module docstring)."""
    unbounded: list[str] = []
    turns = documents = corpus_tokens = 0
    if isinstance(spec, ScenarioSpec):
        w = spec.workload
        requests = _arrivals(w.arrival, w.num_requests, w.horizon_s, "workload.arrival", unbounded)
        for name in ("prompt_tokens", "output_tokens"):
            dist = getattr(w, name)
            if dist is not None:
                _tail(dist, f"workload.{name}", unbounded)
        horizon = w.horizon_s
    else:
        horizon = None
        if spec.corpus is not None:
            documents = spec.corpus.num_documents
            corpus_tokens = documents * _tail(spec.corpus.document_tokens, "corpus.document_tokens", unbounded)
        if spec.queries is not None:
            q = spec.queries
            requests = _arrivals(q.arrival, q.num_requests, q.horizon_s, "queries.arrival", unbounded)
            for name in ("question_tokens", "output_tokens"):
                _tail(getattr(q, name), f"queries.{name}", unbounded)
            horizon = q.horizon_s
        else:
            c = spec.conversations
            sessions = _arrivals(c.arrival, c.num_sessions, None, "conversations.arrival", unbounded)
            turns = sessions * _tail(c.turns, "conversations.turns", unbounded)
            for name in ("user_tokens", "output_tokens"):
                _tail(getattr(c, name), f"conversations.{name}", unbounded)
            requests = turns
    seconds = spec.max_sim_time_s if spec.max_sim_time_s is not None else horizon
    return WorkBound(requests_per_run=int(requests), runs=len(spec.deployments), turns=int(turns),
                     documents=int(documents), corpus_tokens=int(corpus_tokens), simulated_seconds=seconds,
                     unbounded_fields=tuple(dict.fromkeys(unbounded)))


def merge_bounds(bounds: Sequence[WorkBound]) -> WorkBound:
    """Several jobs' bounds as one: the largest per-run figures, runs summed, unbounded fields joined."""
    if not bounds:
        return WorkBound(0, 0, 0, 0, 0, None, ())
    seconds = [b.simulated_seconds for b in bounds]
    return WorkBound(requests_per_run=max(b.requests_per_run for b in bounds), runs=sum(b.runs for b in bounds),
                     turns=max(b.turns for b in bounds), documents=max(b.documents for b in bounds),
                     corpus_tokens=max(b.corpus_tokens for b in bounds),
                     simulated_seconds=None if None in seconds else max(seconds),
                     unbounded_fields=tuple(dict.fromkeys(f for b in bounds for f in b.unbounded_fields)))


def bound_of_sweep(doc: dict, params: list[tuple[str, Sequence]]) -> WorkBound:
    """The bound of every point of a sweep (each validated; the point count is checked first)."""
    from simulator.sweep import iter_points
    return merge_bounds([bound_of(spec) for _, _, spec in iter_points(doc, params)])
