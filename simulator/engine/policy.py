"""Scheduling policy: the decisions an engine's scheduler makes, apart from the mechanism that applies them.

The scheduler (`simulator.engine.scheduler`) runs one step: it offers running requests tokens
under the budget in the order the policy gives, asks the KV-cache manager for blocks, and, when a
request cannot grow, preempts the victim the policy picks; then it admits waiting requests when
the policy allows, and, for a policy that `reserves_lifetime`, only while the blocks every admitted
request may still need fit the pool. Both steppers (step by step, and skip-ahead in
`simulator.engine.fast`) use the same policy object, so an engine's behaviour is one class.

`VllmV1Policy` follows vLLM v1's scheduler (vllm-project/vllm, `vllm/v1/core/sched/scheduler.py`,
v0.8.x, FCFS policy): running requests are scheduled before waiting ones; a request that cannot
get blocks preempts the most recently admitted running request (`self.running.pop()`), which
goes back to the head of the waiting queue (`self.waiting.appendleft(...)`); no waiting request
is admitted in a step that preempted (`if not preempted_reqs:`). Within the running set this
simulator offers tokens to decodes before prefill chunks (FCFS within each), which vLLM's
single pass over `self.running` does only when decodes come first in it.

`TrtllmPolicy` follows TensorRT-LLM's batch manager (NVIDIA/TensorRT-LLM,
`cpp/tensorrt_llm/batch_manager/capacityScheduler.cpp` and `microBatchScheduler.cpp`, main of
2025-2026, the schedulers behind both the C++ runtime and the PyTorch backend's
`tensorrt_llm/_torch/pyexecutor/scheduler.py`):
- GUARANTEED_NO_EVICT (the default `capacity_scheduler_policy`): a request in generation is always
  kept and charged the blocks it still needs to completion (`getRemainingBlocksToCompletion`:
  blocks for prompt + max new tokens, minus those it holds, no credit for prefix hits); waiting
  requests are admitted in order while their whole lifetime's blocks fit what is left, and the
  first that does not fit stops admission. Nothing is ever evicted. Summed over the running set,
  "free minus what the running requests still need" is the pool minus their lifetimes, which is
  how the scheduler keeps it (one counter).
- MAX_UTILIZATION: blocks for the next step only; when a request cannot grow, the last started
  request is paused (its KV freed, recomputed later from its place in arrival order) and the step
  schedules nobody after it: vLLM v1's decisions, in TensorRT-LLM's names.
Generation tokens are counted before context chunks in both (`MicroBatchScheduler`), as here.
"""

from __future__ import annotations

from collections import deque

from simulator.engine.request import Request


class FcfsPolicy:
    """Running first (decodes, then prefill chunks), waiting FCFS, the latest admitted preempted first."""

    name = "fcfs"
    admits_after_preemption = False      # a step that preempted admits nobody
    reserves_lifetime = False            # admission charges a request's whole lifetime of blocks

    @staticmethod
    def running_order(running: list[Request]) -> list[Request]:
        """Who is offered tokens first: decodes (one token behind), then prefill chunks; stable."""
        decodes = [r for r in running if r.num_tokens - r.num_computed_tokens == 1]
        if len(decodes) == len(running):
            return decodes
        return decodes + [r for r in running if r.num_tokens - r.num_computed_tokens != 1]

    @staticmethod
    def pick_victim(running: list[Request]) -> Request:
        """The most recently admitted running request, removed from `running`."""
        return running.pop()

    @staticmethod
    def requeue(waiting: deque[Request], request: Request) -> None:
        """A preempted request waits at the head of the queue (it arrived before everyone waiting)."""
        waiting.appendleft(request)


class VllmV1Policy(FcfsPolicy):
    name = "vllm_v1"


class TrtllmPolicy(FcfsPolicy):
    """TensorRT-LLM's capacity scheduler (see the module docstring)."""

    def __init__(self, capacity_scheduler_policy: str = "GUARANTEED_NO_EVICT") -> None:
        if capacity_scheduler_policy not in ("GUARANTEED_NO_EVICT", "MAX_UTILIZATION"):
            raise ValueError(f"unknown capacity_scheduler_policy {capacity_scheduler_policy!r}")
        self.capacity_scheduler_policy = capacity_scheduler_policy
        self.reserves_lifetime = capacity_scheduler_policy == "GUARANTEED_NO_EVICT"
        self.name = f"trtllm_{capacity_scheduler_policy.lower()}"


DEFAULT_POLICY = VllmV1Policy()


def policy_for(engine: str, capacity_scheduler_policy: str | None = None) -> FcfsPolicy:
    """The policy object of an engine name as scenarios spell it (`engine.policy`)."""
    if engine == "vllm":
        return DEFAULT_POLICY
    if engine == "trtllm":
        return TrtllmPolicy(capacity_scheduler_policy or "GUARANTEED_NO_EVICT")
    raise ValueError(f"unknown engine policy {engine!r}")
