"""The table of `ctxplan estimate`: every field of the estimate's JSON, in units people read.

Rows keep the JSON keys (so a row maps to `--format json`); values are formatted by the unit the key
names (STYLE: units are suffixes): `*bytes*` in binary sizes, `*_s` as durations, `*_per_s` as
rates, `*usd*` in dollars, token counts with separators, flags as yes/no, nothing as "-".
"""

from __future__ import annotations

from rich.table import Table

from api import units
from simulator.results.estimate_types import Estimate


def estimate_cell(key: str, value) -> str:
    """One value of the estimate as text, by the unit its key names."""
    if value is None:
        return units.MISSING
    if isinstance(value, bool):
        return units.yes_no(value)
    if isinstance(value, dict):          # `needs`: a GPU layout
        return (f"tp {value['tensor_parallel']} x cp {value['context_parallel']} x pp "
                f"{value['pipeline_parallel']} = {units.count(value['num_gpus'])} GPUs")
    if isinstance(value, str):
        return value
    if "usd" in key:
        return units.usd(value)
    if "bytes" in key:
        return units.size_bytes(value)
    if key.endswith("_per_s"):
        return f"{units.rate(value)}/s"
    if key.endswith("_s"):
        return units.duration(value)
    return units.count(value) if isinstance(value, int) else units.rate(value)


def _rows(data: dict):
    """(row label, text) for every key of the estimate's JSON, nested attention fields flattened."""
    for key, value in data.items():
        if key == "attention":
            for impl, fields in value.items():
                for name, item in fields.items():
                    yield f"attention.{impl}.{name}", estimate_cell(name, item)
        elif key in ("model_notes", "hardware_notes"):
            for note in value:
                yield key.removesuffix("s"), note
        else:
            yield key, estimate_cell(key, value)


def estimate_table(result: Estimate) -> Table:
    """`simulator.results.estimate.estimate`'s result as a two-column table (field, value)."""
    verdict = "fits" if result.fits else f"does not fit: {result.limited_by}"
    table = Table(title=f"estimate: {result.model} on {result.hardware} x{result.num_gpus} ({verdict})")
    table.add_column("field", style="bold")
    table.add_column("value", justify="right")
    for key, text in _rows(result.to_json_dict()):     # labelled by JSON key, so a row maps to --format json
        table.add_row(key, text)
    return table
