"""Model and hardware catalogs: data files with sources, their loaders, and name-or-path resolution.

`resolve_model("llama-3.1-8b")` returns the catalog entry; `resolve_model("./config.json")` imports a
Hugging Face config; `resolve_model("./my-model.yaml")` reads one entry in the catalog's format.
`resolve_hardware` does the same for accelerators (a YAML file may name a `base:` catalog entry and
override any field, which is how calibrated profiles are stored).
"""

from __future__ import annotations

import dataclasses

import functools
import json
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from simulator.catalog.rows import HardwareDefaults, HardwareRow, ModelRow
from simulator.errors import InputError, unknown_name_error
from simulator.costs.hardware import HardwareProfile
from simulator.costs.model import ModelSpec
from simulator.specs.paths import (PathKind, PathPolicy, as_policy, looks_like_path, read_text_file, read_user_text,
                             safe_token)
from simulator.specs.messages import validation_error_to_input_error
from simulator.specs.yamlio import load_yaml_text

CATALOG_DIR = Path(__file__).resolve().parent


def _read_yaml(path: Path, field: str | None = None) -> Any:
    """A YAML file, read as UTF-8 and parsed with the bounded loader (errors never quote the file)."""
    return load_yaml_text(read_text_file(path, field), str(path))


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


_HF_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")


def _refuse_hf_repo_id(value: str, field: str, policy: PathPolicy) -> None:
    """A Hugging Face repo id (`owner/name`, no such file) is refused with where to get its config: nothing
    is downloaded."""
    from simulator.specs.paths import path_state
    if not _HF_REPO_ID.fullmatch(value) or ".." in value or value.endswith((".json", ".yaml", ".yml", ".csv")):
        return
    candidates = [Path(value)] + ([policy.base_dir / value] if policy.base_dir is not None else [])
    if all(path_state(candidate) == "missing" for candidate in candidates):
        raise InputError(f"no such file or folder; {value!r} looks like a Hugging Face repo id, and ctxplan downloads "
                         f"nothing: download its config.json and pass the path "
                         f"(https://huggingface.co/{value}/resolve/main/config.json)", field=field)


def resolve_model(name_or_path: str, field: str = "model",
                  base_dir: Path | PathPolicy | None = None) -> ModelSpec:
    """A catalog model by name, or a model file: Hugging Face config.json (or its folder) or a catalog-format
    YAML entry. `base_dir` is the scenario's folder, or a `PathPolicy` (the service's opens no file)."""
    rows = _model_rows()
    key = name_or_path.strip().lower()
    if key in rows:
        return rows[key].to_spec()
    policy = as_policy(base_dir)
    policy.check(name_or_path, field, PathKind.MODEL)
    if not looks_like_path(name_or_path):
        raise unknown_name_error("model", name_or_path, rows, field)
    _refuse_hf_repo_id(name_or_path, field, policy)
    path, text = read_user_text(name_or_path, field, PathKind.MODEL, policy)
    if path.suffix == ".json":
        from simulator.catalog.hf_config import model_from_hf_config
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                             file=str(path)) from None
        except RecursionError:
            raise InputError("malformed JSON: nested too deep", file=str(path)) from None
        if not isinstance(config, dict):
            raise InputError("a Hugging Face config must be a JSON object", file=str(path))
        return model_from_hf_config(config, file=str(path))
    data = load_yaml_text(text, str(path))
    data = data.get("model", data) if isinstance(data, dict) else data
    if not isinstance(data, dict):
        raise InputError("a model file must be a YAML mapping", file=str(path))
    try:
        return ModelRow.model_validate(data).to_spec()
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, str(path), show_text=False) from None
    except ValueError as exc:
        raise InputError(str(exc), file=str(path)) from None


def resolve_hardware(name_or_path: str, field: str = "hardware",
                     base_dir: Path | PathPolicy | None = None) -> HardwareProfile:
    """A catalog accelerator by name, or a profile YAML (optionally `base: NAME` plus overrides).
    `base_dir` is the scenario's folder, or a `PathPolicy` (the service's opens no file)."""
    defaults, rows = _hardware_catalog()
    key = name_or_path.strip().lower()
    if key in rows:
        return dataclasses.replace(rows[key].to_profile(defaults), provenance=CATALOG_PROVENANCE)
    policy = as_policy(base_dir)
    policy.check(name_or_path, field, PathKind.HARDWARE)
    if not looks_like_path(name_or_path):
        raise unknown_name_error("hardware", name_or_path, rows, field)
    path, text = read_user_text(name_or_path, field, PathKind.HARDWARE, policy)
    return profile_from_mapping(load_yaml_text(text, str(path)), path.stem, str(path))


def profile_from_mapping(data: Any, default_name: str, file: str | None = None) -> HardwareProfile:
    """A hardware profile from a parsed profile document (optionally `base: NAME` plus overrides)."""
    defaults, rows = _hardware_catalog()
    if not isinstance(data, dict):
        raise InputError("a hardware profile must be a YAML mapping", file=file)
    inner = data.get("hardware", data)
    if not isinstance(inner, dict):
        raise InputError("must be a mapping of profile fields", field="hardware", value=safe_token(inner), file=file)
    data = dict(inner)
    base = data.pop("base", None)
    if base is not None:
        if str(base).lower() not in rows:
            if safe_token(base) is None:          # never quote text read from a file
                raise InputError("unknown hardware", field="base", allowed=", ".join(sorted(rows)), file=file)
            error = unknown_name_error("hardware", str(base), rows, "base")
            raise error.in_file(file) if file else error
        merged = rows[str(base).lower()].model_dump(exclude_none=True)
        if "memory_gb" in data and "memory_reported_gib" not in data:   # a new memory size replaces the base's
            merged.pop("memory_reported_gib", None)
            merged.pop("memory_reported_source", None)
        merged.update(data)
        data = merged
    data.setdefault("name", default_name)
    data.setdefault("source", f"profile {file or default_name}")
    calibration = data.get("calibration")
    if isinstance(calibration, dict) and str(calibration.get("device", "")).startswith("cpu"):
        data.setdefault("device_kind", "cpu")   # profiles calibrated before device_kind was written
    for ignored in ("calibration", "fit", "measurements"):
        data.pop(ignored, None)   # calibration metadata written beside the profile fields
    try:
        profile = HardwareRow.model_validate(data).to_profile(defaults)
    except ValidationError as exc:
        raise validation_error_to_input_error(exc, file, show_text=False) from None
    return dataclasses.replace(profile, provenance=profile_provenance(calibration, base, file or default_name))


CATALOG_PROVENANCE = ("datasheet default (catalog/hardware.yaml: datasheet peaks, one assumed set of efficiency "
                      "curves for every GPU)")


def profile_provenance(calibration: Any, base: Any, file: str) -> str:
    """Where a profile file's numbers come from: a calibration (device and date as it recorded them), or the
    user's file over a catalog base."""
    if isinstance(calibration, dict):
        device = _plain(calibration.get("device")) or "an unnamed device"
        date = _plain(calibration.get("date")) or "an unrecorded date"
        return f"calibrated on {device} at {date} (ctxplan calibrate; profile {_plain(Path(file).name)})"
    over = f" over catalog entry {_plain(base)}" if _plain(base) else ""
    return f"user profile {_plain(Path(file).name)}{over}"


def _plain(value: Any, limit: int = 80) -> str | None:
    """A short one-line printable rendering of a value read from a user's file, or None."""
    if value is None:
        return None
    text = "".join(ch for ch in str(value) if ch.isprintable()).strip()
    return text[:limit] or None
