"""Crossover analysis: vary one scenario parameter and find where the cheapest deployment changes.

    ctxplan crossover SCENARIO --vary document_tokens=8k..1M

The parameter is swept on a geometric grid; wherever the cheapest deployment differs between two
neighbouring points, the switch is located by geometric bisection. Cost is compared on the metric
`compare` ranks by (`compare.COST_METRIC`: all-in $ per answered query) unless another per-query
cost column is chosen (`busy_cost_per_query_usd`: only the device time queries use, as a
right-sized fleet would pay; `cost_per_correct_answer_usd`); the result names it. A deployment
that answers no query costs infinity.
"""

from __future__ import annotations

import math
import re

import numpy as np

from simulator.comparisons.compare import COST_METRIC, compare
from simulator.specs.comparison import ComparisonSpec
from simulator.specs.edit import edit
from simulator.errors import InputError
from simulator.specs.scenario import ConstantLength, TraceArrivals

VARIABLES = ("document_tokens", "rate_per_s", "num_documents")
METRICS = {"cost_per_query_usd": COST_METRIC[1],
           "busy_cost_per_query_usd": "$ per answered query counting only the GPU time the queries keep busy",
           "cost_per_correct_answer_usd": "all-in $ per answered query divided by the expected accuracy"}
SUFFIXES = {"": 1, "k": 1_000, "m": 1_000_000}
REFINE_STEPS = 5


def parse_vary(text: str) -> tuple[str, float, float]:
    match = re.fullmatch(r"\s*(\w+)\s*=\s*([\d.]+)([kKmM]?)\s*\.\.\s*([\d.]+)([kKmM]?)\s*", text)
    if not match:
        raise InputError("expected NAME=LOW..HIGH, e.g. document_tokens=8k..1M", field="--vary", value=text)
    name = match.group(1)
    if name not in VARIABLES:
        raise InputError("unknown variable", field="--vary", value=name, allowed=", ".join(VARIABLES))
    low = float(match.group(2)) * SUFFIXES[match.group(3).lower()]
    high = float(match.group(4)) * SUFFIXES[match.group(5).lower()]
    if not 0 < low < high:
        raise InputError("need 0 < LOW < HIGH", field="--vary", value=text)
    # "1K tokens" is 1,000 here; use exact numbers for powers of two
    return name, low, high


def with_value(spec, name: str, value: float):
    """The scenario with crossover variable `name` (one of VARIABLES) at `value`."""
    if name == "rate_per_s":
        block_key = "queries" if isinstance(spec, ComparisonSpec) and spec.queries else (
            "conversations" if isinstance(spec, ComparisonSpec) else "workload")
        if isinstance(getattr(spec, block_key).arrival, TraceArrivals):
            raise InputError("cannot vary the rate of a trace; use time_scale in the file", field="--vary")
        if not hasattr(getattr(spec, block_key).arrival, "rate_per_s"):
            raise InputError("cannot vary the rate of a closed-loop or all-at-once workload", field="--vary",
                             value=getattr(spec, block_key).arrival.process, allowed="poisson, gamma, constant")
        return edit(spec, f"{block_key}.arrival.rate_per_s", value)
    if not isinstance(spec, ComparisonSpec) or spec.corpus is None:
        raise InputError(f"{name} needs a scenario with a corpus", field="--vary", value=name)
    if name == "document_tokens":
        return edit(spec, "corpus.document_tokens", ConstantLength(dist="constant", value=int(value)))
    return edit(spec, "corpus.num_documents", max(1, int(round(value))))


def _costs(spec, base_dir, metric: str) -> dict[str, float]:
    result = compare(spec, base_dir, search_capacity=False)
    costs = {r.name: getattr(r, metric) for r in result.deployments}     # metric: a column of METRICS
    return {name: math.inf if cost is None else cost for name, cost in costs.items()}


def _cheapest(costs: dict[str, float]) -> str:
    return min(costs, key=lambda name: (costs[name], name))


def crossover(spec, name: str, low: float, high: float, points: int = 7, metric: str = COST_METRIC[0],
              base_dir=None, progress=None) -> dict:
    """`progress(fraction, message)` hears of each grid point (refinement counts as the last tenth)."""
    if metric not in METRICS:
        raise InputError("unknown metric", field="--metric", value=metric, allowed=", ".join(METRICS))
    grid = np.geomspace(low, high, points)
    rows = []
    for i, value in enumerate(grid.tolist()):
        if progress:
            progress(0.9 * i / points, f"{name} = {value:,.4g} ({i + 1} of {points})")
        costs = _costs(with_value(spec, name, value), base_dir, metric)
        rows.append({"value": value, "costs": costs, "cheapest": _cheapest(costs)})
    switches = []
    for before, after in zip(rows, rows[1:]):
        if before["cheapest"] == after["cheapest"]:
            continue
        lo, hi = before["value"], after["value"]
        if progress:
            progress(0.9, f"locating the switch {before['cheapest']} -> {after['cheapest']}")
        for _ in range(REFINE_STEPS):
            middle = math.sqrt(lo * hi)
            if _cheapest(_costs(with_value(spec, name, middle), base_dir, metric)) == before["cheapest"]:
                lo = middle
            else:
                hi = middle
        switches.append({"from": before["cheapest"], "to": after["cheapest"], "value": math.sqrt(lo * hi),
                         "between": [before["value"], after["value"]]})
    return {"scenario": spec.name, "variable": name, "metric": metric, "metric_description": METRICS[metric],
            "rows": rows, "crossovers": switches}
