"""Scheduling policy: the decisions an engine's scheduler makes, apart from the mechanism that applies them.

The scheduler (`simulator.engine.scheduler`) runs one step: it offers running requests tokens
under the budget in the order the policy gives, asks the KV-cache manager for blocks, and, when a
request cannot grow, preempts the victim the policy picks; then it admits waiting requests when
the policy allows. Both steppers (step by step, and skip-ahead in `simulator.engine.fast`) use the
same policy object, so an engine's behaviour is one class.

`VllmV1Policy` follows vLLM v1's scheduler (vllm-project/vllm, `vllm/v1/core/sched/scheduler.py`,
v0.8.x, FCFS policy): running requests are scheduled before waiting ones; a request that cannot
get blocks preempts the most recently admitted running request (`self.running.pop()`), which
goes back to the head of the waiting queue (`self.waiting.appendleft(...)`); no waiting request
is admitted in a step that preempted (`if not preempted_reqs:`). Within the running set this
simulator offers tokens to decodes before prefill chunks (FCFS within each), which vLLM's
single pass over `self.running` does only when decodes come first in it.
"""

from __future__ import annotations

from collections import deque

from simulator.engine.request import Request


class VllmV1Policy:
    name = "vllm_v1"
    admits_after_preemption = False      # a step that preempted admits nobody

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
        """A preempted request waits at the head of the queue."""
        waiting.appendleft(request)


DEFAULT_POLICY = VllmV1Policy()
