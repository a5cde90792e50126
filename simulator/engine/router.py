"""Routers: which replica a request goes to (round robin, or the least outstanding tokens)."""

from __future__ import annotations

from enum import Enum

from simulator.engine.request import Request


class RouterPolicy(str, Enum):
    ROUND_ROBIN = "round_robin"
    LEAST_OUTSTANDING_TOKENS = "least_outstanding_tokens"


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
