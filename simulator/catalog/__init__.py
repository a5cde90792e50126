"""Model and hardware catalogs: data files with sources, their loaders, and name-or-path resolution.

`resolve_model("llama-3.1-8b")` returns the catalog entry; `resolve_model("./config.json")` imports a
Hugging Face config; `resolve_model("./my-model.yaml")` reads one entry in the catalog's format.
`resolve_hardware` does the same for accelerators (a YAML file may name a `base:` catalog entry and
override any field, which is how calibrated profiles are stored).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from simulator.catalog.rows import HardwareDefaults, HardwareRow, ModelRow
from simulator.errors import InputError, unknown_name_error
from simulator.hardware import HardwareProfile
from simulator.model import ModelSpec

CATALOG_DIR = Path(__file__).resolve().parent


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError("file not found", file=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise InputError(f"{where}malformed YAML: {getattr(exc, 'problem', exc)}", file=str(path)) from None


def validation_error_to_input_error(exc: ValidationError, file: str | None, prefix: str = "") -> InputError:
    """First pydantic error as one `InputError` line: dotted field path, value, and the rule."""
    err = exc.errors()[0]
    field = ""
    for part in (prefix, *err["loc"]):
        if isinstance(part, int):
            field += f"[{part}]"
        elif part != "":
            field += f".{part}" if field else str(part)
    value = err.get("input")
    show_value = value if isinstance(value, (int, float, str, bool)) or value is None else None
    message = err["msg"]
    extra = f" (and {exc.error_count() - 1} more error(s))" if exc.error_count() > 1 else ""
    return InputError(message + extra, field=field or None, value=show_value, file=file)


@functools.lru_cache(maxsize=1)
def _model_rows() -> dict[str, ModelRow]:
    data = _read_yaml(CATALOG_DIR / "models.yaml")
    return {row["name"]: ModelRow.model_validate(row) for row in data["models"]}


@functools.lru_cache(maxsize=1)
def _hardware_catalog() -> tuple[HardwareDefaults, dict[str, HardwareRow]]:
    data = _read_yaml(CATALOG_DIR / "hardware.yaml")
    defaults = HardwareDefaults.model_validate(data["defaults"])
    return defaults, {row["name"]: HardwareRow.model_validate(row) for row in data["hardware"]}


def model_names() -> list[str]:
    return list(_model_rows())


def hardware_names() -> list[str]:
    return list(_hardware_catalog()[1])


def model_rows() -> list[ModelRow]:
    return list(_model_rows().values())


def hardware_rows() -> list[HardwareRow]:
    return list(_hardware_catalog()[1].values())


def hardware_defaults() -> HardwareDefaults:
    return _hardware_catalog()[0]


def _looks_like_path(value: str) -> bool:
    return "/" in value or value.endswith((".yaml", ".yml", ".json"))


def resolve_model(name_or_path: str, field: str = "model", base_dir: Path | None = None) -> ModelSpec:
    """A catalog model by name, or a model file: Hugging Face config.json or a catalog-format YAML entry."""
    rows = _model_rows()
    key = name_or_path.strip().lower()
    if key in rows:
        return rows[key].to_spec()
    if not _looks_like_path(name_or_path):
        raise unknown_name_error("model", name_or_path, rows, field)
    path = _resolve_path(name_or_path, base_dir)
    if path.suffix == ".json":
        from simulator.catalog.hf_config import model_from_hf_config
        try:
            config = json.loads(path.read_text())
        except FileNotFoundError:
            raise InputError("file not found", field=field, file=str(path)) from None
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON at line {exc.lineno}: {exc.msg}", file=str(path)) from None
        return model_from_hf_config(config, name=path.parent.name or path.stem, file=str(path))
    data = _read_yaml(path)
    data = data.get("model", data) if isinstance(data, dict) else data
    try:
        return ModelRow.model_validate(data).to_spec()
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, str(path)) from None
    except ValueError as exc:
        raise InputError(str(exc), file=str(path)) from None


def resolve_hardware(name_or_path: str, field: str = "hardware", base_dir: Path | None = None) -> HardwareProfile:
    """A catalog accelerator by name, or a profile YAML (optionally `base: NAME` plus overrides)."""
    defaults, rows = _hardware_catalog()
    key = name_or_path.strip().lower()
    if key in rows:
        return rows[key].to_profile(defaults)
    if not _looks_like_path(name_or_path):
        raise unknown_name_error("hardware", name_or_path, rows, field)
    path = _resolve_path(name_or_path, base_dir)
    return profile_from_mapping(_read_yaml(path), path.stem, str(path))


def profile_from_mapping(data: Any, default_name: str, file: str | None = None) -> HardwareProfile:
    """A hardware profile from a parsed profile document (optionally `base: NAME` plus overrides)."""
    defaults, rows = _hardware_catalog()
    if not isinstance(data, dict):
        raise InputError("a hardware profile must be a YAML mapping", file=file)
    data = dict(data.get("hardware", data))
    base = data.pop("base", None)
    if base is not None:
        if str(base).lower() not in rows:
            error = unknown_name_error("hardware", str(base), rows, "base")
            raise error.in_file(file) if file else error
        merged = rows[str(base).lower()].model_dump(exclude_none=True)
        merged.update(data)
        data = merged
    data.setdefault("name", default_name)
    data.setdefault("source", f"profile {file or default_name}")
    for ignored in ("calibration", "fit", "measurements"):
        data.pop(ignored, None)   # calibration metadata written beside the profile fields
    try:
        return HardwareRow.model_validate(data).to_profile(defaults)
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, file) from None


def _resolve_path(value: str, base_dir: Path | None) -> Path:
    path = Path(value).expanduser()
    if not path.is_absolute() and base_dir is not None and not path.exists():
        candidate = base_dir / path
        if candidate.exists():
            return candidate
    return path
