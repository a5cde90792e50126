"""The scheduling policy is an object both steppers use: a different policy changes the schedule the
same way step by step and with skip-ahead, and the default is vLLM v1's."""

from dataclasses import replace

import numpy as np

from conftest import simple_setup
from simulator.engine.cluster import RouterPolicy, simulate
from simulator.engine.policy import DEFAULT_POLICY, VllmV1Policy
from simulator.engine.request import Request, Status


class PreemptOldest(VllmV1Policy):
    """A policy that differs in one decision: the oldest running request is preempted."""
    name = "preempt_oldest"

    @staticmethod
    def pick_victim(running):
        return running.pop(0)


def requests(seed: int = 3, count: int = 40) -> list[Request]:
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(0.05, count))
    return [Request(i, float(arrivals[i]), int(rng.integers(10, 40)), int(rng.integers(20, 60))) for i in range(count)]


def serve(policy, exact: bool):
    setup = replace(simple_setup(num_blocks=40, max_num_batched_tokens=16, max_num_seqs=8), policy=policy)
    out = simulate(requests(), setup, 1, RouterPolicy.ROUND_ROBIN, exact=exact)
    times = [(r.request_id, r.first_token_s, r.finish_s, r.num_preemptions) for r in out.requests]
    return out, times


def test_a_policy_is_used_by_both_steppers_alike():
    for policy in (DEFAULT_POLICY, PreemptOldest()):
        exact, exact_times = serve(policy, exact=True)
        fast, fast_times = serve(policy, exact=False)
        assert exact.step_by_step_reason is not None and fast.step_by_step_reason is None
        assert all(r.status is Status.FINISHED for r in fast.requests)
        assert np.allclose(np.array(fast_times), np.array(exact_times), rtol=1e-9)
        assert fast.num_preemptions == exact.num_preemptions > 0
        assert fast.engine_stats[0].num_engine_steps < exact.engine_stats[0].num_engine_steps


def test_the_victim_choice_changes_who_is_preempted():
    _, default = serve(DEFAULT_POLICY, exact=True)
    _, oldest = serve(PreemptOldest(), exact=True)
    assert [t[3] for t in default] != [t[3] for t in oldest]


def test_default_policy_is_vllm_v1():
    running = [Request(i, 0.0, 8, 4, num_computed_tokens=7 if i % 2 else 3) for i in range(4)]
    for r in running:
        r.num_output_tokens = 0
    order = DEFAULT_POLICY.running_order(running)
    assert [r.request_id for r in order] == [1, 3, 0, 2]        # decodes (one token behind) first, FCFS within
    assert DEFAULT_POLICY.pick_victim(running).request_id == 3 and len(running) == 3     # the latest admitted
    assert DEFAULT_POLICY.name == "vllm_v1" and not DEFAULT_POLICY.admits_after_preemption
