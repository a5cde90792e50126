"""Replicas behind a router, fed by one arrival process, in one SimPy environment.

    arrivals --> router --(round robin | least outstanding tokens)--> replica 0 engine loop
                                                                  +-> replica 1 engine loop ...

`simulate` returns the requests (with their timestamps filled in), per-replica engine statistics
and the time-average number of requests in the system (for Little's law checks).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

import simpy

from simulator.costs.costmodel import IterationCostParams
from simulator.engine.fast.clock import ClockedScheduler
from simulator.engine.replica import EngineStats, ReplicaEngine, global_only_layers
from simulator.engine.kv.manager import KVCacheManager
from simulator.engine.request import Request, Status
from simulator.engine.scheduler import Scheduler, SchedulerConfig
from simulator.engine.fast.skip import SkipEngine


class RouterPolicy(str, Enum):
    ROUND_ROBIN = "round_robin"
    LEAST_OUTSTANDING_TOKENS = "least_outstanding_tokens"


@dataclass(frozen=True, slots=True)
class ReplicaSetup:
    """What every replica of a deployment is built from."""
    scheduler: SchedulerConfig
    num_kv_blocks: int
    blocks_for_tokens: Callable[[int], int]
    cost: IterationCostParams
    full_blocks_for_tokens: Callable[[int], int] | None = None


@dataclass(frozen=True, slots=True)
class PrefillPool:
    """Disaggregated serving: prompts are prefilled here, their KV sent to the decode replicas."""
    setup: ReplicaSetup
    num_replicas: int
    kv_bytes_per_token: float            # whole sequence, all layers (sent once per request)
    transfer_bytes_per_s: float          # aggregate link between one prefill and one decode replica

    def transfer_s(self, num_tokens: int) -> float:
        return num_tokens * self.kv_bytes_per_token / self.transfer_bytes_per_s


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


class Router:
    def __init__(self, policy: RouterPolicy, num_replicas: int) -> None:
        self.policy = RouterPolicy(policy)
        self.num_replicas = num_replicas
        self.outstanding_tokens = [0] * num_replicas
        self._next = 0

    def choose(self, request: Request) -> int:
        if self.policy is RouterPolicy.ROUND_ROBIN:
            index = self._next
            self._next = (self._next + 1) % self.num_replicas
        else:
            loads = self.outstanding_tokens
            index = loads.index(min(loads))
        self.outstanding_tokens[index] += request.total_tokens
        return index

    def arrivals_before_mine(self, replica: int, upcoming_tokens: list[int]) -> int:
        """How many upcoming arrivals certainly go to other replicas while `replica` holds its load.

        Round robin: exact. Least outstanding tokens: the replica's own load is fixed and the others'
        only fall (completions), so arrivals the current loads send elsewhere go elsewhere whatever
        happens; counting stops at the first one the loads could send here.
        """
        if self.policy is RouterPolicy.ROUND_ROBIN:
            return (replica - self._next) % self.num_replicas
        loads = list(self.outstanding_tokens)
        for count, tokens in enumerate(upcoming_tokens):
            chosen = loads.index(min(loads))
            if chosen == replica:
                return count
            loads[chosen] += tokens
        return len(upcoming_tokens)

    def done(self, request: Request) -> None:
        self.outstanding_tokens[request.replica] -= request.total_tokens


def simulate(requests: list[Request], setup: ReplicaSetup, num_replicas: int, router_policy: RouterPolicy,
             max_sim_time_s: float | None = None,
             progress: Callable[[int, int], None] | None = None, exact: bool = False,
             prefill: PrefillPool | None = None, trace: bool = False) -> SimulationOutput:
    """Serve `requests`; `exact=True` steps every iteration (the reference for skip-ahead).

    Skip-ahead is used only when no request depends on another (a dependent call can arrive at any
    time, which a closed-form stretch cannot foresee) and serving is not disaggregated (handoffs
    reach the decode pool at times only the prefill pool knows).

    With a `prefill` pool, a request is prefilled there (emitting its first token), its KV crosses
    the link, and it joins a decode replica with that KV in place; its first token counts when the
    KV has arrived, so TTFT includes the transfer."""
    env = simpy.Environment()
    router = Router(router_policy, num_replicas)
    state = {"in_system": 0, "area": 0.0, "last": 0.0, "done": 0}
    total = len(requests)

    def account(delta: int) -> None:
        now = env.now
        state["area"] += state["in_system"] * (now - state["last"])
        state["last"] = now
        state["in_system"] += delta

    def on_done(request: Request, routed: bool = True) -> None:
        account(-1)
        if routed:
            router.done(request)
        state["done"] += 1
        if progress is not None:
            progress(state["done"], total)
        for child in request.dependents or ():
            child.num_pending_parents -= 1
            if request.status is Status.REJECTED and child.status is Status.WAITING:
                child.status = Status.REJECTED
                child.reject_reason = f"parent_rejected: {request.reject_reason}"
            if child.num_pending_parents == 0:
                if child.status is Status.REJECTED:
                    child.replica = request.replica
                    account(+1)
                    on_done(child, routed=False)
                else:
                    env.process(release(child, child.delay_after_parents_s))

    def release(request: Request, delay_s: float):
        if delay_s > 0:
            yield env.timeout(delay_s)
        request.ready_time_s = env.now
        if request.arrival_on_release:
            request.arrival_time_s = env.now
        account(+1)
        engines[router.choose(request)].submit(request)

    def handoff(request: Request, delay_s: float):
        yield env.timeout(delay_s)
        request.status = Status.WAITING
        request.max_output_tokens, request.handoff_max_output = request.handoff_max_output, 0
        request.preloaded_tokens = request.num_computed_tokens
        request.num_computed_tokens = 0
        request.first_token_s = request.last_token_s = env.now
        engines[router.choose(request)].submit(request)

    def on_prefilled(request: Request) -> None:
        prefill_router.done(request)
        if request.status is Status.FINISHED and request.handoff_max_output > 1:
            env.process(handoff(request, prefill.transfer_s(request.num_computed_tokens)))
        else:
            if request.handoff_max_output:       # rejected by the prefill pool
                request.max_output_tokens, request.handoff_max_output = request.handoff_max_output, 0
            on_done(request, routed=False)

    prefill_engines: list[ReplicaEngine] = []
    if prefill is not None:
        prefill_router = Router(router_policy, prefill.num_replicas)
        for index in range(prefill.num_replicas):
            kv = KVCacheManager(prefill.setup.num_kv_blocks, prefill.setup.scheduler.block_size,
                                prefill.setup.scheduler.enable_prefix_caching, prefill.setup.blocks_for_tokens,
                                prefill.setup.full_blocks_for_tokens)
            prefill_engines.append(ReplicaEngine(env, index, Scheduler(prefill.setup.scheduler, kv),
                                                 prefill.setup.cost, on_prefilled))

    def dispatch(request: Request) -> None:
        if prefill is None:
            engines[router.choose(request)].submit(request)
            return
        request.handoff_max_output = request.max_output_tokens
        request.max_output_tokens = 1
        prefill_engines[prefill_router.choose(request)].submit(request)

    enable_caching = setup.scheduler.enable_prefix_caching
    roots = [r for r in requests if r.num_pending_parents == 0]
    roots.sort(key=lambda r: (r.ready_time_s if r.ready_time_s >= 0 else r.arrival_time_s, r.request_id))
    clock = {"next": 0}      # index of the next root arrival

    def next_arrival_s(replica: int) -> float:
        """When the next request can reach `replica` (bounds its skip-ahead)."""
        index = clock["next"]
        if num_replicas > 1:
            upcoming = [r.total_tokens for r in roots[index:index + 4 * num_replicas]]
            index += router.arrivals_before_mine(replica, upcoming)
        if index >= len(roots):
            return math.inf
        request = roots[index]
        return request.ready_time_s if request.ready_time_s >= 0 else request.arrival_time_s

    skipping = not exact and prefill is None and not any(r.dependents for r in requests)
    stop_s = max_sim_time_s if max_sim_time_s is not None else math.inf
    skipping = skipping and setup.full_blocks_for_tokens is None and global_only_layers(setup.cost) > 0 \
        and setup.scheduler.max_num_batched_tokens >= setup.scheduler.max_num_seqs
    engines: list[ReplicaEngine] = []
    for index in range(num_replicas):
        kv = KVCacheManager(setup.num_kv_blocks, setup.scheduler.block_size, enable_caching,
                            setup.blocks_for_tokens, setup.full_blocks_for_tokens)
        if skipping:
            engines.append(SkipEngine(env, index, ClockedScheduler(setup.scheduler, kv), setup.cost, on_done,
                                      next_arrival_s, stop_s))
        else:
            engines.append(ReplicaEngine(env, index, Scheduler(setup.scheduler, kv), setup.cost, on_done))

    def arrivals():
        for request in roots:
            ready = request.ready_time_s if request.ready_time_s >= 0 else request.arrival_time_s
            wait = ready - env.now
            if wait > 0:
                yield env.timeout(wait)
            clock["next"] += 1
            request.ready_time_s = env.now
            account(+1)
            dispatch(request)

    if trace:
        for engine in engines:
            engine.timeline = []
    env.process(arrivals())
    for engine in engines + prefill_engines:
        env.process(engine.run())
    env.run(until=max_sim_time_s)
    for engine in engines:
        engine.finalize()
    if state["in_system"] > 0:            # hard stop with work left: the run lasted until the stop
        account(0)
    schedulers = [e.scheduler for e in engines + prefill_engines]
    return SimulationOutput(
        requests=requests,
        engine_stats=[e.stats for e in engines + prefill_engines],
        end_time_s=state["last"],
        requests_in_system_time_integral=state["area"],
        num_preemptions=sum(s.num_preemptions for s in schedulers),
        num_prefix_query_tokens=sum(s.num_prefix_query_tokens for s in schedulers),
        num_prefix_hit_tokens=sum(s.num_prefix_hit_tokens for s in schedulers),
        prefix_caching_enabled=enable_caching,
        timeline=[e.timeline for e in engines] if trace else None,
    )
