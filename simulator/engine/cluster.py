"""Replicas behind a router, fed by one arrival process, in one SimPy environment.

    arrivals --> router --(round robin | least outstanding tokens)--> replica 0 engine loop
                   ^                                              +-> replica 1 engine loop ...
                   +-- dependency release (a call whose parents finished, after any think time)
    disaggregated: arrivals --> prefill router --> prefill replicas --(KV over the link)--> router

`Cluster` holds the named processes and their state; `simulate` builds one, runs it and returns
the requests (with their timestamps filled in), per-replica engine statistics and the
time-average number of requests in the system (for Little's law checks).
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import simpy

from simulator.engine.dependencies import CallGraph
from simulator.engine.fast.skip import SkipStepper, why_not_skip_ahead
from simulator.engine.replica import EngineStats, ExactStepper, ReplicaEngine
from simulator.engine.request import Request, Status
from simulator.engine.router import Router, RouterPolicy
from simulator.engine.setup import PrefillPool, ReplicaSetup, build_scheduler

__all__ = ["CallGraph", "Cluster", "PrefillPool", "ReplicaSetup", "RouterPolicy", "SimulationOutput", "simulate"]


@dataclass(slots=True)
class SimulationOutput:
    requests: list[Request]
    engine_stats: list[EngineStats]
    end_time_s: float
    requests_in_system_time_integral: float
    num_preemptions: int
    num_prefix_query_tokens: int
    num_prefix_hit_tokens: int
    prefix_caching_enabled: bool
    timeline: list[list[tuple[float, float, int, int]]] | None = None   # per replica, when traced
    step_by_step_reason: str | None = None      # why skip-ahead was not used, None when it was


def ready_s(request: Request) -> float:
    """When a root request reaches the router: after its retrieval stages, or at arrival."""
    return request.ready_time_s if request.ready_time_s >= 0 else request.arrival_time_s


class Cluster:
    def __init__(self, requests: list[Request], setup: ReplicaSetup, num_replicas: int, router_policy: RouterPolicy,
                 max_sim_time_s: float | None = None, progress: Callable[[int, int], None] | None = None,
                 exact: bool = False, prefill: PrefillPool | None = None, calls: CallGraph | None = None) -> None:
        self.env = simpy.Environment()
        self.calls = calls if calls is not None else CallGraph()
        self.waiting_parents = dict(self.calls.num_parents)     # child id -> parents not finished yet
        self.requests = requests
        self.progress = progress
        self.prefill = prefill
        self.setup = setup
        self.router = Router(router_policy, num_replicas)
        self.num_replicas = num_replicas
        roots = [r for r in requests if not self.waiting_parents.get(r.request_id)]
        if setup.request_overhead_s or setup.tokenize_s_per_token:     # the server's part before the scheduler
            for r in roots:
                r.ready_time_s = ready_s(r) + setup.serving_overhead_s(r)
        self.roots = sorted(roots, key=lambda r: (ready_s(r), r.request_id))
        self.next_root = 0                 # index of the next root arrival
        self.in_system = 0
        self.in_system_area = 0.0
        self.last_change_s = 0.0
        self.num_done = 0
        self.handoff_output_tokens: dict[int, int] = {}    # disaggregated: request id -> its real output length
        self.step_by_step_reason = why_not_skip_ahead(setup, exact=exact, disaggregated=prefill is not None,
                                                      dependent_calls=bool(self.calls))
        stop_s = max_sim_time_s if max_sim_time_s is not None else math.inf
        self.engines = [ReplicaEngine(self.env, index, self._stepper(setup, index, stop_s), setup.cost, self._on_done)
                        for index in range(num_replicas)]
        self.prefill_engines: list[ReplicaEngine] = []
        if prefill is not None:
            self.prefill_router = Router(router_policy, prefill.num_replicas)
            self.prefill_engines = [ReplicaEngine(self.env, index, ExactStepper(build_scheduler(prefill.setup)),
                                                  prefill.setup.cost, self._on_prefilled)
                                    for index in range(prefill.num_replicas)]

    def _stepper(self, setup: ReplicaSetup, index: int, stop_s: float):
        scheduler = build_scheduler(setup)
        if self.step_by_step_reason is not None:
            return ExactStepper(scheduler)
        return SkipStepper(scheduler, setup.cost, index, self.next_arrival_s, stop_s)

    # ----- accounting -------------------------------------------------------------------------

    def _account(self, delta: int) -> None:
        now = self.env.now
        self.in_system_area += self.in_system * (now - self.last_change_s)
        self.last_change_s = now
        self.in_system += delta

    def next_arrival_s(self, replica: int) -> float:
        """When the next request can reach `replica` (bounds its skip-ahead)."""
        index = self.next_root
        if self.num_replicas > 1:
            upcoming = [r.total_tokens for r in self.roots[index:index + 4 * self.num_replicas]]
            index += self.router.arrivals_before_mine(replica, upcoming)
        if index >= len(self.roots):
            return math.inf
        request = self.roots[index]          # ready_s(request), inline: asked before every skipped stretch
        return request.ready_time_s if request.ready_time_s >= 0 else request.arrival_time_s

    # ----- processes ---------------------------------------------------------------------------

    def arrivals(self):
        env = self.env
        for request in self.roots:
            wait = ready_s(request) - env.now
            if wait > 0:
                yield env.timeout(wait)
            self.next_root += 1
            request.ready_time_s = env.now
            self._account(+1)
            self._dispatch(request)

    def _dispatch(self, request: Request) -> None:
        if self.prefill is None:
            self.engines[self.router.choose(request)].submit(request)
            return
        self.handoff_output_tokens[request.request_id] = request.max_output_tokens
        request.max_output_tokens = 1            # the prefill pool stops after the first token
        self.prefill_engines[self.prefill_router.choose(request)].submit(request)

    def _on_done(self, request: Request, routed: bool = True) -> None:
        self._account(-1)
        if routed:
            self.router.done(request)
        self.num_done += 1
        if self.progress is not None:
            self.progress(self.num_done, len(self.requests))
        for child in self.calls.children.get(request.request_id, ()):
            self._parent_done(request, child)

    def _parent_done(self, parent: Request, child: Request) -> None:
        """Dependency release: a child runs when its last parent finished, rejected when one was."""
        rid = child.request_id
        self.waiting_parents[rid] -= 1
        if parent.status is Status.REJECTED and child.status is Status.WAITING:
            child.status = Status.REJECTED
            child.reject_reason = f"parent_rejected: {parent.reject_reason}"
        if self.waiting_parents[rid] == 0:
            if child.status is Status.REJECTED:
                child.replica = parent.replica
                self._account(+1)
                self._on_done(child, routed=False)
            else:
                delay = self.calls.delay_s.get(rid, 0.0)
                self.env.process(self.release(child, delay, delay + self.setup.serving_overhead_s(child)))

    def release(self, request: Request, delay_s: float, ready_after_s: float):
        """A released call is sent after `delay_s` (think time) and reaches the scheduler after `ready_after_s`
        (the serving overhead on top); one timed from its release counts its latency from the sending."""
        env = self.env
        if delay_s > 0:
            yield env.timeout(delay_s)
        if request.request_id in self.calls.latency_from_release:
            request.arrival_time_s = env.now
        if ready_after_s > delay_s:
            yield env.timeout(ready_after_s - delay_s)
        request.ready_time_s = env.now
        self._account(+1)
        self.engines[self.router.choose(request)].submit(request)

    def _on_prefilled(self, request: Request) -> None:
        self.prefill_router.done(request)
        output_tokens = self.handoff_output_tokens.pop(request.request_id)
        if request.status is Status.FINISHED and output_tokens > 1:
            self.env.process(self.handoff(request, output_tokens, self.prefill.transfer_s(request.num_computed_tokens)))
        else:
            request.max_output_tokens = output_tokens
            self._on_done(request, routed=False)

    def handoff(self, request: Request, output_tokens: int, delay_s: float):
        """The prefilled request's KV crosses the link; it joins a decode replica with that KV in place."""
        env = self.env
        yield env.timeout(delay_s)
        request.status = Status.WAITING
        request.max_output_tokens = output_tokens
        preloaded, request.num_computed_tokens = request.num_computed_tokens, 0
        request.first_token_s = request.last_token_s = env.now
        self.engines[self.router.choose(request)].submit(request, preloaded_tokens=preloaded)

    # ----- running --------------------------------------------------------------------------------

    def run(self, max_sim_time_s: float | None, trace: bool) -> SimulationOutput:
        if trace:
            for engine in self.engines:
                engine.timeline = []
        self.env.process(self.arrivals())
        for engine in self.engines + self.prefill_engines:
            self.env.process(engine.run())
        with long_lived_frozen():
            self.env.run(until=max_sim_time_s)
        for engine in self.engines:
            engine.finalize()
        if self.in_system > 0:            # hard stop with work left: the run lasted until the stop
            self._account(0)
        engines = self.engines + self.prefill_engines
        schedulers = [e.scheduler for e in engines]
        return SimulationOutput(
            requests=self.requests,
            engine_stats=[e.stats for e in engines],
            end_time_s=self.last_change_s,
            requests_in_system_time_integral=self.in_system_area,
            num_preemptions=sum(s.num_preemptions for s in schedulers),
            num_prefix_query_tokens=sum(s.num_prefix_query_tokens for s in schedulers),
            num_prefix_hit_tokens=sum(s.num_prefix_hit_tokens for s in schedulers),
            prefix_caching_enabled=self.setup.scheduler.enable_prefix_caching,
            timeline=[e.timeline for e in self.engines] if trace else None,
            step_by_step_reason=self.step_by_step_reason,
        )


@contextmanager
def long_lived_frozen() -> Iterator[None]:
    """Keep the objects alive before the event loop (requests, specs, modules) out of the cyclic
    collector's passes while it runs: they outlive the run, and with 10^4-10^6 requests alive the
    full collections that the loop's many short-lived objects trigger would traverse them all
    (`gc.freeze`, Python docs, "gc - Garbage Collector interface"). Objects made during the run are
    collected as usual. A freeze that was already in place (a server's, before forking) is kept."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def simulate(requests: list[Request], setup: ReplicaSetup, num_replicas: int, router_policy: RouterPolicy,
             max_sim_time_s: float | None = None,
             progress: Callable[[int, int], None] | None = None, exact: bool = False,
             prefill: PrefillPool | None = None, trace: bool = False,
             calls: CallGraph | None = None) -> SimulationOutput:
    """Serve `requests`; `exact=True` steps every iteration (the reference for skip-ahead).

    `calls` says which requests wait for others (they arrive when released, not at their arrival time).

    Skip-ahead is used where `why_not_skip_ahead` allows it (the output says why not otherwise).
    With a `prefill` pool, a request is prefilled there (emitting its first token), its KV crosses
    the link, and it joins a decode replica with that KV in place; its first token counts when the
    KV has arrived, so TTFT includes the transfer."""
    cluster = Cluster(requests, setup, num_replicas, router_policy, max_sim_time_s, progress, exact, prefill, calls)
    return cluster.run(max_sim_time_s, trace)
