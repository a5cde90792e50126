"""Load either kind of scenario file: serving scenarios (`workload:`) or comparisons (`queries:` or
`conversations:` over a `corpus:`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from simulator.catalog import _read_yaml, validation_error_to_input_error
from simulator.comparison_spec import ComparisonSpec
from simulator.errors import InputError
from simulator.scenario import ScenarioSpec, load_scenario


def is_comparison(data: dict) -> bool:
    return any(key in data for key in ("queries", "conversations", "corpus"))


def load_any_scenario(path: str | Path) -> tuple[ScenarioSpec | ComparisonSpec, Path]:
    path = Path(path)
    if not path.is_file():
        raise InputError("scenario file not found", file=str(path))
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise InputError("a scenario must be a YAML mapping", file=str(path))
    if not is_comparison(data):
        return load_scenario(path)
    try:
        return ComparisonSpec.model_validate(data), path.resolve().parent
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, str(path)) from None
