"""Load either kind of scenario file: serving scenarios (`workload:`) or comparisons (`queries:` or
`conversations:` over a `corpus:`)."""

from __future__ import annotations

from pathlib import Path

from simulator.specs.comparison import ComparisonSpec
from simulator.specs.scenario import ScenarioSpec, read_scenario_mapping, validate_scenario


def is_comparison(data: dict) -> bool:
    return any(key in data for key in ("queries", "conversations", "corpus"))


def load_any_scenario(path: str | Path) -> tuple[ScenarioSpec | ComparisonSpec, Path]:
    path = Path(path)
    data = read_scenario_mapping(path)
    return validate_scenario(ComparisonSpec if is_comparison(data) else ScenarioSpec, data, path)
