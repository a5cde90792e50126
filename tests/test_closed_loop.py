"""Closed-loop (`concurrency`) and `all_at_once` arrivals: the benchmark tools' ways of offering load."""

from __future__ import annotations

import pytest

from simulator.errors import InputError
from simulator.results.runner import run
from pathlib import Path

from simulator.specs.scenario import ScenarioSpec, validate_scenario


def _scenario(chat_scenario: dict, arrival: dict, num_requests: int = 480, **deployment) -> ScenarioSpec:
    chat_scenario["workload"].update(num_requests=num_requests, arrival=arrival)
    chat_scenario["deployments"][0].update(deployment)
    return ScenarioSpec.model_validate(chat_scenario)


@pytest.mark.parametrize("users,think_time_s,replicas", [(8, 0.0, 1), (24, 2.0, 1), (32, 0.5, 2)])
def test_littles_law_holds_in_the_steady_window(chat_scenario, users, think_time_s, replicas):
    """users = throughput x (mean latency + think time) inside the window, within 3%: every user is
    always either waiting for an answer or thinking, so this fails if a request is released early,
    late, twice, or timed from the wrong instant."""
    spec = _scenario(chat_scenario, {"process": "concurrency", "users": users, "think_time_s": think_time_s},
                     replicas=replicas)
    result = run(spec).deployments[0]
    loop = result.summary.closed_loop
    assert loop is not None and loop.users == users
    assert loop.num_measured > 0.6 * spec.workload.num_requests
    assert loop.users_by_littles_law == pytest.approx(users, rel=0.03)
    records = result.records
    assert (records["status"] == "completed").all()
    # a user's next request is sent think_time_s after its previous one finished, and timed from then
    by_id = records.set_index("request_id")
    for rid in range(users, len(records), 37):
        assert by_id.loc[rid, "arrival_time_s"] == pytest.approx(by_id.loc[rid - users, "finish_s"] + think_time_s)


def test_concurrency_caps_requests_in_flight(chat_scenario):
    """No more than `users` requests are ever in the system at once."""
    spec = _scenario(chat_scenario, {"process": "concurrency", "users": 5})
    records = run(spec).deployments[0].records
    events = sorted([(t, 1) for t in records["arrival_time_s"]] + [(t, -1) for t in records["finish_s"]],
                    key=lambda e: (e[0], e[1]))
    in_flight = peak = 0
    for _, delta in events:
        in_flight += delta
        peak = max(peak, in_flight)
    assert peak == 5


def test_all_at_once_queues_every_request_at_time_zero(chat_scenario):
    result = run(_scenario(chat_scenario, {"process": "all_at_once"}, num_requests=200)).deployments[0]
    assert (result.records["arrival_time_s"] == 0).all()
    assert result.summary.closed_loop is None
    assert result.summary.num_completed == 200


@pytest.mark.parametrize("arrival,workload,message", [
    ({"process": "concurrency", "users": 500}, {"num_requests": 100}, "exceeds num_requests"),
    ({"process": "concurrency", "users": 4}, {"num_requests": None, "horizon_s": 60}, "needs num_requests"),
    ({"process": "all_at_once"}, {"horizon_s": 60}, "no horizon_s"),
    ({"process": "concurrency", "users": 0}, {}, "users"),
    ({"process": "concurrency", "users": 4, "think_time_s": -1}, {}, "think_time_s"),
])
def test_bad_closed_loop_fields_are_one_line(chat_scenario, arrival, workload, message):
    chat_scenario["workload"].update(arrival=arrival, **workload)
    with pytest.raises(InputError) as info:
        validate_scenario(ScenarioSpec, chat_scenario, Path("scenario.yaml"))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_rate_searches_refuse_closed_loops(chat_scenario):
    from simulator.comparisons.compare import base_rate
    from simulator.comparisons.crossover import with_value
    spec = _scenario(chat_scenario, {"process": "concurrency", "users": 4})
    assert base_rate(spec) is None            # compare: no capacity search on a closed loop
    with pytest.raises(InputError, match="closed-loop"):
        with_value(spec, "rate_per_s", 2.0)
