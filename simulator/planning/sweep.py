"""Sweeps: one scenario, some fields varied over lists or ranges, every point simulated.

    --param workload.arrival.rate_per_s=2,4,8          a list (YAML scalars)
    --param deployments.0.replicas=1..4                 an integer range (inclusive), step 1
    --param deployments.rag.retrieval.top_k=4..32:4     a range with a step
    --param corpus.document_tokens=log:8000..1000000:6  log-spaced (integers when the ends are)

A path walks the scenario mapping (`simulator.specs.edit`); a list is indexed by position or by an item's `name`. Several
params make a grid (their cartesian product). Each point is validated before any simulation runs,
then simulated with the scenario's own seed (common random numbers across points) by
`simulator.planning.executor`; the result is a tidy table, one row per point and deployment.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from simulator.specs.comparison import ComparisonSpec
from simulator.catalog import validation_error_to_input_error
from simulator.errors import InputError
from simulator.planning.executor import run_tasks
from simulator.results.types import ComparisonRow, ServingComparisonRow, SweepRow
from simulator.specs.edit import edit_many
from simulator.specs.scenario import ScenarioSpec
from simulator.specs.files import is_comparison
from simulator.specs.yamlio import load_yaml_text

MAX_POINTS = 10_000


class NumberRange(Sequence):
    """The values of `LOW..HIGH[:STEP]` or `log:LOW..HIGH:COUNT`, computed on access (never a list).

    len() is the count, found arithmetically; item i is `low + i*step` (or `low * (high/low)**(i/(count-1))`
    for log ranges), rounded to int when the range is integral, exactly as the list used to hold.
    """
    __slots__ = ("low", "high", "step", "count", "log", "integral")

    def __init__(self, low: float, high: float, step: float, count: int, log: bool, integral: bool) -> None:
        self.low, self.high, self.step, self.count, self.log, self.integral = low, high, step, count, log, integral

    def __len__(self) -> int:
        return self.count

    def _value(self, i: int):
        if self.log:
            value = self.low * (self.high / self.low) ** (i / (self.count - 1))
        else:
            value = self.low + i * self.step
        return int(round(value)) if self.integral else value

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._value(i) for i in range(*index.indices(self.count))]
        if index < 0:
            index += self.count
        if not 0 <= index < self.count:
            raise IndexError(index)
        return self._value(index)

    def __eq__(self, other) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return f"NumberRange({list(self[:3])}..., count={self.count})"


def _scalar(text: str, field: str):
    try:
        value = load_yaml_text(text, None, max_depth=16, max_bytes=100_000)
    except InputError as exc:
        raise InputError(exc.detail, field=field) from None
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError("not a finite number", field=field, value=text)
    return value if value is not None else text


def _too_many(count: float, field: str, text: str) -> InputError:
    shown = f"{count:,.0f}" if math.isfinite(count) else "unboundedly many"
    return InputError(f"{shown} values in one range", field=field, value=text[:80],
                      allowed=f"at most {MAX_POINTS:,} points per sweep")


def parse_values(text: str, field: str) -> Sequence:
    """A list of YAML scalars, or a lazy `NumberRange`; a range longer than MAX_POINTS is refused at once."""
    text = text.strip()
    log = text.startswith("log:")
    body = text[4:] if log else text
    if ".." not in body:
        values = [_scalar(v, field) for v in body.split(",") if v.strip()]
        if not values:
            raise InputError("no values", field=field, value=text)
        if len(values) > MAX_POINTS:
            raise _too_many(len(values), field, text)
        return values
    span, _, step = body.partition(":")
    low_text, _, high_text = span.partition("..")
    try:
        low, high = float(low_text), float(high_text)
        step_value = float(step) if step else None
    except ValueError:
        raise InputError("expected LOW..HIGH[:STEP] or log:LOW..HIGH:COUNT", field=field, value=text) from None
    if not all(math.isfinite(v) for v in (low, high, step_value or 1.0)):
        raise InputError("range ends and step must be finite numbers", field=field, value=text)
    integral = all("." not in t and "e" not in t.lower() for t in (low_text, high_text))
    if log:
        if step_value is not None and step_value > MAX_POINTS:
            raise _too_many(step_value, field, text)
        count = 5 if step_value is None else int(step_value)
        if low <= 0 or high <= low or count < 2:
            raise InputError("log ranges need 0 < LOW < HIGH and COUNT >= 2", field=field, value=text)
        return NumberRange(low, high, 0.0, count, True, integral)
    step_value = 1.0 if step_value is None else step_value
    if high < low or step_value <= 0:
        raise InputError("ranges need LOW <= HIGH and STEP > 0", field=field, value=text)
    steps = (high - low) / step_value          # may be inf (1..1e308:1e-300): refused before floor()
    if not math.isfinite(steps) or steps + 1 > MAX_POINTS:
        raise _too_many(steps + 1, field, text)
    count = int(math.floor(steps + 1e-9)) + 1
    return NumberRange(low, high, step_value, count, False, integral and float(step_value).is_integer())


def parse_param(text: str) -> tuple[str, Sequence]:
    path, sep, values = text.partition("=")
    if not sep or not path.strip():
        raise InputError("expected PATH=VALUES", field="param", value=text,
                         allowed="e.g. workload.arrival.rate_per_s=1,2,4 or deployments.0.replicas=1..4")
    return path.strip(), parse_values(values, path.strip())


def validate_point(doc: dict) -> ScenarioSpec | ComparisonSpec:
    model = ComparisonSpec if is_comparison(doc) else ScenarioSpec
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, None) from None


def count_points(params: list[tuple[str, Sequence]]) -> int:
    """Points of the grid, from the lengths alone (no point is built)."""
    return math.prod(len(values) for _, values in params)


def check_points(params: list[tuple[str, Sequence]]) -> int:
    size = count_points(params)
    if size > MAX_POINTS:
        raise InputError(f"{size:,} points", field="param", allowed=f"at most {MAX_POINTS:,} points per sweep")
    return size


def iter_points(doc: dict, params: list[tuple[str, Sequence]]):
    """(assignments, scenario mapping, validated spec) for every point of the grid, one at a time,
    after the point count is checked."""
    check_points(params)
    for combo in itertools.product(*(values for _, values in params)):
        assignments = dict(zip((path for path, _ in params), combo))
        point = edit_many(doc, assignments)          # a copy along each path; `doc` is never changed
        try:
            spec = validate_point(point)
        except InputError as exc:
            raise InputError(f"point {assignments}: {exc}") from None
        yield assignments, point, spec


def expand(doc: dict, params: list[tuple[str, Sequence]]) -> list[tuple[dict, dict]]:
    """(assignments, scenario mapping) for every point of the grid, each validated."""
    return [(assignments, point) for assignments, point, _ in iter_points(doc, params)]


def evaluate_point(doc: dict, base_dir: str | None) -> list[ComparisonRow | ServingComparisonRow]:
    """Simulate one point: one comparison row per deployment (module level: runs in worker processes)."""
    from simulator.comparisons.compare import compare
    spec = validate_point(doc)
    return compare(spec, Path(base_dir) if base_dir else None, search_capacity=False).deployments


def sweep_row(point: int, assignments: dict, d: ComparisonRow | ServingComparisonRow) -> SweepRow:
    """One row of the sweep table: the point, its swept values (extra columns), the deployment's metrics."""
    return SweepRow(point=point, **assignments, deployment=d.name, kind=d.kind, model=d.model, hardware=d.hardware,
                    hardware_provenance=d.hardware_provenance, ttft_p50_s=d.ttft_s.p50, ttft_p99_s=d.ttft_s.p99, tpot_p50_s=d.tpot_s.p50,
                    tpot_p99_s=d.tpot_s.p99, e2e_p50_s=d.e2e_s.p50, e2e_p99_s=d.e2e_s.p99,
                    cost_per_query_usd=d.cost_per_query_usd, slo_attainment=d.slo_attainment, stable=d.stable,
                    expected_accuracy=d.expected_accuracy, num_gpus=d.num_gpus,
                    cost_per_month_usd=d.cost_per_month_usd, kv_cache_peak_utilization=d.kv_cache_peak_utilization,
                    num_refused=d.num_refused)


def sweep_rows(doc: dict, base_dir: Path | None, params: list[tuple[str, list]], workers: int | None = None,
               ray_address: str | None = None, progress=None) -> list[SweepRow]:
    points = expand(doc, params)
    tasks = [(point, str(base_dir) if base_dir else None) for _, point in points]
    results = run_tasks(evaluate_point, tasks, workers=workers, ray_address=ray_address, progress=progress)
    return [sweep_row(index, assignments, d)
            for index, ((assignments, _), deployments) in enumerate(zip(points, results)) for d in deployments]


def sweep(doc: dict, base_dir: Path | None, params: list[tuple[str, list]], workers: int | None = None,
          ray_address: str | None = None, progress=None) -> pd.DataFrame:
    """The sweep as a table (Parquet, CSV, plots): `sweep_rows`, one column per key of a row's JSON."""
    rows = sweep_rows(doc, base_dir, params, workers, ray_address, progress)
    return pd.DataFrame([row.model_dump() for row in rows])
