"""Calls that wait for other calls: map calls before their reduce, a chat turn after the previous turn.

The graph is built with the workload (simulator/comparisons/queries.py) and handed to the
cluster, whose dependency release is its only user during a run: a child is released when its
last parent has finished (after the child's delay, e.g. a user's think time), or rejected when a
parent was. Requests carry none of this; the graph holds it by request id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.engine.request import Request


@dataclass(slots=True)
class CallGraph:
    children: dict[int, list[Request]] = field(default_factory=dict)   # parent id -> calls waiting on it, in order
    num_parents: dict[int, int] = field(default_factory=dict)          # child id -> parents it waits for
    delay_s: dict[int, float] = field(default_factory=dict)            # child id -> wait after its last parent
    latency_from_release: set[int] = field(default_factory=set)        # child ids timed from release (a new turn)

    def add(self, parent: Request, children: list[Request]) -> None:
        """`children` wait for `parent` (as well as any other parents they already have)."""
        self.children.setdefault(parent.request_id, []).extend(children)
        for child in children:
            self.num_parents[child.request_id] = self.num_parents.get(child.request_id, 0) + 1

    def set_release(self, child: Request, delay_s: float = 0.0, latency_from_release: bool = False) -> None:
        if delay_s:
            self.delay_s[child.request_id] = delay_s
        if latency_from_release:
            self.latency_from_release.add(child.request_id)

    def __bool__(self) -> bool:
        return bool(self.children)
