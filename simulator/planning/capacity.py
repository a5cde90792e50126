"""One capacity definition, shared by `plan`, `compare`, `crossover` and the web page.

    capacity = the highest rate at which a run is stable and meets the SLO criterion,
               found by bracketing (x2 up from a passing rate, /4 down from a failing one)
               and geometric bisection to `tolerance`.

What a run at rate r is (`RunPolicy`, defaults in `catalog/engine_defaults.yaml`, section `capacity`):
at least the scenario's own request count and at least r x `min_arrival_s` of arrivals, so a probe
at a higher rate is never a shorter run; a run whose arrivals last less than `e2e_multiple` x its
p99 end-to-end latency is repeated once with more requests (`extended_requests`). `plan` also
excludes the first `warmup_fraction` of the arrival span from its percentiles (`steady_records`).

One pass criterion (`PassCriterion`), written here and nowhere else: a run passes when it is stable
and, for each target the question sets, meets it: a share of queries meeting every SLO (`compare`
sets the scenario's `target_attainment`), mean steady-state p99 TTFT / TPOT over the seeds (`plan`
sets its targets), nothing rejected or unfinished (`plan` requires it). A target the question does
not set is not checked. One search (`search_max_factor`) finds the highest passing rate; `describe`
words the definition for every output.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from simulator.specs.engine_spec import engine_defaults


@dataclass(frozen=True, slots=True)
class RunPolicy:
    min_arrival_s: float
    e2e_multiple: float
    max_extension: int
    warmup_fraction: float
    headroom: float

    def requests_at(self, base_requests: int, rate_per_s: float, cap: int | None = None,
                    base_arrival_s: float = 0.0) -> int:
        """Requests of a run at `rate_per_s`: the base count, or enough for `min_arrival_s` (or the
        scenario's own `base_arrival_s`, its horizon) of arrivals, whichever is more (at most `cap`
        beyond the base count; callers validate the result against the scenario's bounds)."""
        wanted = math.ceil(rate_per_s * max(self.min_arrival_s, base_arrival_s))
        return int(max(base_requests, wanted if cap is None else min(cap, wanted)))

    def extended_requests(self, requests: int, arrival_span_s: float, e2e_p99_s: float | None) -> int | None:
        """More requests when the arrivals lasted under `e2e_multiple` x p99 e2e (None: long enough)."""
        if e2e_p99_s is None or arrival_span_s <= 0 or arrival_span_s >= self.e2e_multiple * e2e_p99_s:
            return None
        factor = min(self.max_extension, math.ceil(self.e2e_multiple * e2e_p99_s / arrival_span_s))
        return requests * factor if factor > 1 else None

    def with_overrides(self, **changes) -> "RunPolicy":
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


@lru_cache(maxsize=1)
def default_policy() -> RunPolicy:
    data = engine_defaults()["capacity"]
    return RunPolicy(min_arrival_s=float(data["min_arrival_s"]), e2e_multiple=float(data["e2e_multiple"]),
                     max_extension=int(data["max_extension"]), warmup_fraction=float(data["warmup_fraction"]),
                     headroom=float(data["headroom"]))


def steady_records(records, warmup_fraction: float):
    """Records of requests that arrived after the first `warmup_fraction` of the arrival span."""
    arrivals = records["arrival_time_s"]
    if arrivals.empty or warmup_fraction <= 0:
        return records
    start, end = float(arrivals.min()), float(arrivals.max())
    return records[arrivals >= start + warmup_fraction * (end - start)]


def p99(values) -> float | None:
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    return float(np.percentile(data, 99)) if data.size else None


@dataclass(frozen=True, slots=True)
class RunVerdict:
    """What the criterion reads of a run (or of a point's runs over its seeds)."""

    stable: bool
    clean: bool = True                      # nothing rejected or unfinished
    slo_attainment: float | None = None     # share of queries meeting every SLO
    ttft_p99_s: float | None = None
    tpot_p99_s: float | None = None


@dataclass(frozen=True, slots=True)
class PassCriterion:
    """The one capacity criterion; each question sets the targets it asks about (None: not checked)."""

    min_attainment: float | None = None
    ttft_p99_s: float | None = None
    tpot_p99_s: float | None = None
    require_clean: bool = False

    def passes(self, run: RunVerdict) -> bool:
        if not run.stable or (self.require_clean and not run.clean):
            return False
        if self.min_attainment is not None and (run.slo_attainment or 0.0) < self.min_attainment:
            return False
        return _within(run.ttft_p99_s, self.ttft_p99_s) and _within(run.tpot_p99_s, self.tpot_p99_s)

    def text(self, over: str = "") -> str:
        """The criterion in words; `over` names what the p99s are averaged over."""
        parts = [f">= {self.min_attainment:.0%} of queries meet every SLO (TTFT, TPOT)"
                 if self.min_attainment is not None else None,
                 f"mean p99 TTFT <= {self.ttft_p99_s:g} s" if self.ttft_p99_s is not None else None,
                 f"mean p99 TPOT <= {self.tpot_p99_s * 1e3:g} ms" if self.tpot_p99_s is not None else None]
        text = " and ".join(p for p in parts if p)
        if over and (self.ttft_p99_s is not None or self.tpot_p99_s is not None):
            text += f" {over}"
        return text + (", nothing rejected or unfinished" if self.require_clean else "")


def _within(value: float | None, target: float | None) -> bool:
    return target is None or (value is not None and value <= target)


def search_max_factor(passes: Callable[[float], bool], start_passes: bool, max_steps: int, bisections: int,
                      down: bool = True) -> float:
    """Highest passing factor of the base rate (0.0 when none is found).

    `start_passes` is factor 1's verdict; bracketing doubles up to `max_steps` times (or, with `down`,
    quarters down), then `bisections` geometric bisections; one more when the bracket spans x4.
    A bracket never closed upwards returns the highest passing factor tried."""
    low, high = (1.0, None) if start_passes else (None, 1.0)
    for _ in range(max_steps):
        if low is not None and high is not None:
            break
        if high is None:
            candidate = low * 2
            low, high = (candidate, None) if passes(candidate) else (low, candidate)
        elif down:
            candidate = high / 4
            low, high = (candidate, high) if passes(candidate) else (None, candidate)
        else:
            break
    if low is None:
        return 0.0
    if high is None:
        return low
    for _ in range(bisections + (1 if high / low > 2 else 0)):
        middle = math.sqrt(low * high)
        low, high = (middle, high) if passes(middle) else (low, middle)
    return low


def bisections_for(tolerance: float) -> int:
    """Geometric bisections that shrink a factor-2 bracket to within `tolerance` (e.g. 1.1 -> 3)."""
    return max(0, math.ceil(math.log2(math.log(2) / math.log(tolerance))))


def describe(criterion: str, requests: str, seeds: int) -> str:
    """The capacity definition in one sentence, for every output that reports a capacity."""
    seed_text = f"{seeds} seed{'s' if seeds != 1 else ''}"
    return f"max rate: highest arrival rate at which {criterion} and the queue is stable; each run offers {requests}, " \
           f"{seed_text}"
